// An outage seen just before the server stops is not lost from the NEVI report, on both backends: a graceful
// stop runs the live re-derivations still waiting out their delay before the database closes, and `opencpo
// report`, run after a server that crashed before deriving, derives what is owed before it reports. The live
// delay is set far beyond the test, so only these two can have stored the outage.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BACKENDS, persistentStorage } from './support/backends.ts';
import { exited, freePort, startServe } from './support/serve-process.ts';
import { openRaw } from './support/raw-charger.ts';
import { openDatabase } from '../src/storage/database.ts';
import { loadConfig } from '../src/config/config.ts';
import { startOpenCpo, type OpenCpo } from '../src/app.ts';
import { silentLogger } from '../src/observability/log.ts';
import { FILE_NAMES } from '../src/uptime/evchart.ts';

const run = promisify(execFile);

/** Runs `start` with the live re-derivation delay at its maximum (600 s): none runs by itself during a test. */
async function withLongLiveDelay<T>(start: () => Promise<T>): Promise<T> {
  const before = process.env.OPENCPO_UPTIME_LIVE_DELAY_MS;
  process.env.OPENCPO_UPTIME_LIVE_DELAY_MS = '600000';
  try {
    return await start();
  } finally {
    if (before === undefined) delete process.env.OPENCPO_UPTIME_LIVE_DELAY_MS;
    else process.env.OPENCPO_UPTIME_LIVE_DELAY_MS = before;
  }
}

/** A charger that boots and reports its connector faulted since `at`; resolves once that is acknowledged. */
async function faultedCharger(wsBase: string, stationId: string, at: Date) {
  const c = await openRaw(`${wsBase}/${stationId}`, 'ocpp1.6');
  await c.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'X' });
  const answer = await c.call('StatusNotification', {
    connectorId: 1,
    errorCode: 'GroundFailure',
    status: 'Faulted',
    timestamp: at.toISOString(),
  });
  assert.equal(answer[0], 3, 'the fault was acknowledged');
  return c;
}

const quarterOf = (at: Date) => `${at.getUTCFullYear()}Q${Math.floor(at.getUTCMonth() / 3) + 1}`;

for (const backend of BACKENDS) {
  describe(`an outage just before the server stops, on ${backend}`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
    });
    const persistent = () => persistentStorage(backend, cleanups);
    const storedOutages = async (storage: { data?: string; databaseUrl?: string }, stationId: string) => {
      const database = await openDatabase({ url: storage.databaseUrl, dataDir: storage.data });
      try {
        return await database.db
          .selectFrom('uptime_outages')
          .select(['reason', 'started_at', 'ended_at'])
          .where('station_id', '=', stationId)
          .execute();
      } finally {
        await database.close();
      }
    };

    it('a graceful stop stores the outage of a fault reported a moment before', async () => {
      const storage = await persistent();
      const config = { ...loadConfig({ port: 0, host: '127.0.0.1', ...storage }, {}), acceptUnknownStations: true };
      const app: OpenCpo = await withLongLiveDelay(() => startOpenCpo({ ...config, pingIntervalS: 0 }, silentLogger));
      const at = new Date();
      const charger = await faultedCharger(`ws://127.0.0.1:${app.port}/ocpp`, 'STOP-FAULT', at);
      await app.close();
      await charger.close();

      const outages = await storedOutages(storage, 'STOP-FAULT');
      assert.deepEqual(
        outages.map((o) => [o.reason, new Date(o.started_at).getTime(), o.ended_at]),
        [['faulted', at.getTime(), null]],
      );
    });

    it('`opencpo report nevi` after a crash derives the outage the server had not, and reports it', async () => {
      const storage = await persistent();
      const port = await freePort();
      const server = await withLongLiveDelay(() => startServe(port, storage));
      cleanups.push(() => {
        server.kill('SIGKILL');
      });
      // Faulted for ten minutes already: the outage has a length in the report, however fast the test runs.
      const at = new Date(Date.now() - 10 * 60_000);
      const charger = await faultedCharger(`ws://127.0.0.1:${port}/ocpp`, 'CRASH-FAULT', at);
      server.kill('SIGKILL');
      await exited(server);
      await charger.close();
      assert.deepEqual(await storedOutages(storage, 'CRASH-FAULT'), [], 'the server died before deriving it');

      const out = mkdtempSync(join(tmpdir(), 'opencpo-shutdown-report-'));
      cleanups.push(() => rmSync(out, { recursive: true, force: true }));
      const args = ['bin/opencpo.js', 'report', 'nevi', '--quarter', quarterOf(at), '--out', out];
      if (storage.data) args.push('--data', storage.data);
      const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
      await run(process.execPath, args, { env: { ...env, DATABASE_URL: storage.databaseUrl ?? '' } });

      const module4 = readFileSync(join(out, FILE_NAMES[4]), 'utf8').trim().split('\n');
      const rows = module4.slice(1).filter((line) => line.startsWith('CRASH-FAULT,'));
      assert.equal(rows.length, 1, module4.join('\n'));
      const outages = await storedOutages(storage, 'CRASH-FAULT');
      assert.deepEqual(
        outages.map((o) => [o.reason, new Date(o.started_at).getTime(), o.ended_at]),
        [['faulted', at.getTime(), null]],
      );
    });
  });
}
