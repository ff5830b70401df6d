// Restart safety: `opencpo serve` is killed with SIGKILL in the middle of a burst of meter values; when it
// comes back, every message that got a CALLRESULT is in the database. Run on PGlite (a data directory)
// and on PostgreSQL.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { BACKENDS, freshPostgresDatabase } from './support/backends.ts';
import { openRaw, type RawCharger } from './support/raw-charger.ts';
import { openDatabase } from '../src/storage/database.ts';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function startServe(port: number, storage: { data?: string; databaseUrl?: string }): Promise<ChildProcess> {
  const args = ['bin/opencpo.js', 'serve', '--port', String(port), '--host', '127.0.0.1', '--accept-unknown-stations'];
  if (storage.data) args.push('--data', storage.data);
  // The child is a server, not a test: it must not inherit the test runner's context.
  const { NODE_TEST_CONTEXT: _context, ...inherited } = process.env;
  const env = { ...inherited, LOG_LEVEL: 'warn', DATABASE_URL: storage.databaseUrl ?? '' };
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.ok) return child;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('server did not become healthy');
}

// A child killed by a signal has signalCode set and exitCode null.
const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
  );

for (const backend of BACKENDS) {
  describe(`restart after SIGKILL on ${backend}`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
    });

    it('loses no acknowledged meter value', async () => {
      const storage: { data?: string; databaseUrl?: string } = {};
      if (backend === 'pglite') {
        const dir = mkdtempSync(join(tmpdir(), 'opencpo-durability-'));
        storage.data = dir;
        cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      } else {
        const fresh = await freshPostgresDatabase();
        storage.databaseUrl = fresh.url;
        cleanups.push(fresh.drop);
      }
      const port = await freePort();
      let server = await startServe(port, storage);
      cleanups.push(() => {
        server.kill('SIGKILL');
      });

      // Five chargers, each sending meter values back to back (one outstanding CALL each, as OCPP says).
      const acknowledged = new Set<number>();
      const chargers: RawCharger[] = [];
      for (let i = 0; i < 5; i++) chargers.push(await openRaw(`ws://127.0.0.1:${port}/ocpp/DUR-${i}`, 'ocpp1.6'));
      let value = 0;
      let killed = false;
      const burst = chargers.map(async (c, i) => {
        while (!killed) {
          const v = ++value;
          try {
            const frame = await c.call('MeterValues', {
              connectorId: 1,
              meterValue: [
                {
                  timestamp: new Date().toISOString(),
                  sampledValue: [{ value: String(v), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }],
                },
              ],
            });
            if (frame[0] === 3) acknowledged.add(v);
          } catch {
            return; // the socket died with the server
          }
          if (i === 0 && acknowledged.size >= 300 && !killed) {
            killed = true;
            server.kill('SIGKILL');
          }
        }
      });
      await Promise.all(burst);
      await exited(server);
      assert.ok(acknowledged.size >= 300, `a real burst was acknowledged (${acknowledged.size})`);

      // It comes back on the same data, then stops cleanly so the data can be read here.
      server = await startServe(port, storage);
      server.kill('SIGTERM');
      await exited(server);

      const database = await openDatabase({ url: storage.databaseUrl, dataDir: storage.data });
      const rows = await database.db
        .selectFrom('meter_samples')
        .select('value')
        .where('station_id', 'like', 'DUR-%')
        .execute();
      await database.close();
      const stored = new Set(rows.map((r) => r.value));
      const lost = [...acknowledged].filter((v) => !stored.has(v));
      assert.deepEqual(lost, [], 'every acknowledged meter value survived the crash');
    });
  });
}
