// Billing and access integrity.
// - A month may have supplementary invoices (CDRs and credits heard of after it was invoiced): the
//   one-invoice-per-month key becomes one per month and supplement number.
// - A CDR's invoice_id refers to an invoice that exists.
// - A disabled user's API keys are revoked (disabling now does it; this catches up users disabled before).
// - No part of the bootstrap API key is kept in clear.
// - Audit outcomes have one spelling per meaning ('success', not 'ok').
// - Evidence stays as written: CDRs (but for setting their invoice once) and the audit log already refused UPDATE
//   and DELETE; invoices and ledger entries now do too (nothing in OpenCPO changes them: a payment's state lives
//   in payments), and all four refuse TRUNCATE. The triggers fire in replica mode too (ENABLE ALWAYS), and, when
//   the migration runs as a superuser (the only role that may create one), an event trigger refuses DDL that
//   would leave any of them disabled or missing, or replace their functions. What a superuser or the tables'
//   owner can still do is in the README ("Immutable records"): run OpenCPO as a role that owns nothing.
import { sql, type Kysely } from 'kysely';

const supplementaryInvoices = [
  sql`ALTER TABLE invoices ADD COLUMN supplement integer NOT NULL DEFAULT 0 CHECK (supplement >= 0)`,
  sql`ALTER TABLE invoices DROP CONSTRAINT invoices_account_id_period_start_currency_key`,
  sql`ALTER TABLE invoices ADD CONSTRAINT invoices_one_per_supplement UNIQUE (account_id, period_start, currency, supplement)`,
];

const invoiceForeignKey = [
  sql`ALTER TABLE cdrs ADD CONSTRAINT cdrs_invoice_id_fkey FOREIGN KEY (invoice_id) REFERENCES invoices(id)`,
];

// Keys created by users disabled before disabling revoked them (and the keys those keys created) stop now.
const keysOfDisabledUsers = [
  sql`WITH RECURSIVE issued(id) AS (
      SELECT k.id FROM api_keys k JOIN users u ON u.id = k.created_by WHERE u.disabled_at IS NOT NULL
      UNION
      SELECT k.id FROM api_keys k JOIN issued i ON k.created_by = i.id
    )
    UPDATE api_keys SET revoked_at = now() WHERE id IN (SELECT id FROM issued) AND revoked_at IS NULL`,
];

// The bootstrap key was chosen by the operator (24 characters at least): its first 12 were kept in clear.
const bootstrapKeyPrefix = [sql`UPDATE api_keys SET prefix = '' WHERE created_by = 'OPENCPO_BOOTSTRAP_API_KEY'`];

// Outcomes spelled one way: field service and uptime wrote 'ok' where every other route writes 'success', and
// field service's commands 'failed' where the command routes write 'error' (the message is in the details). The
// one rewrite the audit log ever gets, before its guards are enabled always.
const auditOutcomeSpelling = [
  sql`ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only`,
  sql`UPDATE audit_log SET outcome = CASE outcome WHEN 'ok' THEN 'success' ELSE 'error' END
       WHERE outcome IN ('ok', 'failed')`,
  sql`ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only`,
];

/** Every trigger that keeps a protected table's rows as written, by table. */
const GUARDS: [table: string, trigger: string][] = [
  ['cdrs', 'cdrs_immutable'],
  ['cdrs', 'cdrs_no_truncate'],
  ['audit_log', 'audit_log_append_only'],
  ['audit_log', 'audit_log_no_truncate'],
  ['invoices', 'invoices_immutable'],
  ['invoices', 'invoices_no_truncate'],
  ['ledger_entries', 'ledger_entries_immutable'],
  ['ledger_entries', 'ledger_entries_no_truncate'],
];

const guardList = sql.raw(GUARDS.map(([table, trigger]) => `('${table}', '${trigger}')`).join(', '));

const rowGuards = [
  sql`CREATE FUNCTION refuse_row_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% rows are immutable: % refused', TG_TABLE_NAME, TG_OP;
    END $$`,
  sql`CREATE TRIGGER invoices_immutable BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION refuse_row_change()`,
  sql`CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_row_change()`,
  // Row triggers do not see TRUNCATE: a statement trigger of its own.
  sql`CREATE FUNCTION refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: TRUNCATE refused', TG_TABLE_NAME;
    END $$`,
  ...['cdrs', 'audit_log', 'invoices', 'ledger_entries'].map(
    (table) =>
      sql`CREATE TRIGGER ${sql.id(`${table}_no_truncate`)} BEFORE TRUNCATE ON ${sql.table(table)}
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate()`,
  ),
  // ALWAYS: session_replication_role = replica (what logical replication and restore tools set) skips ordinary
  // triggers, and would skip these.
  ...GUARDS.map(([table, trigger]) => sql`ALTER TABLE ${sql.table(table)} ENABLE ALWAYS TRIGGER ${sql.id(trigger)}`),
];

// At the end of every DDL command: the guards must still exist, be enabled always, and keep their functions.
// The function's search_path is fixed at creation, so the table names mean the tables this migration saw.
const ddlGuard = [
  sql`CREATE FUNCTION keep_immutable_tables_guarded() RETURNS event_trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    DECLARE
      lost text;
    BEGIN
      SELECT string_agg(g.tbl || '.' || g.trg, ', ') INTO lost
        FROM (VALUES ${guardList}) AS g(tbl, trg)
        WHERE NOT EXISTS (
          SELECT 1 FROM pg_trigger t
           WHERE t.tgrelid = to_regclass(g.tbl) AND t.tgname = g.trg AND t.tgenabled = 'A');
      IF lost IS NOT NULL THEN
        RAISE EXCEPTION 'the triggers that keep CDRs, invoices, ledger entries and the audit log unchanged must stay enabled (% would not be)', lost;
      END IF;
      IF EXISTS (
        SELECT 1 FROM pg_event_trigger_ddl_commands() c
         WHERE c.classid = 'pg_proc'::regclass
           AND c.objid IN (
             SELECT t.tgfoid FROM pg_trigger t JOIN (VALUES ${guardList}) AS g(tbl, trg)
                 ON t.tgrelid = to_regclass(g.tbl) AND t.tgname = g.trg)) THEN
        RAISE EXCEPTION 'the functions of the triggers that keep CDRs, invoices, ledger entries and the audit log unchanged cannot be replaced or altered';
      END IF;
    END $$`,
  sql`CREATE EVENT TRIGGER keep_immutable_tables_guarded ON ddl_command_end
    EXECUTE FUNCTION keep_immutable_tables_guarded()`,
];

async function isSuperuser(db: Kysely<unknown>): Promise<boolean> {
  const { rows } = await sql<{ super: boolean }>`
    SELECT rolsuper AS super FROM pg_roles WHERE rolname = current_user`.execute(db);
  return rows[0]?.super === true;
}

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    ...supplementaryInvoices,
    ...invoiceForeignKey,
    ...keysOfDisabledUsers,
    ...bootstrapKeyPrefix,
    ...auditOutcomeSpelling,
    ...rowGuards,
  ])
    await statement.execute(db);
  if (await isSuperuser(db)) for (const statement of ddlGuard) await statement.execute(db);
}
