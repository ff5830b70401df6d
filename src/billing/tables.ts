// Tables owned by the billing domain: versioned tariffs and where they apply, customer accounts and their tokens,
// the tariff each session pinned at its start, immutable CDRs, failed (unbilled) sessions, invoices with their
// gap-free numbering, the double-entry wallet ledger and payments awaiting capture.
// Money columns are integer minor units of the row's currency (bigint: arrives as a string from PostgreSQL).
import type { ColumnType, Generated, JSONColumnType } from 'kysely';
import type { TariffBody } from './tariff.ts';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Minor = ColumnType<string, number | string, number | string>;
type MinorWithDefault = ColumnType<string, number | string | undefined, number | string>;

export interface TariffsTable {
  id: string;
  name: string;
  current_version: number;
  retired_at: Timestamp | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** Every edit of a tariff is a new row here; sessions pin (tariff_id, version), so edits never reprice them. */
export interface TariffVersionsTable {
  tariff_id: string;
  version: number;
  body: JSONColumnType<TariffBody>;
  created_by: string | null;
  created_at: Generated<Date>;
}

/**
 * Where a tariff applies. Scope: an EVSE (station_id + evse_id), a station, a location (issue 3's location id, plain
 * text), or everywhere (all null). customer_group: 'ad_hoc', 'members', 'partner:<party>' or null for everyone.
 */
export interface TariffAssignmentsTable {
  id: Generated<string>;
  tariff_id: string;
  location_id: string | null;
  station_id: string | null;
  evse_id: number | null;
  customer_group: string | null;
  created_at: Generated<Date>;
}

export interface BillingAccountsTable {
  id: string;
  kind: 'driver' | 'fleet';
  name: string;
  email: string | null;
  customer_group: string;
  currency: string;
  /** 'wallet' (prepaid, in the ledger), 'stripe', or 'invoice' (billed monthly, no payment at the session). */
  payment_method: string;
  stripe_customer_id: string | null;
  stripe_payment_method_id: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface BillingAccountTokensTable {
  id_token: string;
  account_id: string;
  created_at: Generated<Date>;
}

/** The pricing a session fixed at its start. */
export interface SessionPricingTable {
  transaction_id: string;
  tariff_id: string | null;
  tariff_version: number | null;
  account_id: string | null;
  customer_group: string;
  location_id: string | null;
  time_zone: string;
  pinned_at: Generated<Date>;
}

export interface CdrsTable {
  id: string;
  transaction_id: string;
  credit: boolean;
  credit_reference_id: string | null;
  account_id: string | null;
  id_token: string | null;
  station_id: string;
  evse_id: number;
  connector_id: number;
  location_id: string | null;
  tariff_id: string | null;
  tariff_version: number | null;
  currency: string;
  start_date_time: Timestamp;
  end_date_time: Timestamp;
  total_energy_kwh: string;
  total_time_h: string;
  total_parking_time_h: string;
  total_excl_vat: Minor;
  total_vat: Minor;
  total_incl_vat: Minor;
  /** The CDR as OCPI 2.2.1 describes it, plus the cost lines that explain its total. */
  body: JSONColumnType<Record<string, unknown>>;
  invoice_id: string | null;
  created_at: Generated<Date>;
}

/**
 * Sessions that were not billed because they stayed under the configured minimum energy or duration: the
 * uptime and reliability reports count them as failed sessions.
 */
export interface FailedSessionsTable {
  transaction_id: string;
  station_id: string;
  evse_id: number;
  connector_id: number;
  reason: 'below_min_energy' | 'below_min_duration' | 'token_refused' | 'unknown_transaction';
  energy_wh: number;
  duration_s: number;
  started_at: Timestamp;
  ended_at: Timestamp;
  stop_reason: string | null;
  created_at: Generated<Date>;
}

export interface InvoiceCountersTable {
  operator_id: string;
  last_number: number;
}

export interface InvoicesTable {
  id: string;
  operator_id: string;
  number: string;
  sequence: number;
  account_id: string;
  /** 0: the month's invoice; 1, 2, ...: supplementary invoices for CDRs of that month heard of later. */
  supplement: ColumnType<number, number | undefined, number>;
  period_start: Timestamp;
  period_end: Timestamp;
  currency: string;
  total_excl_vat: Minor;
  total_vat: Minor;
  total_incl_vat: Minor;
  body: JSONColumnType<Record<string, unknown>>;
  created_at: Generated<Date>;
}

/** Double-entry ledger: every journal's entries sum to zero, per currency. */
export interface LedgerEntriesTable {
  id: Generated<string>;
  journal_id: string;
  ledger_account: string;
  amount: Minor;
  currency: string;
  kind: string;
  reference: string | null;
  created_at: Generated<Date>;
}

export interface PaymentsTable {
  id: string;
  transaction_id: string;
  account_id: string;
  provider: string;
  currency: string;
  /** held → captured | released | capture_pending (queued, retried) → captured; refunded after capture. */
  status: string;
  held_amount: MinorWithDefault;
  captured_amount: MinorWithDefault;
  refunded_amount: MinorWithDefault;
  provider_ref: string | null;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp | null;
  last_error: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
