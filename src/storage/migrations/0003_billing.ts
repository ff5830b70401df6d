// The billing schema (issue 4): versioned tariffs and their assignments, customer accounts and tokens, session
// pricing pins, immutable CDRs (a trigger refuses UPDATE and DELETE: corrections are credit CDRs), failed
// sessions, invoices with a per-operator counter, the wallet ledger and payments.
import { sql, type Kysely } from 'kysely';

const statements = [
  sql`CREATE TABLE tariffs (
    id text PRIMARY KEY,
    name text NOT NULL,
    current_version integer NOT NULL,
    retired_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE TABLE tariff_versions (
    tariff_id text NOT NULL REFERENCES tariffs(id),
    version integer NOT NULL CHECK (version >= 1),
    body jsonb NOT NULL,
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tariff_id, version)
  )`,
  sql`CREATE TABLE tariff_assignments (
    id bigserial PRIMARY KEY,
    tariff_id text NOT NULL REFERENCES tariffs(id),
    location_id text,
    station_id text,
    evse_id integer,
    customer_group text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (evse_id IS NULL OR station_id IS NOT NULL)
  )`,
  sql`CREATE UNIQUE INDEX tariff_assignments_one_per_scope ON tariff_assignments
    (COALESCE(location_id, ''), COALESCE(station_id, ''), COALESCE(evse_id, -1), COALESCE(customer_group, ''))`,
  sql`CREATE TABLE billing_accounts (
    id text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('driver', 'fleet')),
    name text NOT NULL,
    email text,
    customer_group text NOT NULL DEFAULT 'members',
    currency text NOT NULL,
    payment_method text NOT NULL DEFAULT 'invoice' CHECK (payment_method IN ('wallet', 'stripe', 'invoice')),
    stripe_customer_id text,
    stripe_payment_method_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE TABLE billing_account_tokens (
    id_token text PRIMARY KEY,
    account_id text NOT NULL REFERENCES billing_accounts(id),
    created_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE TABLE session_pricing (
    transaction_id text PRIMARY KEY,
    tariff_id text,
    tariff_version integer,
    account_id text,
    customer_group text NOT NULL,
    location_id text,
    time_zone text NOT NULL,
    pinned_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tariff_id, tariff_version) REFERENCES tariff_versions(tariff_id, version)
  )`,
  sql`CREATE TABLE cdrs (
    id text PRIMARY KEY,
    transaction_id text NOT NULL,
    credit boolean NOT NULL DEFAULT false,
    credit_reference_id text REFERENCES cdrs(id),
    account_id text,
    id_token text,
    station_id text NOT NULL,
    evse_id integer NOT NULL,
    connector_id integer NOT NULL,
    location_id text,
    tariff_id text,
    tariff_version integer,
    currency text NOT NULL,
    start_date_time timestamptz NOT NULL,
    end_date_time timestamptz NOT NULL,
    total_energy_kwh numeric NOT NULL,
    total_time_h numeric NOT NULL,
    total_parking_time_h numeric NOT NULL,
    total_excl_vat bigint NOT NULL,
    total_vat bigint NOT NULL,
    total_incl_vat bigint NOT NULL,
    body jsonb NOT NULL,
    invoice_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (credit = (credit_reference_id IS NOT NULL))
  )`,
  // One original CDR per session; credits (and the re-issued CDR after a credit) are separate rows.
  sql`CREATE INDEX cdrs_by_transaction ON cdrs (transaction_id)`,
  sql`CREATE INDEX cdrs_by_account ON cdrs (account_id, end_date_time)`,
  // Immutable: only invoice_id may be set, once (the invoice that billed the CDR); nothing else changes, no deletes.
  sql`CREATE FUNCTION cdrs_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'CDRs are immutable: issue a credit CDR instead'; END IF;
      IF OLD.invoice_id IS NULL AND NEW.invoice_id IS NOT NULL
         AND (to_jsonb(NEW) - 'invoice_id') = (to_jsonb(OLD) - 'invoice_id') THEN RETURN NEW; END IF;
      RAISE EXCEPTION 'CDRs are immutable: issue a credit CDR instead';
    END $$`,
  sql`CREATE TRIGGER cdrs_immutable BEFORE UPDATE OR DELETE ON cdrs FOR EACH ROW EXECUTE FUNCTION cdrs_immutable()`,
  sql`CREATE TABLE failed_sessions (
    transaction_id text PRIMARY KEY,
    station_id text NOT NULL,
    evse_id integer NOT NULL,
    connector_id integer NOT NULL,
    reason text NOT NULL CHECK (reason IN ('below_min_energy', 'below_min_duration')),
    energy_wh double precision NOT NULL,
    duration_s double precision NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz NOT NULL,
    stop_reason text,
    created_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE INDEX failed_sessions_by_station ON failed_sessions (station_id, ended_at)`,
  sql`CREATE TABLE invoice_counters (
    operator_id text PRIMARY KEY,
    last_number integer NOT NULL
  )`,
  sql`CREATE TABLE invoices (
    id text PRIMARY KEY,
    operator_id text NOT NULL,
    number text NOT NULL,
    sequence integer NOT NULL,
    account_id text NOT NULL REFERENCES billing_accounts(id),
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL,
    currency text NOT NULL,
    total_excl_vat bigint NOT NULL,
    total_vat bigint NOT NULL,
    total_incl_vat bigint NOT NULL,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (operator_id, sequence),
    UNIQUE (account_id, period_start, currency)
  )`,
  sql`CREATE TABLE ledger_entries (
    id bigserial PRIMARY KEY,
    journal_id text NOT NULL,
    ledger_account text NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    kind text NOT NULL,
    reference text,
    created_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE INDEX ledger_entries_by_account ON ledger_entries (ledger_account, currency)`,
  sql`CREATE INDEX ledger_entries_by_journal ON ledger_entries (journal_id)`,
  sql`CREATE TABLE payments (
    id text PRIMARY KEY,
    transaction_id text NOT NULL UNIQUE,
    account_id text NOT NULL,
    provider text NOT NULL,
    currency text NOT NULL,
    status text NOT NULL,
    held_amount bigint NOT NULL DEFAULT 0,
    captured_amount bigint NOT NULL DEFAULT 0,
    refunded_amount bigint NOT NULL DEFAULT 0,
    provider_ref text,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE INDEX payments_due ON payments (next_attempt_at) WHERE status = 'capture_pending'`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'payments',
    'ledger_entries',
    'invoices',
    'invoice_counters',
    'failed_sessions',
    'cdrs',
    'session_pricing',
    'billing_account_tokens',
    'billing_accounts',
    'tariff_assignments',
    'tariff_versions',
    'tariffs',
  ]) {
    await sql`DROP TABLE IF EXISTS ${sql.table(table)} CASCADE`.execute(db);
  }
  await sql`DROP FUNCTION IF EXISTS cdrs_immutable()`.execute(db);
}
