// Times as OCPP messages write them, read off a test's clock.
import type { Clock } from '../../src/time/clock.ts';

export const MINUTE = 60_000;

/** The clock's time (or `offsetMs` from it) as an OCPP timestamp. */
export function isoAt(clock: Clock, offsetMs = 0): string {
  return new Date(clock.now() + offsetMs).toISOString();
}
