// What the database itself refuses, on both backends: CDRs, invoices, ledger entries and the audit log are never
// updated (but for a CDR's invoice, set once), deleted or truncated; the triggers that say so cannot be disabled,
// dropped or replaced, and replica mode does not skip them. (storage-app-role.test.ts: OpenCPO as a role that owns
// nothing, on PostgreSQL.)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { BACKENDS, openTestDatabase } from './support/backends.ts';
import { TABLES, counts, refused, seedProtectedRows, type ProtectedTable } from './support/billing-rows.ts';
import type { OpenDatabase } from '../src/storage/database.ts';

for (const backend of BACKENDS) {
  describe(`immutable billing and audit tables on ${backend}`, () => {
    let database: OpenDatabase;
    let before_: Record<ProtectedTable, number>;
    let invoiceId: string;
    const db = () => database.db;

    before(async () => {
      database = await openTestDatabase(backend);
      ({ invoiceId } = await seedProtectedRows(db()));
      before_ = await counts(db());
    });
    after(async () => database.close());

    it('refuses UPDATE, DELETE and TRUNCATE on each of them', async () => {
      for (const table of TABLES) {
        const t = sql.table(table);
        await refused(db(), sql`UPDATE ${t} SET id = id`, /immutable|append-only/);
        await refused(db(), sql`DELETE FROM ${t}`, /immutable|append-only/);
        await refused(db(), sql`TRUNCATE ${t} CASCADE`, /append-only|immutable/);
      }
      assert.deepEqual(await counts(db()), before_);
    });

    it('refuses disabling, dropping or replacing the triggers that protect them', async () => {
      for (const table of TABLES) {
        const t = sql.table(table);
        await refused(db(), sql`ALTER TABLE ${t} DISABLE TRIGGER ALL`, /must stay enabled/);
        await refused(db(), sql`ALTER TABLE ${t} DISABLE TRIGGER USER`, /must stay enabled/);
        const triggers = await sql<{ tgname: string }>`
          SELECT tgname FROM pg_trigger WHERE tgrelid = ${table}::regclass AND NOT tgisinternal`.execute(db());
        assert.ok(triggers.rows.length >= 2, `${table} has its row and TRUNCATE guards`);
        for (const { tgname } of triggers.rows) {
          await refused(db(), sql`ALTER TABLE ${t} DISABLE TRIGGER ${sql.id(tgname)}`, /must stay enabled/);
          await refused(db(), sql`DROP TRIGGER ${sql.id(tgname)} ON ${t}`, /must stay enabled/);
        }
        await refused(db(), sql`DROP TABLE ${t} CASCADE`, /must stay enabled/);
      }
      await refused(
        db(),
        sql`CREATE OR REPLACE FUNCTION cdrs_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
        /cannot be replaced/,
      );
      await refused(
        db(),
        sql`CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`,
        /cannot be replaced/,
      );
      await refused(db(), sql`ALTER FUNCTION cdrs_immutable() RENAME TO cdrs_editable`, /cannot be replaced/);
      await refused(db(), sql`UPDATE cdrs SET total_incl_vat = 1`, /immutable/);
      assert.deepEqual(await counts(db()), before_);
    });

    it('does not skip them in replica mode (session_replication_role)', async () => {
      for (const table of TABLES) {
        await assert.rejects(
          db()
            .transaction()
            .execute(async (trx) => {
              await sql`SET LOCAL session_replication_role = replica`.execute(trx);
              await sql`DELETE FROM ${sql.table(table)}`.execute(trx);
            }),
          /immutable|append-only/,
          table,
        );
      }
      assert.deepEqual(await counts(db()), before_);
    });

    it('lets a CDR get its invoice once, and only an invoice that exists', async () => {
      await assert.rejects(
        db().updateTable('cdrs').set({ invoice_id: 'no-such-invoice' }).where('id', '=', 'KEEP-1').execute(),
        /foreign key/,
      );
      await db().updateTable('cdrs').set({ invoice_id: invoiceId }).where('id', '=', 'KEEP-1').execute();
      await assert.rejects(
        db().updateTable('cdrs').set({ invoice_id: null }).where('id', '=', 'KEEP-1').execute(),
        /immutable/,
      );
      const cdr = await db().selectFrom('cdrs').select('invoice_id').where('id', '=', 'KEEP-1').executeTakeFirst();
      assert.equal(cdr?.invoice_id, invoiceId);
    });
  });
}
