// One bench run: the bare-ws ceiling, then OpenCPO, then the ceiling again, each driven by the same load
// generator with the same frames and connection count. OpenCPO's throughput is reported as a ratio of the
// ceiling (the mean, i.e. the median of the two ceiling passes), which makes the figure comparable across
// machines. Every pass measures the CPU each message costs (cpu-meter.ts), which explains the ratio. The
// OpenCPO pass also measures server RSS, database rows written and, at half its own maximum throughput, the
// latency a lightly loaded deployment would see.
import { performance } from 'node:perf_hooks';
import type { LatencyHistogram } from './histogram.ts';
import { cpuSnapshot, cpuUse, type CpuUse } from './cpu-meter.ts';
import { LoadPool, type BootResult, type WindowResult } from './load-pool.ts';
import type { MixWeights } from './message-mix.ts';
import { startTarget, sumCounter, type TargetKind, type TargetProcess } from './target-process.ts';

export interface BenchOptions {
  stations: number;
  /** Total measured seconds, split over the passes (see `planPasses`). */
  durationS: number;
  /** Seconds between CALLs per charger (paced, realistic load); 0 = closed loop, for maximum throughput. */
  rateS: number;
  databaseUrl?: string;
  dataDir: string;
  storm: boolean;
  workers: number;
  connectsPerSecond: number;
  /** Length of each ceiling pass; by default a share of durationS. */
  ceilingS?: number;
  /** Measure OpenCPO's latency at half its maximum throughput too. */
  halfLoad: boolean;
  cpuProfile: boolean;
  callTimeoutMs: number;
  /** Weights of the message kinds; DEFAULT_MIX unless given. */
  mix: MixWeights;
  /** A live status line, once per second. */
  onProgress?: (line: string) => void;
}

export interface PassResult {
  target: TargetKind;
  label: string;
  connected: number;
  boot: BootResult;
  window: WindowResult;
  msgsPerSec: number;
  /** Errors over the whole pass (boot and load), by kind, with a few of the server's error answers. */
  errors: number;
  errorKinds: Record<string, number>;
  errorSamples: string[];
  rssBytes: number | null;
  rssIdleBytes: number | null;
  rowsPerSec: number | null;
  /** CPU per message answered in the closed-loop (or paced) window; null where the platform cannot tell. */
  cpu: CpuUse | null;
  halfLoad?: { msgsPerSec: number; latency: LatencyHistogram; latencyByKind: LatencyHistogram[]; paceMs: number };
}

export interface BenchRun {
  options: BenchOptions;
  ceilingFirst: PassResult;
  opencpo: PassResult;
  ceilingLast: PassResult;
  wallSeconds: number;
}

interface PassPlan {
  warmupS: number;
  ceilingS: number;
  opencpoS: number;
  halfLoadS: number;
}

const ROWS_METRIC = 'opencpo_db_rows_written_total';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Splits the requested duration: OpenCPO gets the longest window, each ceiling pass and half load a share. */
export function planPasses(options: BenchOptions): PassPlan {
  const d = options.durationS;
  const share = Math.max(1, Math.round(d * 0.15 * 10) / 10);
  const ceilingS = options.ceilingS ?? share;
  const halfLoadS = options.halfLoad && options.rateS === 0 ? share : 0;
  // Half load runs twice: on OpenCPO and, at the same pace, on the last ceiling pass.
  const opencpoS = Math.max(1, d - 2 * ceilingS - 2 * halfLoadS);
  // Thousands of fresh connections need longer for the JIT, the GC and the server's caches to settle.
  const warmupS = Math.min(5, Math.max(0.5, d * 0.05) + options.stations / 5000);
  return { warmupS, ceilingS, opencpoS, halfLoadS };
}

/** Keeps one live status line going while a phase runs. */
class ProgressLine {
  private lastAt = performance.now();
  private lastAnswered = 0;

  constructor(
    private readonly pool: LoadPool,
    private readonly label: string,
    private readonly stations: number,
    private readonly onProgress?: (line: string) => void,
  ) {}

  tick = (): void => {
    if (!this.onProgress) return;
    const now = performance.now();
    if (now - this.lastAt < 1000) return;
    const t = this.pool.totals();
    const rate = ((t.answered - this.lastAnswered) * 1000) / (now - this.lastAt);
    this.lastAt = now;
    this.lastAnswered = t.answered;
    this.onProgress(
      `[bench ${this.label}] connected ${t.connected}/${this.stations}  accepted ${t.accepted}  msgs/s ${Math.round(rate)}  errors ${t.errors}`,
    );
  };
}

