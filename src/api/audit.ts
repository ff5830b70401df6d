// The audit helper routes call for every change and every remote command: who (user or key), what, on
// which target, from where, and how it ended. Failures to write the audit log are not swallowed.
import type { FastifyRequest } from 'fastify';
import type { AuditEntry } from '../access/service.ts';

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
