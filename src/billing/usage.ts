// What a session consumed, as the pricing engine reads it: when it started and ended, the energy register over
// time, optional power and current samples, and its state timeline (charging, or connected but idle).
// Built from the database by cdr-builder.ts; built by hand in tests.
import { Dec } from './money.ts';

export type UsageState = 'charging' | 'idle';

export interface SessionUsage {
  startedAt: Date;
  endedAt: Date;
  /** IANA time zone of the location: restrictions on time of day, weekday and date are local. */
  timeZone: string;
  /** Energy register readings in Wh (any order); the session's energy is their change. */
  energy: { at: Date; wh: number }[];
  /** Active power samples, W (sample-and-hold). */
  power?: { at: Date; w: number }[];
  /** Current samples summed over phases, A (sample-and-hold). */
  current?: { at: Date; a: number }[];
  /** State changes in time order; before the first one the session is charging. */
  states: { at: Date; state: UsageState }[];
}

/** The energy register as a function of time: linear between readings, flat before the first and after the last. */
export class EnergyCurve {
  private readonly points: { t: number; wh: Dec }[];

  constructor(readings: { at: Date; wh: number }[]) {
    const sorted = readings
      .filter((r) => Number.isFinite(r.wh))
      .map((r) => ({ t: r.at.getTime(), wh: new Dec(String(r.wh)) }))
      .sort((a, b) => a.t - b.t || a.wh.comparedTo(b.wh));
    // A register never runs backwards within a session: a lower later reading (meter glitch) is held at the max.
    let max: Dec | undefined;
    this.points = sorted.map((p) => {
      max = max === undefined || p.wh.gt(max) ? p.wh : max;
      return { t: p.t, wh: max };
    });
  }

  get times(): number[] {
    return this.points.map((p) => p.t);
  }

  at(t: number): Dec {
    const pts = this.points;
    if (pts.length === 0) return new Dec(0);
    if (t <= pts[0]!.t) return pts[0]!.wh;
    const last = pts[pts.length - 1]!;
    if (t >= last.t) return last.wh;
    let lo = 0;
    let hi = pts.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (pts[mid]!.t <= t) lo = mid;
      else hi = mid;
    }
    const a = pts[lo]!;
    const b = pts[hi]!;
    if (b.t === a.t) return b.wh;
    return a.wh.plus(
      b.wh
        .minus(a.wh)
        .times(t - a.t)
        .div(b.t - a.t),
    );
  }

  /** The first instant (whole ms, rounded up) at or after `from` when the register reaches `target`, if it does. */
  reaches(target: Dec, from: number): number | undefined {
    if (this.at(from).gte(target)) return from;
    const pts = this.points;
    for (let i = 1; i < pts.length; i++) {
      const a = pts[i - 1]!;
      const b = pts[i]!;
      if (b.t <= from || b.wh.lt(target)) continue;
      if (a.wh.gte(target)) return Math.max(a.t, from);
      const t = new Dec(a.t).plus(
        target
          .minus(a.wh)
          .times(b.t - a.t)
          .div(b.wh.minus(a.wh)),
      );
      return Math.max(from, t.ceil().toNumber());
    }
    return undefined;
  }
}

/** The last sample at or before an instant (sample-and-hold), if any. */
export function heldValue(samples: { t: number; v: number }[], t: number): number | undefined {
  let value: number | undefined;
  for (const s of samples) {
    if (s.t > t) break;
    value = s.v;
  }
  return value;
}
