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

/**
 * The instant a local date and minute of day happen. A local time skipped by a DST jump maps to the instant
 * after the gap; a repeated one to its first occurrence.
 */
export function localToInstant(date: string, minuteOfDay: number, timeZone: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const wall = Date.UTC(y, m - 1, d, 0, minuteOfDay);
  let guess = wall - offsetAt(wall, timeZone);
  // Two refinements settle the offset on either side of a DST change.
  guess = wall - offsetAt(guess, timeZone);
  const second = wall - offsetAt(guess, timeZone);
  if (second !== guess) guess = Math.max(second, guess);
  const earlier = guess - 3_600_000;
  if (wall - offsetAt(earlier, timeZone) === earlier) return earlier;
  return guess;
}

/** The next local date after "YYYY-MM-DD". */
export function nextDate(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

export function hhmmToMinute(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}
