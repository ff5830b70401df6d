// The prepaid wallet as a double-entry ledger. Every movement is a journal whose entries sum to zero, so the
// ledger as a whole always balances and every balance can be explained entry by entry.
//   external:<currency>  money that came in from outside (top-ups) or went back out
//   wallet:<account>     what the customer may spend (positive: we owe it to them)
//   hold:<account>       reserved for a running session
//   revenue              captured session totals
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../storage/schema.ts';

export interface Entry {
  account: string;
  amount: number;
}

export const walletOf = (accountId: string) => `wallet:${accountId}`;
export const holdOf = (accountId: string) => `hold:${accountId}`;
export const EXTERNAL = 'external';
export const REVENUE = 'revenue';

export class UnbalancedJournalError extends Error {}

type Db = Kysely<Database> | Transaction<Database>;

/** Posts one journal atomically; refuses a journal that does not sum to zero. */
export async function post(
  db: Db,
  currency: string,
  kind: string,
  reference: string | null,
  entries: Entry[],
): Promise<string> {
  const nonZero = entries.filter((e) => e.amount !== 0);
  if (nonZero.some((e) => !Number.isSafeInteger(e.amount)))
    throw new UnbalancedJournalError('amounts must be integers');
  const sum = nonZero.reduce((s, e) => s + e.amount, 0);
  if (sum !== 0) throw new UnbalancedJournalError(`journal ${kind} does not balance: ${sum}`);
  const journalId = randomUUID();
  if (nonZero.length === 0) return journalId;
  await db
    .insertInto('ledger_entries')
    .values(
      nonZero.map((e) => ({
        journal_id: journalId,
        ledger_account: e.account,
        amount: e.amount,
        currency,
        kind,
        reference,
      })),
    )
    .execute();
  return journalId;
}

export async function balance(db: Db, account: string, currency: string): Promise<number> {
  const row = await db
    .selectFrom('ledger_entries')
    .select(sql<string>`coalesce(sum(amount), 0)`.as('b'))
    .where('ledger_account', '=', account)
    .where('currency', '=', currency)
    .executeTakeFirstOrThrow();
  return Number(row.b);
}

/** The whole ledger's sum per currency, and the journals that do not sum to zero (both must be empty / zero). */
export async function trialBalance(db: Db): Promise<{ totals: Record<string, number>; unbalancedJournals: string[] }> {
  const totals = await db
    .selectFrom('ledger_entries')
    .select(['currency', sql<string>`sum(amount)`.as('s')])
    .groupBy('currency')
    .execute();
  const bad = await db
    .selectFrom('ledger_entries')
    .select('journal_id')
    .groupBy('journal_id')
    .having(sql`sum(amount)`, '<>', 0)
    .execute();
  return {
    totals: Object.fromEntries(totals.map((t) => [t.currency, Number(t.s)])),
    unbalancedJournals: bad.map((b) => b.journal_id),
  };
}
