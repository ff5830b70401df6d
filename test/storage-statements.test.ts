// The storage layer's two ways of keeping statements cheap: repeated texts become prepared statements on
// PostgreSQL, and group-commit inserts use one array parameter per column, so their text does not change
// with the number of rows (and can be prepared too).
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { StatementCache } from '../src/storage/statement-cache.ts';
import { openDatabase, type OpenDatabase } from '../src/storage/database.ts';
import { BatchWriter } from '../src/storage/batch-writer.ts';
import { PreparedQuery, ShapedQuery } from '../src/storage/prepared.ts';
import { freshPostgresDatabase, openTestDatabase } from './support/backends.ts';

describe('statement cache (pure)', () => {
  it('names a text from its third use on, keeps the name, and stops naming at the cap', () => {
    const cache = new StatementCache();
    assert.equal(cache.nameFor('select 1'), undefined);
    assert.equal(cache.nameFor('select 1'), undefined);
    const name = cache.nameFor('select 1');
    assert.ok(name);
    assert.equal(cache.nameFor('select 1'), name);
    for (let i = 0; i < 300; i++) for (let k = 0; k < 3; k++) cache.nameFor(`select ${i + 2}`);
    assert.equal(cache.nameFor('select 1'), name, 'an early name is kept');
    for (let k = 0; k < 5; k++) assert.equal(cache.nameFor('select 10000'), undefined, 'no names past the cap');
  });
});

