// The messages between the bench's main thread and its load workers. Each worker holds a slice of the
// simulated chargers; the main thread only orchestrates phases and sums what the workers report.
import type { MixWeights } from './message-mix.ts';

export interface LoadWorkerConfig {
  workerIndex: number;
  /** ws://host:port/ocpp/ (the station id is appended). */
  baseUrl: string;
  stationIds: string[];
  /** Connections opened per second by this worker; 0 opens all at once (storm). */
  connectsPerSecond: number;
  mix: MixWeights;
  /** An unanswered CALL counts as a timeout after this long, and the charger moves on. */
  callTimeoutMs: number;
}

export type ToWorker =
  /** Begin sending the mix; paceMs 0 = closed loop (next CALL as soon as the previous is answered). */
  | { type: 'load-start'; paceMs: number }
  | { type: 'load-stop' }
  /** Asks for the boot report (latency of every BootNotification so far, errors). */
  | { type: 'boot-report' }
  | { type: 'window-begin' }
  | { type: 'window-end' }
  | { type: 'close' };

export interface WorkerProgress {
  type: 'progress';
  workerIndex: number;
  connected: number;
  accepted: number;
  /** Cumulative since the worker started. */
  answered: number;
  errors: number;
  /** Epoch ms (fractional) of the first connection attempt and of the latest first BootNotification accept. */
  firstConnectAt: number;
  lastAcceptedAt: number;
}

export interface WindowReport {
  type: 'window';
  workerIndex: number;
  answered: number;
  errors: number;
  errorKinds: Record<string, number>;
  histogram: { counts: ArrayLike<number>; maxMs: number };
  /** Per message kind, indexed by MessageKind. */
  byKind: { counts: ArrayLike<number>; maxMs: number }[];
}

export interface BootReport {
  type: 'boot';
  workerIndex: number;
  histogram: { counts: ArrayLike<number>; maxMs: number };
  errorKinds: Record<string, number>;
  /** A few answers the server gave that were errors, to tell the reader why. */
  errorSamples: string[];
}

export type FromWorker = WorkerProgress | WindowReport | BootReport | { type: 'closed'; workerIndex: number };
