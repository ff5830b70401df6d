// Units of work that span services: a service method that writes takes an executor (the database, or the
// transaction of the caller's change) and runs its statements on it, so a change, its audit entry and its
// idempotency key commit together or not at all. What must wait for the commit (clearing a read cache, so a
// read between the write and the commit cannot cache the old row again) is queued with afterCommit.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.ts';

/** Where statements run: the database, or a transaction that is already open. */
export type Executor = Kysely<Database>;

/** Work to run once each open transaction (made by inTransaction) has committed. */
const committed = new WeakMap<Kysely<Database>, (() => void)[]>();

/**
 * Runs `work` in a transaction: the executor's own when it is one (its owner commits), else a new one. On
 * PGlite the one connection is the transaction's until it ends, so everything inside must use `trx`.
 */
export async function inTransaction<T>(
  executor: Executor,
  work: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  if (executor.isTransaction) return work(executor as Transaction<Database>);
  const callbacks: (() => void)[] = [];
  const result = await executor.transaction().execute((trx) => {
    committed.set(trx, callbacks);
    return work(trx);
  });
  for (const callback of callbacks) callback();
  return result;
}

/** Runs `callback` once the executor's work is committed: at once when it is not a transaction of inTransaction. */
export function afterCommit(executor: Executor, callback: () => void): void {
  const queue = executor.isTransaction ? committed.get(executor) : undefined;
  if (queue) queue.push(callback);
  else callback();
}