describe('prepared statements and columnar inserts on postgres', () => {
  let database: OpenDatabase;
  let drop: () => Promise<void>;
  before(async () => {
    const fresh = await freshPostgresDatabase();
    drop = fresh.drop;
    // One connection, so that the prepared statements asked about are the ones the queries made.
    database = await openDatabase({ url: fresh.url, poolSize: 1 });
  });
  after(async () => {
    await database.close();
    await drop();
  });

  it('prepares a statement run repeatedly, and gives the same answers', async () => {
    for (let i = 0; i < 5; i++) {
      const row = await database.db
        .selectFrom('stations')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('id', '=', `S-${i}`)
        .executeTakeFirstOrThrow();
      assert.equal(Number(row.n), 0);
    }
    const prepared = await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements`.execute(
      database.db,
    );
    assert.ok(
      prepared.rows.some((r) => r.statement.includes('from "stations"')),
      `prepared: ${prepared.rows.map((r) => r.statement).join(' | ')}`,
    );
  });

  it('keeps background work on connections of its own: with all of them taken, the pool still answers', async () => {
    // This block's database has one pooled connection and (by default) three background ones; take all three.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const taken: Promise<void>[] = [];
    const inside: Promise<void>[] = [];
    for (let i = 0; i < 3; i++) {
      let entered!: () => void;
      inside.push(new Promise<void>((r) => (entered = r)));
      taken.push(
        database.backgroundDb.transaction().execute(async (trx) => {
          await sql`SELECT 1`.execute(trx);
          entered();
          await gate;
        }),
      );
    }
    try {
      const timeout = new Promise<string>((r) => setTimeout(() => r('timed out'), 3000).unref());
      const allInside = Promise.all(inside).then(() => 'all three held');
      assert.equal(await Promise.race([allInside, timeout]), 'all three held', 'three background connections');
      const answer = sql<{ n: number }>`SELECT 1 AS n`.execute(database.db).then((r) => `answered ${r.rows[0]!.n}`);
      const commit = sql<{ n: number }>`SELECT 2 AS n`
        .execute(database.commitDb)
        .then((r) => `answered ${r.rows[0]!.n}`);
      assert.equal(await Promise.race([answer, timeout]), 'answered 1', 'the pool is not held by background work');
      assert.equal(await Promise.race([commit, timeout]), 'answered 2', 'nor is the group commit');
    } finally {
      release();
      await Promise.all(taken);
    }
  });

  it('writes group-commit batches of any size with one statement text, nulls and dates intact', async () => {
    await database.db
      .insertInto('stations')
      .values({ id: 'COL-1' } as any)
      .execute();
    const writer = new BatchWriter(database.db, { windowMs: 0, maxRows: 10_000 });
    writer.define('station_events');
    const at = new Date('2026-01-02T03:04:05.678Z');
    for (const size of [1, 7, 40]) {
      await writer.write({
        station_events: Array.from({ length: size }, (_, i) => ({
          station_id: 'COL-1',
          evse_id: i % 2 ? null : i,
          connector_id: null,
          kind: 'fault',
          error_code: i % 3 ? `E"${i}'\\,{}` : null,
          vendor_id: null,
          vendor_error_code: null,
          info: null,
          severity: null,
          cleared: i % 2 === 0,
          component: null,
          variable: null,
          actual_value: null,
          transaction_ref: null,
          event_ref: null,
          payload: JSON.stringify({ size, i, text: 'a "quoted" value' }),
          occurred_at: at,
          received_at: at,
        })),
      });
    }
    await writer.close();
    const rows = await database.db
      .selectFrom('station_events')
      .selectAll()
      .where('station_id', '=', 'COL-1')
      .orderBy('id')
      .execute();
    assert.equal(rows.length, 48);
    const last = rows[47]!;
    assert.equal(last.evse_id, null);
    assert.equal(last.error_code, null);
    assert.equal(rows[46]!.error_code, `E"38'\\,{}`);
    assert.equal(last.cleared, false);
    assert.deepEqual(last.payload, { size: 40, i: 39, text: 'a "quoted" value' });
    assert.equal(new Date(last.occurred_at).toISOString(), at.toISOString());
    assert.equal(rows[0]!.evse_id, 0);
  });
});

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`queries compiled once (PreparedQuery, ShapedQuery) on ${backend}`, () => {
    let database: OpenDatabase;
    before(async () => {
      database = await openTestDatabase(backend);
      await database.db
        .insertInto('stations')
        .values([{ id: 'PQ-1', vendor: 'A' } as any, { id: 'PQ-2', vendor: 'B' } as any])
        .execute();
    });
    after(async () => {
      await database.close();
    });

    it('binds each run its own values around the query constants, and keeps one text', async () => {
      let builds = 0;
      const byId = new PreparedQuery((db, a: { id: string; vendor: string }) => {
        builds++;
        // 'nobody' is a constant of the query between the two arguments.
        return db
          .selectFrom('stations')
          .select(['id', 'vendor'])
          .where('id', '=', a.id)
          .where('id', '!=', 'nobody')
          .where('vendor', '=', a.vendor);
      });
      assert.deepEqual(await byId.execute(database.db, { id: 'PQ-1', vendor: 'A' }), [{ id: 'PQ-1', vendor: 'A' }]);
      assert.deepEqual(await byId.execute(database.db, { id: 'PQ-2', vendor: 'B' }), [{ id: 'PQ-2', vendor: 'B' }]);
      assert.equal(await byId.executeTakeFirst(database.db, { id: 'PQ-2', vendor: 'A' }), undefined);
      assert.equal(builds, 1, 'built and compiled once');
    });

    it('compiles one text per shape, and each shape binds its own arguments', async () => {
      const shapes: string[] = [];
      const query = new ShapedQuery(
        (s: { byVendor: boolean }) => String(s.byVendor),
        (db, a: { id: string; vendor: string }, s) => {
          shapes.push(String(s.byVendor));
          const q = db.selectFrom('stations').select('id').where('id', '=', a.id);
          return s.byVendor ? q.where('vendor', '=', a.vendor) : q;
        },
      );
      const run = async (byVendor: boolean, id: string, vendor: string) =>
        (await query.execute(database.db, { byVendor }, { id, vendor })).map((r) => r.id);
      assert.deepEqual(await run(false, 'PQ-1', 'B'), ['PQ-1']);
      assert.deepEqual(await run(true, 'PQ-1', 'B'), []);
      assert.deepEqual(await run(true, 'PQ-2', 'B'), ['PQ-2']);
      assert.deepEqual(await run(false, 'PQ-2', 'x'), ['PQ-2']);
      assert.deepEqual(shapes.sort(), ['false', 'true']);
    });

    it('keeps a repeated statement usable after it fails (a constraint violation on its prepared form)', async () => {
      const insert = new PreparedQuery((db, a: { id: string }) =>
        db.insertInto('stations').values({ id: a.id } as any),
      );
      // Past the statement cache's threshold, so that later runs use the prepared statement.
      for (const id of ['PQ-10', 'PQ-11', 'PQ-12', 'PQ-13']) await insert.execute(database.db, { id });
      await assert.rejects(insert.execute(database.db, { id: 'PQ-12' }), (err: Error & { code?: string }) => {
        assert.equal(err.code, '23505');
        return true;
      });
      await insert.execute(database.db, { id: 'PQ-14' });
      const rows = await database.db.selectFrom('stations').select('id').where('id', 'like', 'PQ-1%').execute();
      assert.deepEqual(rows.map((r) => r.id).sort(), ['PQ-1', 'PQ-10', 'PQ-11', 'PQ-12', 'PQ-13', 'PQ-14']);
    });

    it('refuses arguments used where they cannot be parameters', async () => {
      const raw = new PreparedQuery((db, a: { column: string }) =>
        db.selectFrom('stations').select(sql.raw<string>(String(a.column)).as('c')),
      );
      await assert.rejects(raw.execute(database.db, { column: 'id' }), /did not become a parameter/);
      const spread = new PreparedQuery((db, a: { id: string }) => db.insertInto('stations').values({ ...a } as any));
      await assert.rejects(spread.execute(database.db, { id: 'PQ-3' }), /name each argument/);
    });
  });
}
