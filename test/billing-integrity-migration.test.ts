// The billing-integrity migration on a database that has history, on both backends: rows written before it are
// brought in line with the rules that now hold. Audit outcomes spelled 'ok' (and field service's 'failed') read
// 'success' (and 'error'); keys created by users disabled earlier are revoked; the bootstrap key's stored prefix is
// blanked; a month invoiced earlier gets supplementary invoices; and every guard is in place afterwards.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kysely, Migrator, PostgresDialect, sql, type Migration } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { BACKENDS, freshPostgresDatabase, type Backend } from './support/backends.ts';
import { insertCdr } from './support/billing-rows.ts';
import { TestClock } from './support/clock.ts';
import type { Database } from '../src/storage/schema.ts';
import { migrateToLatest } from '../src/storage/migrate.ts';
import * as m0001 from '../src/storage/migrations/0001_ocpp_core.ts';
import * as m0002 from '../src/storage/migrations/0002_api.ts';
import * as m0003 from '../src/storage/migrations/0003_billing.ts';
import * as m0004 from '../src/storage/migrations/0004_uptime_fieldservice.ts';
import * as m0005 from '../src/storage/migrations/0005_per_station_indexes.ts';
import { InvoicesService } from '../src/billing/invoices.ts';

/** The migrations released before this one, under the names the migrator records. */
const EARLIER: Record<string, Migration> = {
  '0001_ocpp_core': m0001,
  '0002_api': m0002,
  '0003_billing': m0003,
  '0004_uptime_fieldservice': m0004,
  '0005_per_station_indexes': m0005,
};

async function openEarlier(backend: Backend): Promise<{ db: Kysely<Database>; close: () => Promise<void> }> {
  let db: Kysely<Database>;
  let drop: () => Promise<void> = async () => undefined;
  if (backend === 'pglite') {
    db = new Kysely<Database>({ dialect: new PGliteDialect(new PGlite()) });
  } else {
    const fresh = await freshPostgresDatabase();
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: fresh.url }) }) });
    drop = fresh.drop;
  }
  const migrator = new Migrator({ db, provider: { getMigrations: async () => EARLIER } });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
  return {
    db,
    close: async () => {
      await db.destroy();
      await drop();
    },
  };
}

for (const backend of BACKENDS) {
  describe(`the billing-integrity migration over history on ${backend}`, () => {
    let db: Kysely<Database>;
    let close: () => Promise<void>;
    let leaverKeys: string[];

    before(async () => {
      ({ db, close } = await openEarlier(backend));
      const entry = (action: string, outcome: string) => ({
        at: new Date('2026-05-01T10:00:00Z'),
        actor_kind: 'api_key',
        actor_id: null,
        actor_name: 'x',
        actor_role: 'admin',
        action,
        target: null,
        outcome,
        details: JSON.stringify({}),
        ip: null,
      });
      await db
        .insertInto('audit_log')
        .values([
          entry('work_order.created', 'ok'),
          entry('uptime.maintenance_window.created', 'ok'),
          entry('tariff.create', 'success'),
          entry('command.reset', 'failed'),
          entry('command.reset', 'accepted'),
          entry('auth.login', 'denied'),
        ])
        .execute();
      const leaver = await db
        .insertInto('users')
        .values({
          email: 'gone@example.com',
          name: 'Gone',
          password_hash: 'scrypt$x',
          role: 'admin',
          organisation_id: null,
          disabled_at: new Date('2026-04-01T00:00:00Z'),
          last_login_at: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const key = (name: string, createdBy: string, prefix = 'ocpo_abcdefg') =>
        db
          .insertInto('api_keys')
          .values({
            name,
            prefix,
            key_hash: `hash-${name}`,
            role: 'admin',
            organisation_id: null,
            created_by: createdBy,
            expires_at: null,
            last_used_at: null,
            revoked_at: null,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
      const first = await key('by leaver', leaver.id);
      const second = await key('by leaver key', first.id);
      leaverKeys = [first.id, second.id];
      await key('bootstrap', 'OPENCPO_BOOTSTRAP_API_KEY', 'my-chosen-s');
      await key('cli', 'cli');
      // A month invoiced before supplementary invoices existed.
      await db
        .insertInto('billing_accounts')
        .values({
          id: 'ACC-OLD',
          kind: 'fleet',
          name: 'Old',
          currency: 'EUR',
          customer_group: 'members',
          payment_method: 'invoice',
        })
        .execute();
      await insertCdr(db, { id: 'OLD-1', accountId: 'ACC-OLD', endedAt: '2026-04-10T10:00:00Z', inclVat: 100 });
      await db.insertInto('invoice_counters').values({ operator_id: 'old', last_number: 1 }).execute();
      await sql`INSERT INTO invoices (id, operator_id, number, sequence, account_id, period_start, period_end,
          currency, total_excl_vat, total_vat, total_incl_vat, body)
        VALUES ('INV-OLD', 'old', 'OLD-000001', 1, 'ACC-OLD', '2026-04-01T00:00:00Z', '2026-05-01T00:00:00Z',
          'EUR', 83, 17, 100, '{}')`.execute(db);
      await db.updateTable('cdrs').set({ invoice_id: 'INV-OLD' }).where('id', '=', 'OLD-1').execute();

      await migrateToLatest(db);
    });
    after(async () => close());

    it('spells audit outcomes one way', async () => {
      const rows = await db.selectFrom('audit_log').select(['action', 'outcome']).orderBy('id').execute();
      assert.deepEqual(
        rows.map((r) => r.outcome),
        ['success', 'success', 'success', 'error', 'accepted', 'denied'],
      );
      await assert.rejects(sql`UPDATE audit_log SET outcome = 'ok'`.execute(db), /append-only/);
    });

    it('revokes the keys of users disabled before, and blanks the bootstrap key’s prefix', async () => {
      const keys = await db.selectFrom('api_keys').select(['id', 'name', 'prefix', 'revoked_at']).execute();
      const revoked = keys.filter((k) => k.revoked_at !== null).map((k) => k.id);
      assert.deepEqual(revoked.sort(), [...leaverKeys].sort());
      assert.equal(keys.find((k) => k.name === 'bootstrap')?.prefix, '');
      assert.equal(keys.find((k) => k.name === 'cli')?.prefix, 'ocpo_abcdefg');
    });

    it('bills a late CDR of a month invoiced before on a supplementary invoice', async () => {
      await insertCdr(db, { id: 'OLD-2', accountId: 'ACC-OLD', endedAt: '2026-04-20T10:00:00Z', inclVat: 50 });
      const [late] = await new InvoicesService(db, 'old', new TestClock('2026-06-01T00:00:00Z')).issueMonthly(
        'ACC-OLD',
        2026,
        4,
      );
      assert.equal(late?.number, 'OLD-000002');
      assert.equal(late?.supplement, 1);
      assert.equal(late?.body.supplementTo, 'OLD-000001');
      await assert.rejects(sql`DELETE FROM invoices`.execute(db), /immutable/);
    });
  });
}
