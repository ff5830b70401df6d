// A PostgreSQL connection killed under load (a failover, a restart, a connection killer) must be survived:
// `opencpo serve` runs in a process of its own while 30 chargers send a burst, an admin connection terminates
// one of its connections that is busy with a statement (or all of them at once, as a restart does), and the
// server goes on serving; every message it acknowledged, before or after, is stored. And PGlite's thread,
// should it die, is told of.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { ADMIN_URL, freshPostgresDatabase } from './support/backends.ts';
import { exited, freePort, startServe } from './support/serve-process.ts';
import { openRaw, type RawCharger } from './support/raw-charger.ts';
import type { Worker } from 'node:worker_threads';
import { openDatabase } from '../src/storage/database.ts';
import { PGliteThread } from '../src/storage/pglite-thread.ts';

const CHARGERS = 30;

/** Polls `check` every few milliseconds until it holds, or fails after `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('a PostgreSQL connection terminated under load', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  const cases = [
    {
      name: 'one busy connection terminated',
      // Caught running a statement, so it is checked out of its pool.
      victims: `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid() LIMIT 1`,
    },
    {
      name: 'every connection terminated at once',
      victims: `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
    },
  ];
  for (const { name, victims } of cases)
    it(`${name}: the server keeps running and every acknowledged message is stored`, async () => {
      const fresh = await freshPostgresDatabase();
      cleanups.push(fresh.drop);
      const database = new URL(fresh.url).pathname.slice(1);
      const port = await freePort();
      const server = await startServe(port, { databaseUrl: fresh.url });
      cleanups.push(() => {
        server.kill('SIGKILL');
      });
      let exitedEarly = false;
      void exited(server).then(() => (exitedEarly = true));

      const chargers: RawCharger[] = [];
      for (let i = 0; i < CHARGERS; i++) {
        chargers.push(await openRaw(`ws://127.0.0.1:${port}/ocpp/LOSS-${i}`, 'ocpp1.6'));
      }
      cleanups.push(async () => {
        for (const c of chargers) await c.close().catch(() => undefined);
      });

      // Each charger sends meter values back to back (group commit), and every fifth message starts a
      // transaction (the shared pool). What was acknowledged is remembered, to be found stored at the end.
      const meterValues = new Set<number>();
      const transactions: { stationId: string; transactionId: number }[] = [];
      let acknowledged = 0;
      let stop = false;
      let value = 0;
      const burst = chargers.map(async (c, i) => {
        const stationId = `LOSS-${i}`;
        for (let n = 0; !stop; n++) {
          const v = ++value;
          let frame: unknown[];
          try {
            frame =
              n % 5 === 4
                ? await c.call('StartTransaction', {
                    connectorId: 1,
                    idTag: `TAG-${v}`,
                    meterStart: v,
                    timestamp: new Date().toISOString(),
                  })
                : await c.call('MeterValues', {
                    connectorId: 1,
                    meterValue: [
                      {
                        timestamp: new Date().toISOString(),
                        sampledValue: [{ value: String(v), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }],
                      },
                    ],
                  });
          } catch {
            return; // no answer: the server is gone (the assertions below say so)
          }
          if (frame[0] !== 3) continue; // a CALLERROR: not acknowledged, nothing to find later
          acknowledged++;
          if (n % 5 === 4)
            transactions.push({ stationId, transactionId: (frame[2] as { transactionId: number }).transactionId });
          else meterValues.add(v);
        }
      });

      const admin = new pg.Client({ connectionString: ADMIN_URL });
      await admin.connect();
      cleanups.push(() => admin.end());
      try {
        await until('a first part of the burst', () => acknowledged >= 300 || exitedEarly);
        await until('a connection to terminate', async () => {
          const { rows } = await admin.query(`SELECT pg_terminate_backend(pid) AS done FROM (${victims}) AS v`, [
            database,
          ]);
          return rows.some((r) => r.done);
        });
        const atKill = acknowledged;
        await until(
          'the burst to go on after the connection was lost',
          () => acknowledged >= atKill + 600 || exitedEarly,
        );
      } finally {
        stop = true;
        await Promise.all(burst);
      }
      assert.equal(exitedEarly, false, 'the server is still running');
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(health.status, 200, 'and healthy');

      server.kill('SIGTERM');
      await exited(server);
      assert.equal(server.exitCode, 0, 'it stops cleanly');

      const stored = await openDatabase({ url: fresh.url });
      try {
        const samples = await stored.db
          .selectFrom('meter_samples')
          .select('value')
          .where('station_id', 'like', 'LOSS-%')
          .execute();
        const values = new Set(samples.map((r) => r.value));
        assert.deepEqual(
          [...meterValues].filter((v) => !values.has(v)),
          [],
          'every acknowledged meter value is stored',
        );
        const started = await stored.db
          .selectFrom('transactions')
          .select(['station_id', 'charger_transaction_id'])
          .where('station_id', 'like', 'LOSS-%')
          .execute();
        const keys = new Set(started.map((t) => `${t.station_id}/${t.charger_transaction_id}`));
        assert.deepEqual(
          transactions.filter((t) => !keys.has(`${t.stationId}/${t.transactionId}`)),
          [],
          'every acknowledged transaction start is stored',
        );
        assert.ok(meterValues.size > 0 && transactions.length > 0, 'both kinds of message were acknowledged');
      } finally {
        await stored.close();
      }
    });
});

describe("the embedded database's thread", () => {
  it('tells when it dies, and fails every statement after, but not when it is closed', async () => {
    const lost: Error[] = [];
    const thread = await PGliteThread.start('memory', (err) => lost.push(err));
    assert.deepEqual((await thread.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    // What an out-of-memory kill or a crash of the thread looks like from here.
    await (thread as unknown as { worker: Worker }).worker.terminate();
    await until('the loss to be told', () => lost.length > 0);
    assert.equal(lost.length, 1);
    assert.match(lost[0]!.message, /the database thread exited/);
    await assert.rejects(thread.query('SELECT 1'), /the database thread exited/);
    await thread.close();

    const closed = await PGliteThread.start('memory', (err) => lost.push(err));
    await closed.close();
    assert.equal(lost.length, 1, 'a thread closed on purpose is not lost');
  });
});
