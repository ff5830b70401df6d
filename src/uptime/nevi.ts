// NEVI uptime, 23 CFR 680.116(b)(3): μ = ((525600 − (T_outage − T_excluded)) / 525600) × 100, per port,
// computed monthly over the trailing twelve months; plus the same shape for any chosen period (with that
// period's own length in minutes). Pure interval arithmetic over outages and excluded intervals, in UTC.
import { DateTime, Interval as LuxonInterval } from 'luxon';

export const MINUTES_PER_YEAR = 525_600;
export const MINUTE_MS = 60_000;

export interface Interval {
  from: number;
  to: number;
}

/** Sorted, non-overlapping union of intervals. */
export function union(intervals: Interval[]): Interval[] {
  const sorted = intervals.filter((i) => i.to > i.from).sort((a, b) => a.from - b.from);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.from <= last.to) last.to = Math.max(last.to, i.to);
    else out.push({ from: i.from, to: i.to });
  }
  return out;
}

/** Intersection of two unions (each sorted and disjoint). */
export function intersect(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const from = Math.max(a[i]!.from, b[j]!.from);
    const to = Math.min(a[i]!.to, b[j]!.to);
    if (to > from) out.push({ from, to });
    if (a[i]!.to < b[j]!.to) i++;
    else j++;
  }
  return out;
}

export function subtract(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const x of a) {
    let pieces: Interval[] = [{ ...x }];
    for (const y of b) {
      pieces = pieces.flatMap((p) => {
        if (y.to <= p.from || y.from >= p.to) return [p];
        const parts: Interval[] = [];
        if (y.from > p.from) parts.push({ from: p.from, to: y.from });
        if (y.to < p.to) parts.push({ from: y.to, to: p.to });
        return parts;
      });
    }
    out.push(...pieces);
  }
  return out;
}

export function measureMs(intervals: Interval[]): number {
  return union(intervals).reduce((sum, i) => sum + (i.to - i.from), 0);
}

export interface UptimeFigure {
  from: Date;
  to: Date;
  /** Minutes the formula divides by: 525600 for a NEVI trailing year, else the period's own length. */
  baseMinutes: number;
  outageMinutes: number;
  excludedMinutes: number;
  uptime: number;
}

/** T_outage and T_excluded over a window; exclusions count only where they overlap an outage. */
export function uptimeOver(
  outages: Interval[],
  exclusions: Interval[],
  window: Interval,
  baseMinutes = (window.to - window.from) / MINUTE_MS,
): UptimeFigure {
  const down = intersect(union(outages), [window]);
  const excluded = intersect(down, union(exclusions));
  const outageMinutes = measureMs(down) / MINUTE_MS;
  const excludedMinutes = measureMs(excluded) / MINUTE_MS;
  return {
    from: new Date(window.from),
    to: new Date(window.to),
    baseMinutes,
    outageMinutes,
    excludedMinutes,
    uptime: neviUptime(outageMinutes, excludedMinutes, baseMinutes),
  };
}

export function neviUptime(outageMinutes: number, excludedMinutes: number, baseMinutes = MINUTES_PER_YEAR): number {
  return ((baseMinutes - (outageMinutes - excludedMinutes)) / baseMinutes) * 100;
}

/** The trailing twelve months ending with the given month (1–12), in UTC: [first of month−11, first of month+1). */
export function trailingTwelveMonths(year: number, month: number): Interval {
  return { from: Date.UTC(year, month - 12, 1), to: Date.UTC(year, month, 1) };
}

export function monthWindow(year: number, month: number): Interval {
  return { from: Date.UTC(year, month - 1, 1), to: Date.UTC(year, month, 1) };
}

/** NEVI uptime for the month: the trailing year ending with it, divided by the rule's fixed 525600 minutes. */
export function monthlyNeviUptime(
  outages: Interval[],
  exclusions: Interval[],
  year: number,
  month: number,
): UptimeFigure {
  return uptimeOver(outages, exclusions, trailingTwelveMonths(year, month), MINUTES_PER_YEAR);
}

export const UPTIME_TARGET = 97;

// ---- published opening hours ------------------------------------------------------------------------------

/** One opening span on a weekday (1 = Monday … 7 = Sunday, ISO), local wall-clock times "HH:MM"; close "24:00" allowed. */
export interface OpeningSpan {
  day: number;
  open: string;
  close: string;
}

/**
 * The instants inside `window` when a station with these published hours (in its IANA time zone) is closed.
 * Outage minutes there are excluded (EV-ChART reason 6). Daylight-saving changes are handled by luxon, which
 * uses the platform's time-zone database, so "08:00" stays 08:00 local all year.
 */
export function closedIntervals(spans: OpeningSpan[], timeZone: string, window: Interval): Interval[] {
  if (spans.length === 0) return [];
  const open: Interval[] = [];
  let day = DateTime.fromMillis(window.from, { zone: timeZone }).startOf('day').minus({ days: 1 });
  if (!day.isValid) throw new Error(`unknown time zone ${timeZone}`);
  const end = DateTime.fromMillis(window.to, { zone: timeZone }).endOf('day');
  while (day < end) {
    for (const span of spans) {
      if (span.day !== day.weekday) continue;
      const from = atLocalTime(day, span.open);
      const to = atLocalTime(day, span.close);
      const i = LuxonInterval.fromDateTimes(from, to);
      if (i.isValid) open.push({ from: from.toMillis(), to: to.toMillis() });
    }
    day = day.plus({ days: 1 });
  }
  return subtract([window], union(open));
}

function atLocalTime(day: DateTime, hhmm: string): DateTime {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  if (h === 24) return day.plus({ days: 1 }).startOf('day');
  return day.set({ hour: h, minute: m, second: 0, millisecond: 0 });
}

export function isValidTimeZone(zone: string): boolean {
  return DateTime.now().setZone(zone).isValid;
}
