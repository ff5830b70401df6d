// Authentication and authorization. Every /api/v1 route needs a credential unless listed as public:
// `Authorization: Bearer <key>` for machines (API keys) and people (the session token from POST
// /api/v1/auth/login). `authorize(...roles)` is the preHandler that answers 403 to anyone else.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';
import type { Principal } from './context.ts';
import { bindPrincipal } from './scope.ts';
import type { Role } from '../access/tables.ts';

/** Routes anyone may call: the documentation and logging in. */
const PUBLIC = [/^\/api\/v1\/openapi\.json$/, /^\/api\/v1\/docs(\/|$)/, /^\/api\/v1\/auth\/login$/];

export const ALL_ROLES: Role[] = ['admin', 'operator', 'site_host', 'technician', 'read_only'];

export function bearerOf(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S{1,512})$/i.exec(header);
  return match?.[1];
}

export function installAuthentication(app: FastifyInstance): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    if (!path.startsWith('/api/v1/') || PUBLIC.some((p) => p.test(path))) return;
    const secret = bearerOf(req);
    if (!secret) throw new ApiError(401, 'unauthenticated', 'send Authorization: Bearer <API key or session token>');
    const actor = await app.api.access.authenticate(secret);
    if (!actor || !actor.id || !actor.role) {
      throw new ApiError(401, 'unauthenticated', 'the credential is unknown, expired or revoked');
    }
    req.principal = {
      kind: actor.kind as Principal['kind'],
      id: actor.id,
      name: actor.name ?? actor.id,
      role: actor.role,
      organisationId: actor.organisationId,
    };
    bindPrincipal(req.principal, app.api.db);
  });
}

/** The caller, or 401 when the route was reached without one. */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new ApiError(401, 'unauthenticated', 'authentication required');
  return req.principal;
}

/** preHandler: only these roles may call the route. */
export function authorize(...roles: Role[]) {
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const principal = principalOf(req);
    if (!roles.includes(principal.role)) {
      throw new ApiError(403, 'forbidden', `the ${principal.role} role may not do this`);
    }
  };
}
