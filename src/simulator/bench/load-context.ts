// What all simulated chargers of one worker share: the message mix, the id counter, the counters and
// histograms the worker reports, and whether load is running. One plain object that every charger reads
// directly, so the hot path has no closures or event emitters in it.
import { performance } from 'node:perf_hooks';
import { LatencyHistogram } from './histogram.ts';
import { KIND_NAMES, MessageMix, type MessageKind } from './message-mix.ts';
import type { LoadWorkerConfig } from './worker-protocol.ts';

/** Epoch milliseconds with sub-millisecond precision, comparable across threads. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

export class LoadContext {
  readonly mix: MessageMix;
  /** Message ids are a counter: unique per sender (each charger sees a subsequence), cheap to make. */
  private seq = 0;

  /** Load phase: chargers send the mix only while running; otherwise they park after their answer. */
  running = false;
  /** 0 = closed loop; otherwise each charger sends one CALL per paceMs. */
  paceMs = 0;
  /** Bumped on every change of pace, so that each charger picks a fresh random phase for the new pace. */
  paceEpoch = 0;
  /** Set when the worker shuts down, so that closed sockets are not reopened. */
  closing = false;

  connected = 0;
  accepted = 0;
  answered = 0;
  errors = 0;
  firstConnectAt = 0;
  lastAcceptedAt = 0;

  /** The measured window: latencies and counts only between window-begin and window-end. */
  inWindow = false;
  windowAnswered = 0;
  windowErrors = 0;
  readonly windowLatency = new LatencyHistogram();
  /** The same window's latencies per message kind (indexed by MessageKind), to tell which kinds make the tail. */
  readonly windowLatencyByKind = KIND_NAMES.map(() => new LatencyHistogram());
  readonly bootLatency = new LatencyHistogram();
  readonly errorKinds = new Map<string, number>();
  readonly windowErrorKinds = new Map<string, number>();
  readonly errorSamples: string[] = [];

  constructor(readonly config: LoadWorkerConfig) {
    this.mix = new MessageMix(config.mix);
  }

  nextId(): string {
    return String(++this.seq);
  }

  /** An answered CALL; `kind` is undefined for a BootNotification (not part of the mix). */
  recordAnswer(latencyMs: number, kind: MessageKind | undefined): void {
    this.answered++;
    if (this.inWindow) {
      this.windowAnswered++;
      this.windowLatency.recordMs(latencyMs);
      if (kind !== undefined) this.windowLatencyByKind[kind]!.recordMs(latencyMs);
    }
  }

  recordError(kind: string, sample?: string): void {
    this.errors++;
    this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
    if (this.inWindow) {
      this.windowErrors++;
      this.windowErrorKinds.set(kind, (this.windowErrorKinds.get(kind) ?? 0) + 1);
    }
    if (sample !== undefined && this.errorSamples.length < 5) this.errorSamples.push(sample.slice(0, 300));
  }

  beginWindow(): void {
    this.windowAnswered = 0;
    this.windowErrors = 0;
    this.windowLatency.reset();
    for (const h of this.windowLatencyByKind) h.reset();
    this.windowErrorKinds.clear();
    this.inWindow = true;
  }
}
