// Turns a bench run into its two outputs: a table for people and one JSON line for scripts (always the
// last line on stdout). Every figure is rounded to what the measurement can support.
import type { LatencyHistogram } from './histogram.ts';
import { KIND_NAMES, type MixWeights } from './message-mix.ts';
import type { BenchRun, PassResult } from './run-bench.ts';

export interface BenchSummary {
  stations: number;
  connected: number;
  mode: 'closed-loop' | 'paced';
  mix: MixWeights;
  msgsPerSec: number;
  ceilingMsgsPerSec: number;
  /** Both ceiling passes, first and last; ceilingMsgsPerSec is their median (with two, the mean). */
  ceilingRunsMsgsPerSec: [number, number];
  ratio: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxLatencyMs: number;
  /** OpenCPO's p99 per message kind of the mix (kinds with weight 0 left out): which kinds make the tail. */
  p99MsByKind: Partial<Record<keyof MixWeights, number | null>>;
  halfLoadP99MsByKind: Partial<Record<keyof MixWeights, number | null>> | null;
  halfLoadMsgsPerSec: number | null;
  halfLoadP50Ms: number | null;
  halfLoadP99Ms: number | null;
  /** The last ceiling pass at the same pace as OpenCPO's half load: the latency floor of generator and machine. */
  ceilingHalfLoadP99Ms: number | null;
  ceilingP99Ms: number | null;
  rssMiB: number | null;
  rssIdleMiB: number | null;
  /** Total server RSS under load ÷ connections held (an upper bound: it includes the idle footprint). */
  rssPerConnKiB: number | null;
  /** (RSS under load − RSS before any connection) ÷ connections held; null when the difference is negative. */
  rssGrowthPerConnKiB: number | null;
  ceilingRssMiB: number | null;
  rowsPerSec: number | null;
  /**
   * Machine CPU (all cores, all processes) per message answered in OpenCPO's window, in microseconds, and the
   * server's, the load generator's and the rest's (database, kernel) shares of it; the ceiling's likewise (mean of
   * its two passes). When both saturate the machine, ratio ≈ ceilingCpuUsPerMsg ÷ cpuUsPerMsg.
   */
  cpuUsPerMsg: number | null;
  serverCpuUsPerMsg: number | null;
  generatorCpuUsPerMsg: number | null;
  restCpuUsPerMsg: number | null;
  machineBusyPct: number | null;
  ceilingCpuUsPerMsg: number | null;
  ceilingServerCpuUsPerMsg: number | null;
  errors: number;
  errorKinds: Record<string, number>;
  database: 'pglite' | 'postgres';
  dataDir: string | null;
  durationS: number;
  windowS: number;
  wallS: number;
  workers: number;
  storm: boolean;
  stormSeconds?: number | null;
  stormAccepted?: number;
  ceilingStormSeconds?: number | null;
}

const round = (value: number, digits = 0): number => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};
const ms = (value: number | null): number | null => (value === null ? null : round(value, 2));
const mib = (bytes: number | null): number | null => (bytes === null ? null : round(bytes / 2 ** 20, 1));
const finiteOrNull = (value: number): number | null => (Number.isFinite(value) ? round(value, 2) : null);

/** p99 per kind that the mix sends. */
function p99ByKind(mix: MixWeights, byKind: LatencyHistogram[]): Partial<Record<keyof MixWeights, number | null>> {
  const out: Partial<Record<keyof MixWeights, number | null>> = {};
  KIND_NAMES.forEach((name, kind) => {
    if (mix[name] > 0) out[name] = ms(byKind[kind]!.percentileMs(0.99));
  });
  return out;
}

const orNull = (value: number | null | undefined, digits = 0): number | null =>
  value === null || value === undefined ? null : round(value, digits);

