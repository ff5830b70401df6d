// The group commit when a flush fails, on both backends: a row the database refuses fails only the caller
// that wrote it (the others' rows are written again without it, keyed rows deduplicated as in any flush);
// a failure that is not about the rows (a lost connection) is not retried; and a flush after a failed one
// works again.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql, type Kysely } from 'kysely';
import { BACKENDS, openTestDatabase } from './support/backends.ts';
import type { OpenDatabase } from '../src/storage/database.ts';
import { BatchWriter } from '../src/storage/batch-writer.ts';
import type { Database } from '../src/storage/schema.ts';

/** A window no test waits for: rows gather until the test calls flush(), so they share one flush. */
const GATHER = { windowMs: 600_000, maxRows: 10_000 };

const statusRow = (stationId: string, fields: Record<string, unknown> = {}) => ({
  station_id: stationId,
  evse_id: 1,
  connector_id: 1,
  status: 'available',
  error_code: null,
  vendor_id: null,
  vendor_error_code: null,
  info: null,
  occurred_at: new Date('2026-03-01T10:00:00Z'),
  received_at: new Date('2026-03-01T10:00:00Z'),
  ...fields,
});

/** `db` with a switch: while `failing`, every statement fails as a lost connection does (no SQLSTATE). */
function breakable(db: Kysely<Database>) {
  const state = { failing: false, attempts: 0 };
  const broken = db.withPlugin({
    transformQuery: (args) => {
      if (state.failing) {
        state.attempts++;
        throw new Error('Connection terminated unexpectedly');
      }
      return args.node;
    },
    transformResult: async (args) => args.result,
  });
  return { db: broken, state };
}

for (const backend of BACKENDS) {
  describe(`group commit faults on ${backend}`, () => {
    let database: OpenDatabase;
    /** The stations whose status rows are stored, of those whose ids start with `prefix`. */
    const storedStations = async (prefix: string) => {
      const rows = await database.db
        .selectFrom('connector_status')
        .select('station_id')
        .where('station_id', 'like', `${prefix}%`)
        .execute();
      return rows.map((r) => r.station_id).sort();
    };
    before(async () => {
      database = await openTestDatabase(backend);
    });
    after(() => database.close());

    it("a row the database refuses fails only its caller's write; the other callers' rows are stored", async () => {
      const writer = new BatchWriter(database.db, GATHER);
      writer.define('connector_status');
      const writes = Array.from({ length: 20 }, (_, i) =>
        writer.write({
          connector_status: [
            statusRow(`ISO-${i}`, i === 7 ? { evse_id: 2 ** 31 } : i === 13 ? { info: 'a\u0000b' } : {}),
          ],
        }),
      );
      const settled = Promise.allSettled(writes);
      await writer.flush();
      const outcomes = await settled;
      assert.deepEqual(
        outcomes.flatMap((o, i) => (o.status === 'rejected' ? [i] : [])),
        [7, 13],
        'only the two writes whose rows cannot be stored are refused',
      );
      assert.deepEqual(
        await storedStations('ISO-'),
        Array.from({ length: 20 }, (_, i) => `ISO-${i}`)
          .filter((_, i) => i !== 7 && i !== 13)
          .sort(),
      );
      await writer.close();
    });

    it('a caller whose keyed row lost to a bad caller’s in the flush still has its own row stored', async () => {
      await database.db
        .insertInto('stations')
        .values({ id: 'KEYED-1' } as any)
        .execute();
      await database.db
        .insertInto('evses')
        .values({ station_id: 'KEYED-1', evse_id: 1 } as any)
        .execute();
      const writer = new BatchWriter(database.db, GATHER);
      // As the stations service defines them: one current row per port, the newest report winning.
      writer.define('connectors', {
        conflict: ['station_id', 'evse_id', 'connector_id'],
        update: ['status', 'status_at'],
        updateWhere: sql`connectors.status_at <= excluded.status_at`,
        key: (r) => `${r.station_id}/${r.evse_id}/${r.connector_id}`,
        prefer: (cur, inc) => (inc.status_at as Date) >= (cur.status_at as Date),
      });
      writer.define('connector_status');
      const port = { station_id: 'KEYED-1', evse_id: 1, connector_id: 1 };
      const good = writer.write({
        connectors: [{ ...port, status: 'available', status_at: new Date('2026-03-01T10:00:00Z') }],
      });
      // Newer, so the flush keeps this one for the port; but its status row cannot be stored.
      const bad = writer.write({
        connectors: [{ ...port, status: 'charging', status_at: new Date('2026-03-01T10:05:00Z') }],
        connector_status: [statusRow('KEYED-1', { info: 'a\u0000b' })],
      });
      const settled = Promise.allSettled([good, bad]);
      await writer.flush();
      const [g, b] = await settled;
      assert.equal(g.status, 'fulfilled');
      assert.equal(b.status, 'rejected');
      const row = await database.db
        .selectFrom('connectors')
        .select('status')
        .where('station_id', '=', 'KEYED-1')
        .executeTakeFirst();
      assert.equal(row?.status, 'available', "the good caller's own row, not the refused one's");
      await writer.close();
    });

    it('a flush lost with its connection fails every caller once, without retries', async () => {
      const { db, state } = breakable(database.db);
      const writer = new BatchWriter(db, GATHER);
      writer.define('connector_status');
      // A first flush that works (it also reads the column types), then the connection goes.
      await Promise.all([writer.write({ connector_status: [statusRow('LOST-0')] }), writer.flush()]);
      state.failing = true;
      const writes = Array.from({ length: 8 }, (_, i) => writer.write({ connector_status: [statusRow(`LOST-${i}`)] }));
      const settled = Promise.allSettled(writes);
      await writer.flush();
      const outcomes = await settled;
      assert.ok(outcomes.every((o) => o.status === 'rejected'));
      assert.equal(state.attempts, 1, 'one statement, not retried');
      state.failing = false;
      await writer.close();
    });

    it('a flush after one that failed on its first statement works', async () => {
      const { db, state } = breakable(database.db);
      const writer = new BatchWriter(db, GATHER);
      writer.define('connector_status');
      // The first statement a writer runs reads its tables' column types: it is lost here.
      state.failing = true;
      const first = assert.rejects(writer.write({ connector_status: [statusRow('AGAIN-1')] }));
      await writer.flush();
      await first;
      state.failing = false;
      const second = writer.write({ connector_status: [statusRow('AGAIN-2')] });
      await writer.flush();
      await second;
      assert.deepEqual(await storedStations('AGAIN-'), ['AGAIN-2']);
      await writer.close();
    });
  });
}
