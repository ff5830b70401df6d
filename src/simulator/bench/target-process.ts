// The server under test, as a child process with its own core: either OpenCPO (`opencpo serve`) or the
// bare-ws ceiling. Starts it on a free port, waits for GET /health, reads its RSS and CPU time from /proc and its
// Prometheus metrics, and stops it with SIGTERM (SIGKILL after 10 s). Its output goes to a log file, so the
// bench pays nothing for it and the log is there to read when something fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// OPENCPO_BENCH_BIN points the bench at another build of the `opencpo` command (e.g. a stand-in when
// testing the bench itself); normally the repository's own bin/opencpo.js.
const OPENCPO_BIN = process.env.OPENCPO_BENCH_BIN ?? join(REPO_ROOT, 'bin', 'opencpo.js');
const CEILING_SERVER = fileURLToPath(new URL('./ceiling-server.ts', import.meta.url));
/** One directory per bench run, so that the logs and profiles of earlier runs stay readable. */
export const RESULTS_DIR = join(REPO_ROOT, 'bench-results', new Date().toISOString().replace(/[:.]/g, '-'));

export type TargetKind = 'opencpo' | 'ceiling';

export interface TargetOptions {
  kind: TargetKind;
  /** OpenCPO only: PostgreSQL when set, otherwise PGlite in `dataDir` ('memory' or a directory). */
  databaseUrl?: string;
  dataDir?: string;
  /** Write a V8 CPU profile of the server to bench-results/ when it exits. */
  cpuProfile?: boolean;
  label: string;
}

export interface TargetProcess {
  readonly pid: number;
  readonly port: number;
  readonly logFile: string;
  /** Resident set size in bytes, or null when /proc cannot tell. */
  rssBytes(): number | null;
  /** CPU time the server has used so far (all its threads, user and system), or null when /proc cannot tell. */
  cpuSeconds(): number | null;
  /** The server's Prometheus text, or null when it has none. */
  metrics(): Promise<string | null>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function commandFor(options: TargetOptions, port: number): { args: string[]; env: NodeJS.ProcessEnv } {
  // The young-generation size bin/opencpo.js's first line gives the installed command: measure it as shipped.
  const nodeArgs = options.kind === 'opencpo' ? ['--max-semi-space-size=64'] : [];
  if (options.cpuProfile) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', RESULTS_DIR);
  // Extra Node flags for the server under test only (e.g. --trace-gc), which NODE_OPTIONS does not allow;
  // given last, they override the ones above.
  const extra = process.env.OPENCPO_BENCH_NODE_ARGS?.trim();
  if (extra) nodeArgs.push(...extra.split(/\s+/));
  // The server must not pick up a DATABASE_URL from the bench's own environment unless asked to.
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL;
  if (options.kind === 'ceiling') {
    return { args: [...nodeArgs, '--import', 'tsx', CEILING_SERVER, '--port', String(port)], env };
  }
  const args = [...nodeArgs, OPENCPO_BIN, 'serve', '--port', String(port), '--accept-unknown-stations'];
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  else args.push('--data', options.dataDir ?? 'memory');
  return { args, env };
}

function readRss(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * utime + stime from /proc/<pid>/stat, in clock ticks. Linux fixes the ticks that /proc reports at USER_HZ = 100
 * per second for every architecture, whatever the kernel's own HZ.
 */
function readCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields from after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / 100 : null;
  } catch {
    return null;
  }
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startTarget(options: TargetOptions, readyTimeoutMs = 60_000): Promise<TargetProcess> {
  const port = await freePort();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const logFile = join(RESULTS_DIR, `${options.label}.log`);
  const logFd = openSync(logFile, 'w');
  const { args, env } = commandFor(options, port);
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start the ${options.kind} server`);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });

  const base = `http://127.0.0.1:${port}`;
  const until = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited)
      throw new Error(`the ${options.kind} server exited before it was ready; log ${logFile}:\n${logTail(logFile)}`);
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(
        `the ${options.kind} server was not ready within ${readyTimeoutMs} ms; log ${logFile}:\n${logTail(logFile)}`,
      );
    }
    try {
      const res = await fetch(`${base}/health`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }

  return {
    pid,
    port,
    logFile,
    rssBytes: () => readRss(pid),
    cpuSeconds: () => readCpuSeconds(pid),
    async metrics() {
      try {
        const res = await fetch(`${base}/metrics`);
        const text = await res.text();
        return res.status === 200 ? text : null;
      } catch {
        return null;
      }
    },
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      if (!(await waitForExit(child, 10_000))) {
        child.kill('SIGKILL');
        await waitForExit(child, 5_000);
      }
    },
  };
}

/** Sums every sample of a Prometheus counter (all label sets); null when the metric is absent. */
export function sumCounter(metricsText: string | null, name: string): number | null {
  if (!metricsText) return null;
  let found = false;
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) {
      found = true;
      sum += value;
    }
  }
  return found ? sum : null;
}
