// Users, sessions, API keys and the audit log. Only admins manage users and keys; keys are shown once at
// creation and only their digest is stored; the audit log can be read, never changed.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ApiError, notFound } from './errors.ts';
import { ALL_ROLES, authorize, bearerOf, principalOf } from './auth.ts';
import { audited } from './audit.ts';
import { inTransaction } from '../storage/transactions.ts';
import { DateTime, Email, Nullable, Page, PageQuery, Text, Uuid, errorResponses } from './schemas.ts';
import { countOf, iso } from './common.ts';
import { AccessValidationError, DuplicateError } from '../access/service.ts';
import { ROLES } from '../access/tables.ts';
import { FailedLogins } from '../access/failed-logins.ts';

const RoleSchema = Type.Union(ROLES.map((r) => Type.Literal(r)));
const Password = Type.String({ minLength: 12, maxLength: 200, description: 'at least 12 characters' });

const UserSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.String(),
  role: Type.String(),
  organisationId: Nullable(Type.String()),
  disabledAt: Nullable(DateTime),
  lastLoginAt: Nullable(DateTime),
  createdAt: DateTime,
});

const KeySchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String({ description: 'first 12 characters of a generated key; empty for the bootstrap key' }),
  role: Type.String(),
  organisationId: Nullable(Type.String()),
  createdBy: Nullable(Type.String()),
  createdAt: DateTime,
  expiresAt: Nullable(DateTime),
  lastUsedAt: Nullable(DateTime),
  revokedAt: Nullable(DateTime),
});

function userView(u: Record<string, any>) {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    role: u.role,
    organisationId: u.organisation_id,
    disabledAt: iso(u.disabled_at),
    lastLoginAt: iso(u.last_login_at),
    createdAt: iso(u.created_at)!,
  };
}

/** A site host is always tied to one organisation; other roles see everything. */
async function checkOrganisation(app: FastifyInstance, role: string, organisationId: string | null | undefined) {
  if (role === 'site_host' && !organisationId) {
    throw new ApiError(422, 'organisation_required', 'body.organisationId is required for the site_host role');
  }
  if (organisationId) {
    const org = await app.api.db
      .selectFrom('organisations')
      .select('id')
      .where('id', '=', organisationId)
      .executeTakeFirst();
    if (!org) throw new ApiError(422, 'unknown_organisation', `body.organisationId: no organisation ${organisationId}`);
  }
}

