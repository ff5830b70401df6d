// Live re-derivation, on both backends: a live run after an earlier run of the station reads only the recent
// evidence (and whatever outage is open or reaches into it), stores exactly what a full run over the look-back
// would, leaves an outage that ended before its range alone, and writes nothing (not even a transaction) when
// nothing changed; evidence older than its range that arrives late is caught by the sweep's full run.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import { BACKENDS, openTestDatabase } from './support/backends.ts';
import type { OpenDatabase } from '../src/storage/database.ts';
import { UptimeService, type OutageChange } from '../src/uptime/service.ts';
import type { Database } from '../src/storage/schema.ts';

const MIN = 60_000;

for (const backend of BACKENDS) {
  describe(`live re-derivation on ${backend}`, () => {
    let database: OpenDatabase;
    let uptime: UptimeService;
    let statements = 0;
    const S = 'LIVE-1';
    const t0 = Date.now();
    const at = (minutesAgo: number) => new Date(t0 - minutesAgo * MIN);
    // The live path (what the event bus triggers after the live delay), run now rather than after the delay.
    const live = (): Promise<OutageChange[]> => (uptime as any).enqueue(S, undefined, false);
    const status = (minutesAgo: number, s: string, vendorErrorCode?: string) =>
      database.db
        .insertInto('connector_status')
        .values({
          station_id: S,
          evse_id: 1,
          connector_id: 1,
          status: s,
          error_code: null,
          vendor_id: null,
          vendor_error_code: vendorErrorCode ?? null,
          info: null,
          occurred_at: at(minutesAgo),
          received_at: new Date(),
        })
        .execute();
    const boot = (minutesAgo: number) =>
      database.db
        .insertInto('station_events')
        .values({
          station_id: S,
          kind: 'boot',
          occurred_at: at(minutesAgo),
          received_at: new Date(),
          payload: JSON.stringify({}),
        } as any)
        .execute();
    const stored = () =>
      database.db.selectFrom('uptime_outages').selectAll().where('station_id', '=', S).orderBy('started_at').execute();

    before(async () => {
      database = await openTestDatabase(backend);
      const counted = database.db.withPlugin({
        transformQuery: (args) => {
          statements++;
          return args.node;
        },
        transformResult: async (args) => args.result,
      }) as Kysely<Database>;
      uptime = new UptimeService(counted);
      await database.db
        .insertInto('stations')
        .values([{ id: S }] as any)
        .execute();
      await status(300, 'available');
      await status(180, 'faulted'); // A: closed long before a live run's range
      await status(150, 'available');
      await boot(65); // B: a boot loop reaching into the range of the next live run
      await boot(60);
      await boot(55);
      await status(20, 'faulted', 'CX002'); // C: open
    });
    after(async () => {
      await uptime.close();
      await database.close();
    });

    it('a live run over the recent evidence stores what a full run would, and only what changed', async () => {
      await uptime.syncStation(S);
      const first = await stored();
      assert.deepEqual(
        first.map((o) => [o.reason, new Date(o.started_at).getTime(), o.ended_at && new Date(o.ended_at).getTime()]),
        [
          ['faulted', at(180).getTime(), at(150).getTime()],
          ['boot_loop', at(65).getTime(), at(55).getTime()],
          ['faulted', at(20).getTime(), null],
        ],
      );

      // Nothing new: two reads, no write, no transaction, nothing touched.
      statements = 0;
      assert.deepEqual(await live(), []);
      assert.equal(statements, 2);
      assert.deepEqual(await stored(), first);
      assert.ok((uptime as any).needsFull.has(S), 'the live run was incremental: the sweep owes a full one');

      // The open outage ends: one update; the others are left as they were.
      await status(1, 'available');
      statements = 0;
      const changes = await live();
      assert.deepEqual(
        changes.map((c) => [c.kind, c.outage.reason]),
        [['closed', 'faulted']],
      );
      assert.equal(statements, 3);
      const second = await stored();
      assert.deepEqual(second.slice(0, 2), first.slice(0, 2));
      assert.equal(new Date(second[2]!.ended_at!).getTime(), at(1).getTime());
      assert.equal(second[2]!.cause_code, 'CX002');

      // A full run over the whole look-back finds nothing to change.
      assert.deepEqual(await uptime.syncStation(S), []);
      assert.deepEqual(await stored(), second);
      assert.ok(!(uptime as any).needsFull.has(S));
    });

    it('evidence older than a live run reads, arriving late, is stored by the sweep', async () => {
      // Replayed after the fact: a fault four hours ago.
      await status(240, 'faulted');
      await status(230, 'available');
      assert.deepEqual(await live(), []);
      assert.equal((await stored()).length, 3);
      await uptime.sweep();
      const outages = await stored();
      assert.equal(outages.length, 4);
      assert.equal(new Date(outages[0]!.started_at).getTime(), at(240).getTime());
      assert.equal(new Date(outages[0]!.ended_at!).getTime(), at(230).getTime());
    });
  });
}
