// Restart safety: `opencpo serve` is killed with SIGKILL in the middle of a burst of meter values; when it
// comes back, every message that got a CALLRESULT is in the database. Run on PGlite (a data directory)
// and on PostgreSQL.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, persistentStorage } from './support/backends.ts';
import { exited, freePort, startServe } from './support/serve-process.ts';
import { openRaw, type RawCharger } from './support/raw-charger.ts';
import { openDatabase } from '../src/storage/database.ts';
import { loadConfig, type Config } from '../src/config/config.ts';
import { startOpenCpo } from '../src/app.ts';
import { silentLogger } from '../src/observability/log.ts';

for (const backend of BACKENDS) {
  describe(`restart after SIGKILL on ${backend}`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
    });
    const persistent = () => persistentStorage(backend, cleanups);

    it('loses no acknowledged meter value', async () => {
      const storage = await persistent();
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

    it('records every connected charger as disconnected when the server shuts down gracefully', async () => {
      const storage = await persistent();
      const config: Config = {
        ...loadConfig({ port: 0, host: '127.0.0.1', ...storage }, {}),
        acceptUnknownStations: true,
        pingIntervalS: 0,
      };
      const app = await startOpenCpo(config, silentLogger);
      const ids = Array.from({ length: 30 }, (_, i) => `BYE-${i}`);
      // Thirty chargers: their disconnections are recorded while the server closes, before its storage does.
      const chargers = await Promise.all(ids.map((id) => openRaw(`ws://127.0.0.1:${app.port}/ocpp/${id}`, 'ocpp1.6')));
      await Promise.all(chargers.map((c) => c.call('Heartbeat', {})));
      await app.close();

      const database = await openDatabase({ url: storage.databaseUrl, dataDir: storage.data });
      const online = await database.db.selectFrom('stations').select('id').where('online', '=', true).execute();
      const recorded = await database.db
        .selectFrom('station_events')
        .select('station_id')
        .where('kind', '=', 'connection')
        .where('info', '=', 'disconnected')
        .execute();
      await database.close();
      assert.deepEqual(online, [], 'no charger is left online');
      assert.deepEqual([...new Set(recorded.map((r) => r.station_id))].sort(), [...ids].sort());
      for (const c of chargers) await c.close().catch(() => undefined);
    });
  });
}
