// A clock a test sets and moves by hand, injected into OpenCPO so that nothing a test checks depends on the date.
export class TestClock {
  private ms: number;

  constructor(start: string) {
    this.ms = Date.parse(start);
  }

  /** The injected clock: what OpenCPO takes for "now". */
  readonly now = (): Date => new Date(this.ms);

  advance(ms: number): void {
    this.ms += ms;
  }

  /** The time now (or `offsetMs` from now) as OCPP writes it. */
  iso(offsetMs = 0): string {
    return new Date(this.ms + offsetMs).toISOString();
  }
}

export const MINUTE = 60_000;
