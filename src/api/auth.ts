// Authentication and authorization. Every /api/v1 route needs a credential unless listed as public:
// `Authorization: Bearer <key>` for machines (API keys) and people (the session token from POST
// /api/v1/auth/login). `authorize(...roles)` is the preHandler that answers 403 to anyone else.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';
import type { Principal } from './context.ts';
import { bindPrincipal } from './scope.ts';
import { audit } from './audit.ts';
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

export interface AuthenticationOptions {
  /** Told of each secret that proved valid (the rate limiter then counts it per key, not per address). */
  onAuthenticated?: (secret: string) => void;
}

export function installAuthentication(app: FastifyInstance, options: AuthenticationOptions = {}): void {
  app.decorateRequest('principal', undefined);
  // preParsing: after the rate limiter (an onRequest hook of each route), so failed attempts are counted
  // too, and before the body is read, so nobody unauthenticated gets a large body parsed.
  app.addHook('preParsing', async (req, _reply, payload) => {
    const path = req.url.split('?')[0] ?? '';
    if (!path.startsWith('/api/v1/') || PUBLIC.some((p) => p.test(path))) return payload;
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
    options.onAuthenticated?.(secret);
    return payload;
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
      // A refused attempt to change something is worth knowing about; refused reads are not audited.
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        await audit(req, {
          action: 'access.refused',
          target: req.url.split('?')[0] ?? null,
          outcome: 'forbidden',
          details: { method: req.method, route: req.routeOptions.url ?? null },
        });
      }
      throw new ApiError(403, 'forbidden', `the ${principal.role} role may not do this`);
    }
  };
}
