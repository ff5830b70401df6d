// The PostgreSQL role OpenCPO should run as: one that owns nothing. A table's owner (and a superuser) can disable
// or drop the triggers that keep CDRs, invoices, ledger entries and the audit log unchanged, or truncate them; a
// role that is granted only what OpenCPO does cannot. The owner applies the migrations and grants the role
// (`opencpo migrate --grant-to <role>`), then OpenCPO connects as the role: opening the database finds nothing left
// to migrate, so the role needs no right to create anything.
import { sql, type Kysely } from 'kysely';

/** The tables whose rows are never changed or removed: the role may read and add, not update or delete. */
export const EVIDENCE_TABLES = ['cdrs', 'invoices', 'ledger_entries', 'audit_log'] as const;

/** Grants `role` what OpenCPO needs in the current schema, now and for tables later migrations add. */
export async function grantAppRole(db: Kysely<any>, role: string): Promise<void> {
  const r = sql.id(role);
  const { rows } = await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db);
  const s = sql.id(rows[0]!.schema);
  const evidence = sql.join(EVIDENCE_TABLES.map((t) => sql.table(t)));
  await db.transaction().execute(async (trx) => {
    for (const statement of [
      sql`GRANT USAGE ON SCHEMA ${s} TO ${r}`,
      sql`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${r}`,
      sql`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${s} TO ${r}`,
      sql`REVOKE UPDATE, DELETE ON ${evidence} FROM ${r}`,
      // Billing a CDR on an invoice is the one change a CDR takes (its trigger allows it once).
      sql`GRANT UPDATE (invoice_id) ON cdrs TO ${r}`,
      // Tables and sequences that later migrations create (as the role running this, the owner) are granted too.
      sql`ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${r}`,
      sql`ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT USAGE, SELECT ON SEQUENCES TO ${r}`,
    ])
      await statement.execute(trx);
  });
}