/**
 * How a pass measures latency under a lighter, paced load after its closed-loop window: 'half-of-own' paces
 * to half the throughput just measured (OpenCPO); a number of milliseconds repeats the pace OpenCPO had
 * (the last ceiling pass), which shows how much of that latency the generator and the machine add anyway.
 */
type HalfLoad = 'half-of-own' | number | undefined;

async function runPass(
  kind: TargetKind,
  label: string,
  seconds: number,
  options: BenchOptions,
  plan: PassPlan,
  halfLoadPlan: HalfLoad,
): Promise<PassResult> {
  const target: TargetProcess = await startTarget({
    kind,
    label,
    databaseUrl: options.databaseUrl,
    dataDir: options.dataDir,
    cpuProfile: options.cpuProfile && kind === 'opencpo',
  });
  const pool = new LoadPool({
    baseUrl: `ws://127.0.0.1:${target.port}/ocpp/`,
    stations: options.stations,
    workers: options.workers,
    connectsPerSecond: options.storm ? 0 : options.connectsPerSecond,
    mix: options.mix,
    callTimeoutMs: options.callTimeoutMs,
  });
  const progress = new ProgressLine(pool, label, options.stations, options.onProgress);
  try {
    // The idle baseline once start-up garbage (migrations, embedded database boot) has had time to go;
    // only OpenCPO's per-connection memory is reported, so the ceiling passes skip the wait.
    if (kind === 'opencpo') await sleep(1000);
    const rssIdleBytes = target.rssBytes();
    pool.start();
    const connectS = options.storm ? 0 : options.stations / options.connectsPerSecond;
    const boot = await pool.waitForBoot((connectS + 120) * 1000, progress.tick);

    pool.startLoad(options.rateS * 1000);
    await sleepWithTicks(plan.warmupS * 1000, progress.tick);
    const rowsBefore = sumCounter(await target.metrics(), ROWS_METRIC);
    const cpuBefore = cpuSnapshot(target.cpuSeconds);
    const window = await pool.measure(seconds, progress.tick);
    const cpuAfter = cpuSnapshot(target.cpuSeconds);
    const rowsAfter = sumCounter(await target.metrics(), ROWS_METRIC);
    const rssBytes = target.rssBytes();
    const connected = pool.totals().connected;
    const msgsPerSec = window.answered / window.seconds;

    let halfLoad: PassResult['halfLoad'];
    if (halfLoadPlan !== undefined && plan.halfLoadS > 0 && msgsPerSec > 0) {
      // One CALL per charger every paceMs adds up to half the closed-loop throughput just measured.
      const paceMs = halfLoadPlan === 'half-of-own' ? (options.stations / (msgsPerSec / 2)) * 1000 : halfLoadPlan;
      pool.startLoad(paceMs);
      // Two intervals let every charger settle into its new phase.
      await sleepWithTicks(Math.min(Math.max(paceMs * 2, 500), 5000), progress.tick);
      const half = await pool.measure(plan.halfLoadS, progress.tick);
      halfLoad = {
        msgsPerSec: half.answered / half.seconds,
        latency: half.latency,
        latencyByKind: half.latencyByKind,
        paceMs,
      };
    }

    pool.stopLoad();
    const totals = pool.totals();
    const final = await pool.report();
    return {
      target: kind,
      label,
      connected,
      boot,
      window,
      msgsPerSec,
      errors: totals.errors,
      errorKinds: final.errorKinds,
      errorSamples: final.errorSamples,
      rssBytes,
      rssIdleBytes,
      rowsPerSec: rowsBefore !== null && rowsAfter !== null ? (rowsAfter - rowsBefore) / window.seconds : null,
      cpu: cpuUse(cpuBefore, cpuAfter, window.answered),
      halfLoad,
    };
  } finally {
    await pool.close();
    await target.stop();
  }
}

async function sleepWithTicks(ms: number, tick: () => void): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    await sleep(Math.min(100, until - performance.now()));
    tick();
  }
}

export async function runBench(options: BenchOptions): Promise<BenchRun> {
  const started = performance.now();
  const plan = planPasses(options);
  const ceilingFirst = await runPass('ceiling', 'ceiling-first', plan.ceilingS, options, plan, undefined);
  const opencpo = await runPass('opencpo', 'opencpo', plan.opencpoS, options, plan, 'half-of-own');
  const ceilingLast = await runPass('ceiling', 'ceiling-last', plan.ceilingS, options, plan, opencpo.halfLoad?.paceMs);
  return { options, ceilingFirst, opencpo, ceilingLast, wallSeconds: (performance.now() - started) / 1000 };
}