export function registerAccessRoutes(root: FastifyInstance, options: { loginLimitPerMinute: number }): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { db, access } = root.api;
  // Per address (the rate limit below) and per account (guesses spread over many addresses), the same number.
  const failedLogins = new FailedLogins({ limit: options.loginLimitPerMinute });

  app.post(
    '/api/v1/auth/login',
    {
      config: {
        rateLimit: { max: options.loginLimitPerMinute, timeWindow: 60_000, keyGenerator: (req) => `login:${req.ip}` },
      },
      schema: {
        tags: ['access'],
        summary: 'Log in with e-mail and password; answers a session token for Authorization: Bearer',
        security: [],
        body: Type.Object(
          { email: Email, password: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            token: Type.String(),
            expiresAt: DateTime,
            user: Type.Object({ id: Type.String(), name: Type.String(), role: Type.String() }),
          }),
          ...errorResponses(),
        },
      },
    },
    async (req) => {
      const { email } = req.body;
      const lockedMs = failedLogins.attempt(email);
      if (lockedMs > 0) {
        await access.audit(
          { kind: 'anonymous', id: null, name: email, role: null, organisationId: null },
          { action: 'auth.login', target: email, outcome: 'locked' },
          req.ip,
        );
        throw new ApiError(
          429,
          'rate_limited',
          `too many failed logins for this account; retry in ${Math.ceil(lockedMs / 1000)} s`,
        );
      }
      const user = await access.checkLogin(email, req.body.password);
      // The session and the entry that records it commit together.
      const session = await inTransaction(db, async (trx) => {
        const opened = user ? await access.openSession(user, req.ip, trx) : undefined;
        await access.audit(
          user
            ? { kind: 'user', ...user }
            : { kind: 'anonymous', id: null, name: email, role: null, organisationId: null },
          { action: 'auth.login', target: email, outcome: user ? 'success' : 'denied' },
          req.ip,
          trx,
        );
        return opened;
      });
      if (user) failedLogins.succeeded(email);
      if (!user || !session) throw new ApiError(401, 'invalid_credentials', 'the e-mail or password is wrong');
      return {
        token: session.token,
        expiresAt: session.expiresAt.toISOString(),
        user: { id: user.id, name: user.name, role: user.role },
      };
    },
  );

  app.post(
    '/api/v1/auth/logout',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['access'],
        summary: 'End the current session',
        response: { 204: Type.Null(), ...errorResponses() },
      },
    },
    async (req, reply) => {
      const principal = principalOf(req);
      if (principal.kind !== 'user') throw new ApiError(400, 'not_a_session', 'API keys are revoked, not logged out');
      await audited(req, (trx) => access.logout(bearerOf(req)!, trx), {
        action: 'auth.logout',
        target: principal.id,
        outcome: 'success',
      });
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/v1/auth/me',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['access'],
        summary: 'Who the credential belongs to',
        response: {
          200: Type.Object({
            kind: Type.String(),
            id: Type.String(),
            name: Type.String(),
            role: Type.String(),
            organisationId: Nullable(Type.String()),
          }),
          ...errorResponses(),
        },
      },
    },
    async (req) => ({ ...principalOf(req) }),
  );

  // ---- users ---------------------------------------------------------------------------------------

  app.get(
    '/api/v1/users',
    {
      preHandler: authorize('admin'),
      schema: {
        tags: ['access'],
        summary: 'List users',
        querystring: Type.Object(PageQuery, { additionalProperties: false }),
        response: { 200: Page(UserSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const [rows, total] = await Promise.all([
        db.selectFrom('users').selectAll().orderBy('email').limit(req.query.limit).offset(req.query.offset).execute(),
        db
          .selectFrom('users')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirst(),
      ]);
      return {
        items: rows.map(userView),
        total: countOf(total),
        limit: req.query.limit,
        offset: req.query.offset,
      };
    },
  );

  app.post(
    '/api/v1/users',
    {
      preHandler: authorize('admin'),
      schema: {
        tags: ['access'],
        summary: 'Create a user (password stored with scrypt)',
        body: Type.Object(
          {
            email: Email,
            name: Text(100),
            password: Password,
            role: RoleSchema,
            organisationId: Type.Optional(Nullable(Uuid)),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ id: Type.String() }), ...errorResponses(409, 422) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      await checkOrganisation(root, b.role, b.organisationId);
      try {
        const created = await audited(
          req,
          (trx) => access.createUser(b, trx),
          (c) => ({
            action: 'user.create',
            target: c.id,
            outcome: 'success',
            details: { email: b.email, role: b.role },
          }),
        );
        return reply.code(201).send(created);
      } catch (err) {
        if (err instanceof DuplicateError) throw new ApiError(409, 'duplicate', `body.email: ${err.message}`);
        throw err;
      }
    },
  );

  app.patch(
    '/api/v1/users/:userId',
    {
      preHandler: authorize('admin'),
      schema: {
        tags: ['access'],
        summary: "Change a user's name, role, organisation or password (ends their sessions)",
        params: Type.Object({ userId: Uuid }),
        body: Type.Object(
          {
            name: Type.Optional(Text(100)),
            role: Type.Optional(RoleSchema),
            organisationId: Type.Optional(Nullable(Uuid)),
            password: Type.Optional(Password),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: UserSchema, ...errorResponses(404, 422) },
      },
    },
    async (req) => {
      const current = await db.selectFrom('users').selectAll().where('id', '=', req.params.userId).executeTakeFirst();
      if (!current) throw notFound(`user ${req.params.userId}`);
      const b = req.body;
      await checkOrganisation(
        root,
        b.role ?? current.role,
        b.organisationId !== undefined ? b.organisationId : current.organisation_id,
      );
      const { password, ...details } = b;
      await audited(req, (trx) => access.updateUser(current.id, b, trx), {
        action: 'user.update',
        target: current.id,
        outcome: 'success',
        details: { ...details, ...(password ? { password: 'changed' } : {}) },
      });
      const u = await db.selectFrom('users').selectAll().where('id', '=', current.id).executeTakeFirstOrThrow();
      return userView(u);
    },
  );

  app.post(
    '/api/v1/users/:userId/disable',
    {
      preHandler: authorize('admin'),
      schema: {
        tags: ['access'],
        summary: 'Disable a user: end their sessions and revoke the API keys they created (and those keys created)',
        params: Type.Object({ userId: Uuid }),
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      const exists = await db.selectFrom('users').select('id').where('id', '=', req.params.userId).executeTakeFirst();
      if (!exists) throw notFound(`user ${req.params.userId}`);
      await audited(req, (trx) => access.disableUser(req.params.userId, trx), {
        action: 'user.disable',
        target: req.params.userId,
        outcome: 'success',
      });
      return reply.code(204).send(null);
    },
  );

  // ---- API keys ------------------------------------------------------------------------------------

  app.get(
    '/api/v1/api-keys',
    {
      preHandler: authorize('admin'),
      schema: {
        tags: ['access'],
        summary: 'List API keys (never their secrets)',
        querystring: Type.Object(PageQuery, { additionalProperties: false }),
        response: { 200: Page(KeySchema), ...errorResponses() },
      },
    },
    async (req) => {
      const [rows, total] = await Promise.all([
        db
          .selectFrom('api_keys')
          .selectAll()
          .orderBy('created_at')
          .limit(req.query.limit)
          .offset(req.query.offset)
          .execute(),
        db
          .selectFrom('api_keys')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirst(),
      ]);
      return {
        items: rows.map((k) => ({
          id: k.id,
          name: k.name,
          prefix: k.prefix,
          role: k.role,
          organisationId: k.organisation_id,
          createdBy: k.created_by,
          createdAt: iso(k.created_at)!,
          expiresAt: iso(k.expires_at),
          lastUsedAt: iso(k.last_used_at),
          revokedAt: iso(k.revoked_at),
        })),
        total: countOf(total),
        limit: req.query.limit,
        offset: req.query.offset,
      };
    },
  );

  app.post(
    '/api/v1/api-keys',
    {
      preHandler: authorize('admin'),
      schema: {
        tags: ['access'],
        summary: 'Create an API key; the key is in this answer only',
        body: Type.Object(
          {
            name: Text(100),
            role: RoleSchema,
            organisationId: Type.Optional(Nullable(Uuid)),
            expiresAt: Type.Optional(Nullable(DateTime)),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ id: Type.String(), key: Type.String() }), ...errorResponses(422) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      await checkOrganisation(root, b.role, b.organisationId);
      const created = await audited(
        req,
        (trx) =>
          access.createApiKey(
            {
              name: b.name,
              role: b.role,
              organisationId: b.organisationId ?? null,
              expiresAt: b.expiresAt ? new Date(b.expiresAt) : null,
              createdBy: principalOf(req).id,
            },
            undefined,
            trx,
          ),
        (c) => ({
          action: 'api_key.create',
          target: c.id,
          outcome: 'success',
          details: { name: b.name, role: b.role },
        }),
      ).catch((err: unknown) => {
        if (!(err instanceof AccessValidationError)) throw err;
        const field = `body.${err.field}`;
        throw new ApiError(400, 'validation_failed', `${field} ${err.problem}`, [{ field, problem: err.problem }]);
      });
      return reply.code(201).send(created);
    },
  );

  app.delete(
    '/api/v1/api-keys/:keyId',
    {
      preHandler: authorize('admin'),
      schema: {
        tags: ['access'],
        summary: 'Revoke an API key',
        params: Type.Object({ keyId: Uuid }),
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      const revoked = await audited(
        req,
        (trx) => access.revokeApiKey(req.params.keyId, trx),
        (done) => ({ action: 'api_key.revoke', target: req.params.keyId, outcome: done ? 'success' : 'not_found' }),
      );
      if (!revoked) throw notFound(`active API key ${req.params.keyId}`);
      return reply.code(204).send(null);
    },
  );

  // ---- audit log -----------------------------------------------------------------------------------

  app.get(
    '/api/v1/audit-log',
    {
      preHandler: authorize('admin', 'operator'),
      schema: {
        tags: ['access'],
        summary: 'The audit log, newest first (read-only)',
        querystring: Type.Object(
          {
            ...PageQuery,
            from: Type.Optional(DateTime),
            to: Type.Optional(DateTime),
            action: Type.Optional(Type.String({ pattern: '^[a-z_.-]{1,60}$' })),
            target: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9*_=:+|@./-]{1,254}$' })),
            actorId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' })),
            outcome: Type.Optional(Type.String({ pattern: '^[a-z_]{1,40}$' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Page(
            Type.Object({
              id: Type.String(),
              at: DateTime,
              actorKind: Type.String(),
              actorId: Nullable(Type.String()),
              actorName: Nullable(Type.String()),
              actorRole: Nullable(Type.String()),
              action: Type.String(),
              target: Nullable(Type.String()),
              outcome: Type.String(),
              details: Type.Record(Type.String(), Type.Unknown()),
              ip: Nullable(Type.String()),
            }),
          ),
          ...errorResponses(),
        },
      },
    },
    async (req) => {
      const q = req.query;
      let query = db.selectFrom('audit_log');
      if (q.from) query = query.where('at', '>=', new Date(q.from));
      if (q.to) query = query.where('at', '<', new Date(q.to));
      if (q.action) query = query.where('action', '=', q.action);
      if (q.target) query = query.where('target', '=', q.target);
      if (q.actorId) query = query.where('actor_id', '=', q.actorId);
      if (q.outcome) query = query.where('outcome', '=', q.outcome);
      const [rows, total] = await Promise.all([
        query.selectAll().orderBy('id', 'desc').limit(q.limit).offset(q.offset).execute(),
        query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirst(),
      ]);
      return {
        items: rows.map((r) => ({
          id: String(r.id),
          at: iso(r.at)!,
          actorKind: r.actor_kind,
          actorId: r.actor_id,
          actorName: r.actor_name,
          actorRole: r.actor_role,
          action: r.action,
          target: r.target,
          outcome: r.outcome,
          details: r.details,
          ip: r.ip,
        })),
        total: countOf(total),
        limit: q.limit,
        offset: q.offset,
      };
    },
  );
}
