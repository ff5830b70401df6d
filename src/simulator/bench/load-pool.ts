// The main-thread side of the load generator: spreads the simulated chargers over worker threads, relays
// phase commands to all of them, and sums their progress and their latency histograms.
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { LatencyHistogram } from './histogram.ts';
import { KIND_NAMES, type MixWeights } from './message-mix.ts';
import type { BootReport, FromWorker, ToWorker, WindowReport, WorkerProgress } from './worker-protocol.ts';

export interface LoadPoolOptions {
  baseUrl: string;
  stations: number;
  workers: number;
  /** Total connections opened per second; 0 opens all at once (storm). */
  connectsPerSecond: number;
  mix: MixWeights;
  callTimeoutMs: number;
}

export interface LoadTotals {
  connected: number;
  accepted: number;
  answered: number;
  errors: number;
}

export interface WindowResult {
  answered: number;
  errors: number;
  errorKinds: Record<string, number>;
  latency: LatencyHistogram;
  /** Latency per message kind of the mix, indexed by MessageKind. */
  latencyByKind: LatencyHistogram[];
  seconds: number;
}

export interface BootResult {
  /** Seconds from the first connection attempt to the last charger's first Accepted. */
  secondsToAllAccepted: number;
  accepted: number;
  latency: LatencyHistogram;
  errorKinds: Record<string, number>;
  errorSamples: string[];
}

export function stationId(index: number): string {
  return `BENCH${String(index).padStart(6, '0')}`;
}

function addKinds(into: Record<string, number>, from: Record<string, number>): void {
  for (const [kind, n] of Object.entries(from)) into[kind] = (into[kind] ?? 0) + n;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class LoadPool {
  private readonly workers: Worker[] = [];
  private readonly progress: WorkerProgress[] = [];
  private readonly waiting = new Map<string, { reports: FromWorker[]; resolve: (r: FromWorker[]) => void }>();
  private failure: Error | undefined;

  constructor(private readonly options: LoadPoolOptions) {}

  /** Starts the workers, which begin connecting and booting their chargers at once. */
  start(): void {
    const { stations, baseUrl, mix, callTimeoutMs } = this.options;
    const count = Math.max(1, Math.min(this.options.workers, stations));
    for (let w = 0; w < count; w++) {
      const stationIds: string[] = [];
      for (let i = w; i < stations; i += count) stationIds.push(stationId(i + 1));
      const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), {
        workerData: {
          workerIndex: w,
          baseUrl,
          stationIds,
          connectsPerSecond: this.options.connectsPerSecond / count,
          mix,
          callTimeoutMs,
        },
      });
      this.progress[w] = {
        type: 'progress',
        workerIndex: w,
        connected: 0,
        accepted: 0,
        answered: 0,
        errors: 0,
        firstConnectAt: 0,
        lastAcceptedAt: 0,
      };
      worker.on('message', (message: FromWorker) => this.onMessage(message));
      worker.on('error', (err) => {
        this.failure = err;
      });
      this.workers.push(worker);
    }
  }

  totals(): LoadTotals {
    const t = { connected: 0, accepted: 0, answered: 0, errors: 0 };
    for (const p of this.progress) {
      t.connected += p.connected;
      t.accepted += p.accepted;
      t.answered += p.answered;
      t.errors += p.errors;
    }
    return t;
  }

  /** Waits until every charger is Accepted, or until the deadline; then reports how the boot went. */
  async waitForBoot(deadlineMs: number, onTick?: () => void): Promise<BootResult> {
    const until = Date.now() + deadlineMs;
    while (Date.now() < until && this.totals().accepted < this.options.stations) {
      this.throwIfFailed();
      await sleep(20);
      onTick?.();
    }
    // A final progress report may be in flight; the worker reports every 250 ms.
    await sleep(300);
    const first = Math.min(...this.progress.map((p) => p.firstConnectAt).filter((t) => t > 0));
    const last = Math.max(...this.progress.map((p) => p.lastAcceptedAt));
    const report = await this.report();
    return {
      secondsToAllAccepted: last > 0 && Number.isFinite(first) ? (last - first) / 1000 : NaN,
      accepted: this.totals().accepted,
      ...report,
    };
  }

  /** Every BootNotification latency so far, and every error so far by kind, with a few samples. */
  async report(): Promise<Omit<BootResult, 'secondsToAllAccepted' | 'accepted'>> {
    const reports = (await this.broadcast({ type: 'boot-report' }, 'boot')) as BootReport[];
    const latency = new LatencyHistogram();
    const errorKinds: Record<string, number> = {};
    const errorSamples: string[] = [];
    for (const r of reports) {
      latency.merge(LatencyHistogram.from(r.histogram));
      addKinds(errorKinds, r.errorKinds);
      errorSamples.push(...r.errorSamples);
    }
    return { latency, errorKinds, errorSamples: errorSamples.slice(0, 5) };
  }

  /** Starts (or re-paces) the mix: paceMs 0 is closed loop, otherwise one CALL per charger per paceMs. */
  startLoad(paceMs: number): void {
    this.send({ type: 'load-start', paceMs });
  }

  stopLoad(): void {
    this.send({ type: 'load-stop' });
  }

  /** Runs one measured window of the given length and merges what every worker saw in it. */
  async measure(seconds: number, onTick?: () => void): Promise<WindowResult> {
    this.send({ type: 'window-begin' });
    const started = performance.now();
    const until = started + seconds * 1000;
    while (performance.now() < until) {
      this.throwIfFailed();
      await sleep(Math.min(100, until - performance.now()));
      onTick?.();
    }
    const reports = (await this.broadcast({ type: 'window-end' }, 'window')) as WindowReport[];
    const elapsed = (performance.now() - started) / 1000;
    const latency = new LatencyHistogram();
    const latencyByKind = KIND_NAMES.map(() => new LatencyHistogram());
    const result: WindowResult = { answered: 0, errors: 0, errorKinds: {}, latency, latencyByKind, seconds: elapsed };
    for (const r of reports) {
      result.answered += r.answered;
      result.errors += r.errors;
      addKinds(result.errorKinds, r.errorKinds);
      latency.merge(LatencyHistogram.from(r.histogram));
      r.byKind.forEach((h, kind) => latencyByKind[kind]!.merge(LatencyHistogram.from(h)));
    }
    return result;
  }

  /** Closes every connection and stops the workers. */
  async close(): Promise<void> {
    if (this.workers.length === 0) return;
    await Promise.race([this.broadcast({ type: 'close' }, 'closed'), sleep(10_000)]);
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }

  private send(message: ToWorker): void {
    for (const worker of this.workers) worker.postMessage(message);
  }

  /** Sends a command to every worker and waits for each one's reply of the given type. */
  private broadcast(message: ToWorker, replyType: FromWorker['type']): Promise<FromWorker[]> {
    return new Promise((resolve) => {
      this.waiting.set(replyType, { reports: [], resolve });
      this.send(message);
    });
  }

  private onMessage(message: FromWorker): void {
    if (message.type === 'progress') {
      this.progress[message.workerIndex] = message;
      return;
    }
    const waiter = this.waiting.get(message.type);
    if (!waiter) return;
    waiter.reports.push(message);
    if (waiter.reports.length === this.workers.length) {
      this.waiting.delete(message.type);
      waiter.resolve(waiter.reports);
    }
  }

  private throwIfFailed(): void {
    if (this.failure) throw new Error(`load worker failed: ${this.failure.message}`);
  }
}
