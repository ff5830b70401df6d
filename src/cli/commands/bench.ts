// `opencpo bench`: measures OpenCPO against the bare-WebSocket ceiling of the same machine, in one run.
// Prints a table, then one JSON line (always the last line on stdout) for scripts and CI.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  DEFAULT_MIX,
  formatTable,
  parseMix,
  runBench,
  summarize,
  type MixWeights,
} from '../../simulator/bench/index.ts';

function positiveNumber(name: string, { integer = false, allowZero = false } = {}) {
  return (raw: string): number => {
    const value = Number(raw);
    const ok = Number.isFinite(value) && (allowZero ? value >= 0 : value > 0) && (!integer || Number.isInteger(value));
    if (!ok)
      throw new InvalidArgumentError(
        `${name} must be a ${integer ? 'whole ' : ''}number above ${allowZero ? '-1' : '0'}`,
      );
    return value;
  };
}

/** The soft limit on open files: every simulated charger is one socket in the bench process. */
function openFileLimit(): number | null {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

interface BenchFlags {
  stations: number;
  duration: number;
  rate: number;
  databaseUrl?: string;
  data: string;
  storm: boolean;
  workers: number;
  connectRate: number;
  ceilingDuration?: number;
  halfLoad: boolean;
  cpuProf: boolean;
  callTimeout: number;
  jsonOnly: boolean;
  mix: MixWeights;
}

export function benchCommand(): Command {
  // On a small machine the server needs a core of its own; the generator gets the rest.
  const defaultWorkers = Math.max(1, Math.floor(availableParallelism() / 2));
  return new Command('bench')
    .description(
      'Measure OpenCPO under load against the bare-ws ceiling of this machine (ceiling, OpenCPO, ceiling), ' +
        'then print a table and one JSON line',
    )
    .option(
      '--stations <n>',
      'simulated chargers, each one WebSocket',
      positiveNumber('--stations', { integer: true }),
      100,
    )
    .option('--duration <s>', 'measured seconds in total, shared by the passes', positiveNumber('--duration'), 30)
    .option(
      '--rate <s>',
      'paced load: one CALL per charger every <s> seconds (0 = closed loop: next CALL as soon as the last is answered)',
      positiveNumber('--rate', { allowZero: true }),
      0,
    )
    .addOption(new Option('--database-url <url>', 'run the server on PostgreSQL (postgres://...)').conflicts('data'))
    .option('--data <dir>', "PGlite data directory for the server, or 'memory'", 'memory')
    .option(
      '--storm',
      'connect and boot all chargers at once, as after an outage; report the time until all are Accepted',
      false,
    )
    .option(
      '--workers <w>',
      'load generator worker threads',
      positiveNumber('--workers', { integer: true }),
      defaultWorkers,
    )
    .option(
      '--connect-rate <n>',
      'connections opened per second (not in --storm)',
      positiveNumber('--connect-rate'),
      500,
    )
    .option(
      '--ceiling-duration <s>',
      'measured seconds of each ceiling pass (default: 15% of --duration)',
      positiveNumber('--ceiling-duration'),
    )
    .option('--no-half-load', 'skip measuring latency at half of the maximum throughput')
    .option('--cpu-prof', 'write a V8 CPU profile of the server to bench-results/', false)
    .option(
      '--call-timeout <ms>',
      'an unanswered CALL counts as an error after this long',
      positiveNumber('--call-timeout'),
      30_000,
    )
    .option(
      '--mix <weights>',
      'message mix, e.g. heartbeat=100 to measure one action alone (kinds: heartbeat, meterValues, statusNotification, authorize, startOrStop)',
      (raw: string) => {
        try {
          return parseMix(raw);
        } catch (err) {
          throw new InvalidArgumentError((err as Error).message);
        }
      },
      DEFAULT_MIX,
    )
    .option('--json-only', 'print only the JSON line, no table and no progress', false)
    .action(async (flags: BenchFlags) => {
      const limit = openFileLimit();
      if (limit !== null && flags.stations + 256 > limit) {
        console.error(
          `opencpo bench: ${flags.stations} connections need more open files than the limit of ${limit}; raise it (ulimit -n) first`,
        );
      }
      const run = await runBench({
        stations: flags.stations,
        durationS: flags.duration,
        rateS: flags.rate,
        databaseUrl: flags.databaseUrl,
        dataDir: flags.data,
        storm: flags.storm,
        workers: flags.workers,
        connectsPerSecond: flags.connectRate,
        ceilingS: flags.ceilingDuration,
        halfLoad: flags.halfLoad,
        cpuProfile: flags.cpuProf,
        callTimeoutMs: flags.callTimeout,
        mix: flags.mix,
        onProgress: flags.jsonOnly ? undefined : (line) => console.error(line),
      });
      const summary = summarize(run);
      if (!flags.jsonOnly) console.log(formatTable(run, summary) + '\n');
      console.log(JSON.stringify(summary));
    });
}
