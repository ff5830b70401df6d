// The audit helper routes call for every change and every remote command: who (user or key), what, on
// which target, from where, and how it ended. Failures to write the audit log are not swallowed.
import type { FastifyRequest } from 'fastify';
import type { AuditEntry, AuditOutcome } from '../access/service.ts';
import { CommandRejectedError, CommandTimeoutError, StationOfflineError } from '../stations/commands.ts';

export async function audit(req: FastifyRequest, entry: AuditEntry): Promise<void> {
  const p = req.principal;
  await req.server.api.access.audit(
    p
      ? { kind: p.kind, id: p.id, name: p.name, role: p.role, organisationId: p.organisationId }
      : { kind: 'anonymous', id: null, name: null, role: null, organisationId: null },
    entry,
    req.ip ?? null,
  );
}

/** The outcome of a command the charger did not answer with a status: the words the command routes use. */
export function commandFailureOutcome(err: unknown): AuditOutcome {
  if (err instanceof StationOfflineError) return 'offline';
  if (err instanceof CommandTimeoutError) return 'timeout';
  if (err instanceof CommandRejectedError) return 'callerror';
  return 'error';
}
