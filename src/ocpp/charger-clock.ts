// Chargers' clocks are often wrong: a flat RTC battery says 1970 or 2000, a bad time server a date years ahead. A
// timestamp from a charger is stored as sent when it is plausible, and replaced with the time OpenCPO received the
// message when it is not: when it is more than MAX_AHEAD_MS ahead of the receipt (nothing a charger reports has
// happened in the future; the margin covers ordinary drift between clocks) or more than MAX_BEHIND_MS behind it
// (older than any offline queue is kept: a clock that was never set). Stored as sent, a status stamped 9999 had
// looked newer than every later report and frozen its connector.
//
// The first implausible timestamp of a station opens a clock-fault episode, recorded once as a station event
// (kind `clock_fault`); the episode ends with the station's next plausible timestamp, so a charger whose clock stays
// wrong costs one event, not one per message. Episodes are kept in memory: a restart may record one again.
import { dateOf, type Clock } from '../time/clock.ts';
import type { StationEvent } from '../stations/model.ts';

export const MAX_AHEAD_MS = 15 * 60_000;
export const MAX_BEHIND_MS = 366 * 86_400_000;

/** Reads the timestamps of one message: each as stored (plausible, or the message's receipt time). */
export type TimestampReader = (value: string | undefined) => Date;

export class ChargerClock {
  /** Stations inside a clock-fault episode. */
  private readonly faulty = new Set<string>();
  /** Clock-fault events being stored, per station: the message that noticed one is answered after it. */
  private readonly recording = new Map<string, Promise<void>>();

  constructor(
    private readonly recordEvent: (stationId: string, event: StationEvent) => Promise<void>,
    private readonly clock: Clock,
  ) {}

  /** The receipt time of a message handled now. */
  now(): Date {
    return dateOf(this.clock);
  }

  /** The one timestamp of a message of `stationId` received now, as stored. */
  timestampOf(stationId: string, value: string | undefined): Date {
    return this.timestamp(stationId, value, this.now());
  }

  /** Reads the timestamps of a message of `stationId` received now (all against the same receipt time). */
  readerFor(stationId: string): TimestampReader {
    const receivedAt = this.now();
    return (value) => this.timestamp(stationId, value, receivedAt);
  }

  /** A charger's timestamp as stored: as sent when plausible, else the receipt time (noting a clock fault). */
  timestamp(stationId: string, value: string | undefined, receivedAt: Date): Date {
    if (!value) return receivedAt;
    const sent = Date.parse(value);
    if (Number.isNaN(sent)) return receivedAt;
    const offsetMs = sent - receivedAt.getTime();
    if (offsetMs <= MAX_AHEAD_MS && offsetMs >= -MAX_BEHIND_MS) {
      this.faulty.delete(stationId);
      return new Date(sent);
    }
    if (!this.faulty.has(stationId)) this.openEpisode(stationId, value, receivedAt, offsetMs);
    return receivedAt;
  }

  /** Resolves when the clock faults noticed for a station are stored; rejects when storing one failed. */
  settled(stationId: string): Promise<void> | undefined {
    return this.recording.get(stationId);
  }

  private openEpisode(stationId: string, value: string, receivedAt: Date, offsetMs: number): void {
    this.faulty.add(stationId);
    const direction = offsetMs > 0 ? 'ahead of' : 'behind';
    const stored = this.recordEvent(stationId, {
      kind: 'clock_fault',
      info: `charger clock ${value} is ${describeDuration(Math.abs(offsetMs))} ${direction} the receipt time; its timestamps are replaced with the receipt time until they are plausible again`,
      timestamp: receivedAt,
      payload: { timestamp: value, receivedAt: receivedAt.toISOString(), offsetMs },
    }).catch((err: unknown) => {
      // Not stored: the next implausible timestamp tries again (the message that noticed it is not acknowledged).
      this.faulty.delete(stationId);
      throw err;
    });
    const recording = stored.finally(() => {
      if (this.recording.get(stationId) === recording) this.recording.delete(stationId);
    });
    // The rejection is the settling handler's to report; this copy must not count as unhandled.
    recording.catch(() => undefined);
    this.recording.set(stationId, recording);
  }
}

function describeDuration(ms: number): string {
  if (ms >= 2 * 86_400_000) return `${Math.round(ms / 86_400_000)} days`;
  if (ms >= 2 * 3_600_000) return `${Math.round(ms / 3_600_000)} hours`;
  return `${Math.round(ms / 60_000)} minutes`;
}
