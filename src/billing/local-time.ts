// Local wall-clock time of an instant in an IANA time zone, and back, through Intl (the ICU data Node ships):
// tariff restrictions speak the location's local time ("after 18:00", "on Sundays") while instants are UTC.
import type { DayOfWeek } from './tariff.ts';

export interface LocalParts {
  /** "YYYY-MM-DD" */
  date: string;
  /** Minutes since local midnight, 0..1439. */
  minuteOfDay: number;
  dayOfWeek: DayOfWeek;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const DAY: Record<string, DayOfWeek> = {
  Mon: 'MONDAY',
  Tue: 'TUESDAY',
  Wed: 'WEDNESDAY',
  Thu: 'THURSDAY',
  Fri: 'FRIDAY',
  Sat: 'SATURDAY',
  Sun: 'SUNDAY',
};

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Throws a RangeError for a time zone ICU does not know. */
export function assertTimeZone(timeZone: string): void {
  formatter(timeZone);
}

function parts(ms: number, timeZone: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) out[p.type] = p.value;
  return out;
}

export function localParts(ms: number, timeZone: string): LocalParts {
  const p = parts(ms, timeZone);
  return {
    date: `${p.year}-${p.month}-${p.day}`,
    minuteOfDay: Number(p.hour) * 60 + Number(p.minute),
    dayOfWeek: DAY[p.weekday!]!,
  };
}

/** The zone's offset from UTC at an instant, ms (e.g. +3 600 000 for CET). */
function offsetAt(ms: number, timeZone: string): number {
  const p = parts(ms, timeZone);
  const asUtc = Date.UTC(+p.year!, +p.month! - 1, +p.day!, +p.hour!, +p.minute!, +p.second!);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** Local (date, minute) as one comparable number. */
function localKey(ms: number, timeZone: string): number {
  const p = localParts(ms, timeZone);
  const [y, m, d] = p.date.split('-').map(Number) as [number, number, number];
  return Date.UTC(y, m - 1, d) / 60_000 + p.minuteOfDay;
}

/**
 * Every instant at which the local clock shows a date and minute of day: usually one; two when a DST fall-back
 * repeats the hour; and for a time skipped by a DST jump, the instant the clock jumps past it (when a restriction
 * starting then takes effect).
 */
export function localInstants(date: string, minuteOfDay: number, timeZone: string): number[] {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const wall = Date.UTC(y, m - 1, d, 0, minuteOfDay);
  const target = wall / 60_000;
  const out = new Set<number>();
  // Offsets are within ±14 h; the candidates are the wall time shifted by the offsets around it.
  for (const probe of [wall - 86_400_000, wall, wall + 86_400_000]) {
    const t = wall - offsetAt(probe, timeZone);
    if (localKey(t, timeZone) === target) out.add(t);
  }
  if (out.size === 0) {
    // Skipped by a jump: the first whole minute whose local time is past the target.
    let t = wall - offsetAt(wall, timeZone) - 3 * 3_600_000;
    t -= t % 60_000;
    for (let i = 0; i < 6 * 60 && localKey(t, timeZone) < target; i++) t += 60_000;
    out.add(t);
  }
  return [...out].sort((a, b) => a - b);
}

/** The first instant a local date and minute happen (see localInstants). */
export function localToInstant(date: string, minuteOfDay: number, timeZone: string): number {
  return localInstants(date, minuteOfDay, timeZone)[0]!;
}

/** Instants in [from, to) where the zone's UTC offset changes (DST), to the minute, scanning day by day. */
export function offsetChanges(from: number, to: number, timeZone: string): number[] {
  const out: number[] = [];
  for (let a = from; a < to; a += 86_400_000) {
    const b = Math.min(a + 86_400_000, to);
    if (offsetAt(a, timeZone) === offsetAt(b, timeZone)) continue;
    let lo = a;
    let hi = b; // offset(lo) differs from offset(hi): find the first minute with offset(hi)
    while (hi - lo > 60_000) {
      const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
      if (offsetAt(mid, timeZone) === offsetAt(a, timeZone)) lo = mid;
      else hi = mid;
    }
    out.push(hi);
  }
  return out;
}

/** The next local date after "YYYY-MM-DD". */
export function nextDate(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

export function hhmmToMinute(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}