/** The mean of the two ceiling passes' figures, or the one that has it. */
function ceilingMean(run: BenchRun, pick: (pass: PassResult) => number | null | undefined): number | null {
  const values = [pick(run.ceilingFirst), pick(run.ceilingLast)].filter((v): v is number => typeof v === 'number');
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

export function summarize(run: BenchRun): BenchSummary {
  const { options, opencpo, ceilingFirst, ceilingLast } = run;
  const ceilingRuns: [number, number] = [round(ceilingFirst.msgsPerSec), round(ceilingLast.msgsPerSec)];
  const ceiling = (ceilingFirst.msgsPerSec + ceilingLast.msgsPerSec) / 2;
  const latency = opencpo.window.latency;
  const rssPerConn =
    opencpo.rssBytes !== null && opencpo.connected > 0 ? round(opencpo.rssBytes / 1024 / opencpo.connected, 1) : null;
  // Below zero means the idle baseline still held start-up garbage (PGlite's boot) that was freed later.
  const rssGrowth =
    opencpo.rssBytes !== null && opencpo.rssIdleBytes !== null ? opencpo.rssBytes - opencpo.rssIdleBytes : null;
  const rssGrowthPerConn =
    rssGrowth !== null && rssGrowth >= 0 && opencpo.connected > 0
      ? round(rssGrowth / 1024 / opencpo.connected, 1)
      : null;
  const summary: BenchSummary = {
    stations: options.stations,
    connected: opencpo.connected,
    mode: options.rateS > 0 ? 'paced' : 'closed-loop',
    mix: options.mix,
    msgsPerSec: round(opencpo.msgsPerSec),
    ceilingMsgsPerSec: round(ceiling),
    ceilingRunsMsgsPerSec: ceilingRuns,
    ratio: ceiling > 0 ? round(opencpo.msgsPerSec / ceiling, 3) : 0,
    p50Ms: ms(latency.percentileMs(0.5)),
    p95Ms: ms(latency.percentileMs(0.95)),
    p99Ms: ms(latency.percentileMs(0.99)),
    maxLatencyMs: round(Math.max(latency.maxMs, opencpo.boot.latency.maxMs), 2),
    p99MsByKind: p99ByKind(options.mix, opencpo.window.latencyByKind),
    halfLoadP99MsByKind: opencpo.halfLoad ? p99ByKind(options.mix, opencpo.halfLoad.latencyByKind) : null,
    halfLoadMsgsPerSec: opencpo.halfLoad ? round(opencpo.halfLoad.msgsPerSec) : null,
    halfLoadP50Ms: opencpo.halfLoad ? ms(opencpo.halfLoad.latency.percentileMs(0.5)) : null,
    halfLoadP99Ms: opencpo.halfLoad ? ms(opencpo.halfLoad.latency.percentileMs(0.99)) : null,
    ceilingHalfLoadP99Ms: ceilingLast.halfLoad ? ms(ceilingLast.halfLoad.latency.percentileMs(0.99)) : null,
    ceilingP99Ms: ms(ceilingFirst.window.latency.percentileMs(0.99)),
    rssMiB: mib(opencpo.rssBytes),
    rssIdleMiB: mib(opencpo.rssIdleBytes),
    rssPerConnKiB: rssPerConn,
    rssGrowthPerConnKiB: rssGrowthPerConn,
    ceilingRssMiB: mib(ceilingFirst.rssBytes),
    rowsPerSec: opencpo.rowsPerSec === null ? null : round(opencpo.rowsPerSec),
    cpuUsPerMsg: orNull(opencpo.cpu?.machineUsPerMsg, 1),
    serverCpuUsPerMsg: orNull(opencpo.cpu?.serverUsPerMsg, 1),
    generatorCpuUsPerMsg: orNull(opencpo.cpu?.generatorUsPerMsg, 1),
    restCpuUsPerMsg: orNull(opencpo.cpu?.restUsPerMsg, 1),
    machineBusyPct: orNull(opencpo.cpu?.machineBusyPct, 1),
    ceilingCpuUsPerMsg: orNull(
      ceilingMean(run, (p) => p.cpu?.machineUsPerMsg),
      1,
    ),
    ceilingServerCpuUsPerMsg: orNull(
      ceilingMean(run, (p) => p.cpu?.serverUsPerMsg),
      1,
    ),
    errors: opencpo.errors,
    errorKinds: opencpo.errorKinds,
    database: options.databaseUrl ? 'postgres' : 'pglite',
    dataDir: options.databaseUrl ? null : options.dataDir,
    durationS: options.durationS,
    windowS: round(opencpo.window.seconds, 2),
    wallS: round(run.wallSeconds, 1),
    workers: options.workers,
    storm: options.storm,
  };
  if (options.storm) {
    summary.stormSeconds = finiteOrNull(opencpo.boot.secondsToAllAccepted);
    summary.stormAccepted = opencpo.boot.accepted;
    summary.ceilingStormSeconds = finiteOrNull(ceilingFirst.boot.secondsToAllAccepted);
  }
  return summary;
}

function fmt(value: number | null | undefined, unit = ''): string {
  if (value === null || value === undefined) return 'n/a';
  return `${value.toLocaleString('en-US')}${unit}`;
}

function kindLine(byKind: Partial<Record<string, number | null>>): string {
  return Object.entries(byKind)
    .map(([name, p99]) => `${name} ${fmt(p99, ' ms')}`)
    .join(', ');
}

function passRow(pass: PassResult): string[] {
  const l = pass.window.latency;
  return [
    pass.label,
    fmt(pass.connected),
    fmt(Math.round(pass.msgsPerSec)),
    fmt(ms(l.percentileMs(0.5))),
    fmt(ms(l.percentileMs(0.95))),
    fmt(ms(l.percentileMs(0.99))),
    fmt(round(l.maxMs, 1)),
    fmt(mib(pass.rssBytes)),
    fmt(orNull(pass.cpu?.machineUsPerMsg)),
    fmt(orNull(pass.cpu?.machineBusyPct)),
    fmt(pass.errors),
  ];
}

export function formatTable(run: BenchRun, summary: BenchSummary): string {
  const header = [
    'pass',
    'connected',
    'msgs/s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'max ms',
    'RSS MiB',
    'CPU µs/msg',
    'busy %',
    'errors',
  ];
  const rows = [header, passRow(run.ceilingFirst), passRow(run.opencpo), passRow(run.ceilingLast)];
  const widths = header.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const facts: [string, string][] = [
    ['stations (connected)', `${summary.stations} (${summary.connected})`],
    [
      'load',
      summary.mode === 'paced'
        ? `paced, one CALL per charger every ${run.options.rateS} s`
        : 'closed loop (next CALL on answer)',
    ],
    ['database', summary.dataDir ? `${summary.database} (${summary.dataDir})` : summary.database],
    ['OpenCPO msgs/s', fmt(summary.msgsPerSec)],
    [
      'ceiling msgs/s',
      `${fmt(summary.ceilingMsgsPerSec)} (first ${fmt(summary.ceilingRunsMsgsPerSec[0])}, last ${fmt(summary.ceilingRunsMsgsPerSec[1])})`,
    ],
    ['ratio to ceiling', `${round(summary.ratio * 100, 1)}%`],
    [
      'latency at half load',
      summary.halfLoadMsgsPerSec === null
        ? 'n/a'
        : `p50 ${fmt(summary.halfLoadP50Ms)} ms, p99 ${fmt(summary.halfLoadP99Ms)} ms at ${fmt(summary.halfLoadMsgsPerSec)} msgs/s (ceiling at the same pace: p99 ${fmt(summary.ceilingHalfLoadP99Ms)} ms)`,
    ],
    ['p99 by kind', kindLine(summary.p99MsByKind)],
    ['p99 by kind, half load', summary.halfLoadP99MsByKind ? kindLine(summary.halfLoadP99MsByKind) : 'n/a'],
    [
      'server RSS',
      `${fmt(summary.rssMiB, ' MiB')} = ${fmt(summary.rssPerConnKiB, ' KiB')} per connection (idle ${fmt(summary.rssIdleMiB, ' MiB')}, growth ${fmt(summary.rssGrowthPerConnKiB, ' KiB')} per connection)`,
    ],
    ['database rows/s', fmt(summary.rowsPerSec)],
    [
      'CPU per message',
      summary.cpuUsPerMsg === null
        ? 'n/a'
        : `${fmt(summary.cpuUsPerMsg, ' µs')} of the machine (server ${fmt(summary.serverCpuUsPerMsg, ' µs')}, load generator ${fmt(summary.generatorCpuUsPerMsg, ' µs')}, database and the rest ${fmt(summary.restCpuUsPerMsg, ' µs')}); ceiling ${fmt(summary.ceilingCpuUsPerMsg, ' µs')} (bare server ${fmt(summary.ceilingServerCpuUsPerMsg, ' µs')})`,
    ],
    ['errors', `${summary.errors}${summary.errors > 0 ? ' ' + JSON.stringify(summary.errorKinds) : ''}`],
  ];
  if (summary.storm) {
    facts.push([
      'storm: all Accepted after',
      `${fmt(summary.stormSeconds, ' s')} (${fmt(summary.stormAccepted)} accepted; ceiling ${fmt(summary.ceilingStormSeconds, ' s')}), peak latency ${fmt(summary.maxLatencyMs, ' ms')}`,
    ]);
  }
  const keyWidth = Math.max(...facts.map(([k]) => k.length));
  const samples =
    run.opencpo.errorSamples.length > 0 ? ['', 'error samples:', ...run.opencpo.errorSamples.map((s) => `  ${s}`)] : [];
  return [...lines, '', ...facts.map(([k, v]) => `${k.padEnd(keyWidth)}  ${v}`), ...samples].join('\n');
}
