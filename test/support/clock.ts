// A clock a test sets and moves by hand: the server under test reads it instead of the system clock.
import type { Clock } from '../../src/time/clock.ts';

export class TestClock implements Clock {
  private at: number;

  constructor(start: Date | string) {
    this.at = new Date(start).getTime();
    if (Number.isNaN(this.at)) throw new Error(`not an instant: ${String(start)}`);
  }

  now(): number {
    return this.at;
  }

  set(to: Date | string): void {
    this.at = new Date(to).getTime();
  }

  advance(ms: number): void {
    this.at += ms;
  }
}
