// Billing integrity. A month may have supplementary invoices (CDRs and credits heard of after it was invoiced):
// the one-invoice-per-month key becomes one per month and supplement number.
import { sql, type Kysely } from 'kysely';

const supplementaryInvoices = [
  sql`ALTER TABLE invoices ADD COLUMN supplement integer NOT NULL DEFAULT 0 CHECK (supplement >= 0)`,
  sql`ALTER TABLE invoices DROP CONSTRAINT invoices_account_id_period_start_currency_key`,
  sql`ALTER TABLE invoices ADD CONSTRAINT invoices_one_per_supplement UNIQUE (account_id, period_start, currency, supplement)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of supplementaryInvoices) await statement.execute(db);
}
