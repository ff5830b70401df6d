// Where the machine's CPU goes during a measured window, per message answered. When a pass saturates the
// machine (closed loop), throughput is CPU per message turned upside down: the ratio to the ceiling is roughly
// the ceiling's CPU per message divided by OpenCPO's. These figures say which part of the machine each message
// costs: the server under test, the load generator (this process and its worker threads), and the rest (the
// database, other processes and kernel work not charged to either).
import { cpus } from 'node:os';
import { cpuUsage } from 'node:process';

export interface CpuSnapshot {
  /** Busy and total time over all cores (os.cpus(): user + nice + sys + irq, and those plus idle), in ms. */
  machineBusyMs: number;
  machineTotalMs: number;
  /** This process, all threads, user + system, in ms. */
  generatorMs: number;
  /** The server under test, in ms; null when its platform cannot tell. */
  serverMs: number | null;
}

export interface CpuUse {
  /** Share of the whole machine (all cores) that was busy. */
  machineBusyPct: number;
  /** Machine CPU per message answered, in microseconds; likewise for the server and the generator. */
  machineUsPerMsg: number;
  serverUsPerMsg: number | null;
  generatorUsPerMsg: number;
  /** Machine minus server minus generator: the database, other processes, unattributed kernel work. */
  restUsPerMsg: number | null;
}

export function cpuSnapshot(serverCpuSeconds: () => number | null): CpuSnapshot {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const b = times.user + times.nice + times.sys + times.irq;
    busy += b;
    total += b + times.idle;
  }
  const own = cpuUsage();
  const server = serverCpuSeconds();
  return {
    machineBusyMs: busy,
    machineTotalMs: total,
    generatorMs: (own.user + own.system) / 1000,
    serverMs: server === null ? null : server * 1000,
  };
}

/** CPU per message between two snapshots; null when nothing was answered or the machine counters did not move. */
export function cpuUse(before: CpuSnapshot, after: CpuSnapshot, messages: number): CpuUse | null {
  const totalMs = after.machineTotalMs - before.machineTotalMs;
  if (messages <= 0 || totalMs <= 0) return null;
  const perMsgUs = (ms: number) => (ms * 1000) / messages;
  const machine = perMsgUs(after.machineBusyMs - before.machineBusyMs);
  const generator = perMsgUs(after.generatorMs - before.generatorMs);
  const server =
    before.serverMs === null || after.serverMs === null ? null : perMsgUs(after.serverMs - before.serverMs);
  return {
    machineBusyPct: (100 * (after.machineBusyMs - before.machineBusyMs)) / totalMs,
    machineUsPerMsg: machine,
    serverUsPerMsg: server,
    generatorUsPerMsg: generator,
    // Counters tick at different moments; a small negative rest is rounding, not a finding.
    restUsPerMsg: server === null ? null : Math.max(0, machine - server - generator),
  };
}
