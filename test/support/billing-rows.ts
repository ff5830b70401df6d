// Billing rows written straight into the database, for tests about what happens to them afterwards (invoicing,
// credits, immutability): a CDR as the pricing engine would have stored it, without running a session.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../src/storage/schema.ts';
import { AccountsService } from '../../src/billing/accounts.ts';
import { AccessService } from '../../src/access/service.ts';
import { EXTERNAL, post, walletOf } from '../../src/billing/ledger.ts';

export interface CdrRowInput {
  id: string;
  accountId: string | null;
  /** When the session ended: the invoice month is the month of this instant (UTC). */
  endedAt: string;
  inclVat: number;
  currency?: string;
  stationId?: string;
}

/** Inserts an original CDR whose total is `inclVat` minor units (20 % VAT included, one energy line). */
export async function insertCdr(db: Kysely<Database>, input: CdrRowInput): Promise<void> {
  const currency = input.currency ?? 'EUR';
  const exclVat = Math.round(input.inclVat / 1.2);
  const vat = input.inclVat - exclVat;
  const ended = new Date(input.endedAt);
  const started = new Date(ended.getTime() - 3_600_000);
  await db
    .insertInto('cdrs')
    .values({
      id: input.id,
      transaction_id: input.id,
      credit: false,
      credit_reference_id: null,
      account_id: input.accountId,
      id_token: null,
      station_id: input.stationId ?? 'ROW-1',
      evse_id: 1,
      connector_id: 1,
      location_id: null,
      tariff_id: null,
      tariff_version: null,
      currency,
      start_date_time: started,
      end_date_time: ended,
      total_energy_kwh: '10',
      total_time_h: '1',
      total_parking_time_h: '0',
      total_excl_vat: exclVat,
      total_vat: vat,
      total_incl_vat: input.inclVat,
      body: JSON.stringify({
        id: input.id,
        total_cost: { excl_vat: exclVat / 100, incl_vat: input.inclVat / 100 },
        opencpo_cost_lines: [{ vatRate: '20', exclVat, vat, inclVat: input.inclVat }],
        opencpo_total_minor: { exclVat, vat, inclVat: input.inclVat },
      }),
      invoice_id: null,
    })
    .execute();
}

/** The tables whose rows are evidence: never changed (a CDR's invoice is set once), never removed. */
export const TABLES = ['cdrs', 'invoices', 'ledger_entries', 'audit_log'] as const;
export type ProtectedTable = (typeof TABLES)[number];
export const SYSTEM = { kind: 'system', id: null, name: 'test', role: null, organisationId: null } as const;

/** One row in each protected table (and an invoice a CDR can be billed on). */
export async function seedProtectedRows(db: Kysely<Database>): Promise<{ accountId: string; invoiceId: string }> {
  const account = await new AccountsService(db).create({ kind: 'driver', name: 'Evidence', currency: 'EUR' });
  await insertCdr(db, { id: 'KEEP-1', accountId: account.id, endedAt: '2026-10-10T10:00:00Z', inclVat: 1200 });
  const invoiceId = randomUUID();
  await db
    .insertInto('invoices')
    .values({
      id: invoiceId,
      operator_id: 'test',
      number: 'TEST-000001',
      sequence: 1,
      account_id: account.id,
      period_start: new Date('2026-10-01T00:00:00Z'),
      period_end: new Date('2026-11-01T00:00:00Z'),
      currency: 'EUR',
      total_excl_vat: 1000,
      total_vat: 200,
      total_incl_vat: 1200,
      body: JSON.stringify({ lines: [] }),
    })
    .execute();
  await post(db, 'EUR', 'top_up', 'cash', [
    { account: EXTERNAL, amount: -500 },
    { account: walletOf(account.id), amount: 500 },
  ]);
  await new AccessService(db).audit(SYSTEM, { action: 'test.seed', outcome: 'success' }, null);
  return { accountId: account.id, invoiceId };
}

/** How many rows each protected table holds. */
export async function counts(db: Kysely<Database>): Promise<Record<ProtectedTable, number>> {
  const out = {} as Record<ProtectedTable, number>;
  for (const table of TABLES) {
    const row = await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(db);
    out[table] = Number(row.rows[0]!.n);
  }
  return out;
}

/** Asserts the database refuses a statement with an error matching `pattern`. */
export const refused = (db: Kysely<Database>, statement: ReturnType<typeof sql>, pattern: RegExp) =>
  assert.rejects(statement.execute(db), pattern, statement.compile(db).sql);
