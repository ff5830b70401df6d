// Idempotency keys for every API route that takes one (they were kept for work-order updates only, in a table of
// their own): one table, keyed per principal, whose row is reserved in the transaction of the change it guards.
import { sql, type Kysely } from 'kysely';

const statements = [
  sql`CREATE TABLE api_idempotency (
    principal text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status_code integer,
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
  )`,
  sql`DROP TABLE work_order_idempotency`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}
