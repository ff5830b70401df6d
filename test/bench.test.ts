// `opencpo bench` at small scale: runs the real command for a few seconds (ceiling, OpenCPO, ceiling) and
// checks the shape and sanity of its JSON line. It never asserts on speed: that depends on the machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/opencpo.js', import.meta.url));

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// One run covers both the steady-state figures and --storm's, to keep the test short (each run starts
// three servers).
test('opencpo bench reports a sane JSON line at small scale', { timeout: 100_000 }, async () => {
  const { code, stdout, stderr } = await runBench([
    '--stations',
    '10',
    '--duration',
    '3',
    '--ceiling-duration',
    '1',
    '--storm',
    '--json-only',
  ]);
  assert.equal(code, 0, `bench exited with ${code}:\n${stderr}`);
  const lines = stdout.trim().split('\n');
  const result = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;

  for (const field of [
    'stations',
    'connected',
    'msgsPerSec',
    'ceilingMsgsPerSec',
    'ratio',
    'p50Ms',
    'p95Ms',
    'p99Ms',
    'rssMiB',
    'rssPerConnKiB',
    'rowsPerSec',
    'errors',
    'database',
    'durationS',
  ]) {
    assert.ok(field in result, `missing ${field}`);
  }
  assert.equal(result.stations, 10);
  assert.equal(result.connected, 10);
  assert.equal(result.database, 'pglite');
  assert.equal(typeof result.errors, 'number');
  for (const field of ['msgsPerSec', 'ceilingMsgsPerSec', 'ratio', 'p50Ms', 'p99Ms', 'rssMiB']) {
    assert.equal(typeof result[field], 'number', `${field} is a number`);
    assert.ok((result[field] as number) > 0, `${field} > 0`);
  }
  assert.ok((result.p50Ms as number) <= (result.p99Ms as number), 'p50 <= p99');
  assert.ok(result.rowsPerSec === null || typeof result.rowsPerSec === 'number', 'rowsPerSec is a number or null');

  // p99 per kind: every kind of the default mix, each a latency no larger than the window's maximum.
  const byKind = result.p99MsByKind as Record<string, number | null>;
  assert.deepEqual(Object.keys(byKind).sort(), [
    'authorize',
    'heartbeat',
    'meterValues',
    'startOrStop',
    'statusNotification',
  ]);
  for (const [kind, p99] of Object.entries(byKind)) {
    assert.ok(p99 === null || (typeof p99 === 'number' && p99 >= 0), `p99 of ${kind} is a latency or null`);
    assert.ok(p99 === null || p99 <= (result.maxLatencyMs as number), `p99 of ${kind} within the maximum`);
  }
  assert.ok(
    Object.values(byKind).some((p99) => typeof p99 === 'number'),
    'at least one kind was answered in the window',
  );

  // CPU per message: machine-wide from os.cpus() everywhere; the server's share from /proc on Linux.
  for (const field of ['cpuUsPerMsg', 'generatorCpuUsPerMsg', 'ceilingCpuUsPerMsg']) {
    assert.equal(typeof result[field], 'number', `${field} is a number`);
    assert.ok((result[field] as number) > 0, `${field} > 0`);
  }
  const busy = result.machineBusyPct as number;
  assert.ok(busy > 0 && busy <= 100, `machineBusyPct ${busy} is a share of the machine`);
  if (process.platform === 'linux') {
    for (const field of ['serverCpuUsPerMsg', 'ceilingServerCpuUsPerMsg']) {
      assert.equal(typeof result[field], 'number', `${field} is a number`);
      assert.ok((result[field] as number) > 0, `${field} > 0`);
    }
    const parts = (result.serverCpuUsPerMsg as number) + (result.generatorCpuUsPerMsg as number);
    // The parts of the machine's figure cannot exceed it by more than the counters' 10 ms granularity allows.
    assert.ok(parts <= (result.cpuUsPerMsg as number) * 1.5, 'server + generator within the machine figure');
  }

  assert.equal(result.stormAccepted, 10);
  assert.equal(typeof result.stormSeconds, 'number');
  assert.ok((result.stormSeconds as number) >= 0);
  assert.equal(typeof result.maxLatencyMs, 'number');
});
