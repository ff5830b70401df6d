// The audit helpers routes call for every change and every remote command: who (user or key), what, on
// which target, from where, and how it ended. A change and its entry are written in one transaction
// (`audited`), so neither exists without the other. Failures to write the audit log are not swallowed.
import type { FastifyRequest } from 'fastify';
import type { Transaction } from 'kysely';
import type { Actor, AuditEntry, AuditOutcome } from '../access/service.ts';
import { CommandRejectedError, CommandTimeoutError, StationOfflineError } from '../stations/commands.ts';
import type { Database } from '../storage/schema.ts';
import { inTransaction, type Executor } from '../storage/transactions.ts';

/** The caller as the audit log names it. */
export function actorOf(req: FastifyRequest): Actor {
  const p = req.principal;
  return p
    ? { kind: p.kind, id: p.id, name: p.name, role: p.role, organisationId: p.organisationId }
    : { kind: 'anonymous', id: null, name: null, role: null, organisationId: null };
}

/** Writes an entry on its own: for what changes nothing (refusals, commands a charger was sent). */
export async function audit(req: FastifyRequest, entry: AuditEntry, db?: Executor): Promise<void> {
  await req.server.api.access.audit(actorOf(req), entry, req.ip ?? null, db);
}

/**
 * Applies a change and writes its audit entry in one transaction (the caller's, when `db` is one): both
 * commit, or neither. The entry may depend on what the change returned (the id it created, whether it found
 * its target). Everything the change reads or writes must go through `trx`.
 */
export async function audited<T>(
  req: FastifyRequest,
  change: (trx: Transaction<Database>) => Promise<T>,
  entry: AuditEntry | ((result: T) => AuditEntry),
  db: Executor = req.server.api.db,
): Promise<T> {
  return inTransaction(db, async (trx) => {
    const result = await change(trx);
    await audit(req, typeof entry === 'function' ? entry(result) : entry, trx);
    return result;
  });
}

/** The outcome of a command the charger did not answer with a status: the words the command routes use. */
export function commandFailureOutcome(err: unknown): AuditOutcome {
  if (err instanceof StationOfflineError) return 'offline';
  if (err instanceof CommandTimeoutError) return 'timeout';
  if (err instanceof CommandRejectedError) return 'callerror';
  return 'error';
}
