// What time it is, for code whose outcome depends on it (outage spans, forecasts, alert and work-order times).
// The server runs on the system clock; tests pass a clock set to fixed instants, so no test depends on the date
// or the hour it runs at.

export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** The clock's time as a Date. */
export function dateOf(clock: Clock): Date {
  return new Date(clock.now());
}
