// Id tokens (RFID cards, app users, other tokens) over HTTP: list, read, create, change (block, expire,
// regroup under a parent token), bulk import from CSV, and each station's local authorization list
// version. The register itself belongs to the sessions domain, which authorizes against it.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { parse } from 'csv-parse/sync';
import { ApiError, notFound } from './errors.ts';
import { ALL_ROLES, authorize } from './auth.ts';
import { audited } from './audit.ts';
import { requireVisibleStation } from './scope.ts';
import { DateTime, IdTokenValue, Nullable, Page, PageQuery, StationId, errorResponses } from './schemas.ts';
import { countOf, iso } from './common.ts';
import { buildAjv } from './validation.ts';

const WRITERS = ['admin', 'operator'] as const;
/** Token ids identify drivers: site hosts and technicians do not read the register. */
const READERS = ['admin', 'operator', 'read_only'] as const;

const TokenType = Type.Union(
  ['ISO14443', 'ISO15693', 'eMAID', 'Central', 'KeyCode', 'Local', 'MacAddress', 'NoAuthorization'].map((t) =>
    Type.Literal(t),
  ),
);
const TokenStatus = Type.Union([
  Type.Literal('accepted'),
  Type.Literal('blocked'),
  Type.Literal('expired'),
  Type.Literal('invalid'),
]);

const TokenSchema = Type.Object({
  idToken: Type.String(),
  type: Type.String(),
  status: Type.String({ description: "as stored; 'accepted' past expiresAt authorizes as expired" }),
  expiresAt: Nullable(DateTime),
  groupId: Nullable(Type.String({ description: 'parent id token: tokens of one group share it' })),
  createdAt: DateTime,
  updatedAt: DateTime,
});

const TokenFields = {
  type: Type.Optional(TokenType),
  status: Type.Optional(TokenStatus),
  expiresAt: Type.Optional(Nullable(DateTime)),
  groupId: Type.Optional(Nullable(IdTokenValue)),
};
const CreateToken = Type.Object({ idToken: IdTokenValue, ...TokenFields }, { additionalProperties: false });
type CreateToken = Static<typeof CreateToken>;

const MAX_IMPORT_ROWS = 10_000;

function view(t: Record<string, any>) {
  return {
    idToken: t.id_token,
    type: t.type,
    status: t.status,
    expiresAt: iso(t.expires_at),
    groupId: t.group_id,
    createdAt: iso(t.created_at)!,
    updatedAt: iso(t.updated_at)!,
  };
}

export function registerTokenRoutes(root: FastifyInstance): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { db, sessions } = root.api;

  // CSV imports arrive as text/csv; parsed by csv-parse in the handler.
  root.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: 2 * 1024 * 1024 }, (_req, body, done) =>
    done(null, body),
  );

  const load = (idToken: string) =>
    db.selectFrom('id_tokens').selectAll().where('id_token', '=', idToken).executeTakeFirst();

  app.get(
    '/api/v1/id-tokens',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['id tokens'],
        summary: 'List id tokens',
        querystring: Type.Object(
          {
            ...PageQuery,
            status: Type.Optional(TokenStatus),
            groupId: Type.Optional(IdTokenValue),
            prefix: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9*_=:+|@.-]{1,36}$' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(TokenSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const q = req.query;
      let query = db.selectFrom('id_tokens');
      if (q.status) query = query.where('status', '=', q.status);
      if (q.groupId) query = query.where('group_id', '=', q.groupId);
      // The pattern admits no LIKE wildcards but '_': escape it.
      if (q.prefix) query = query.where('id_token', 'like', `${q.prefix.replace(/_/g, '\\_')}%`);
      const [rows, total] = await Promise.all([
        query.selectAll().orderBy('id_token').limit(q.limit).offset(q.offset).execute(),
        query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirst(),
      ]);
      return { items: rows.map(view), total: countOf(total), limit: q.limit, offset: q.offset };
    },
  );

  app.get(
    '/api/v1/id-tokens/:idToken',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['id tokens'],
        summary: 'One id token',
        params: Type.Object({ idToken: IdTokenValue }),
        response: { 200: TokenSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      const row = await load(req.params.idToken);
      if (!row) throw notFound(`id token ${req.params.idToken}`);
      return view(row);
    },
  );

  app.post(
    '/api/v1/id-tokens',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['id tokens'],
        summary: 'Create an id token',
        body: CreateToken,
        response: { 201: TokenSchema, ...errorResponses(409) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      if (await load(b.idToken)) throw new ApiError(409, 'duplicate', `body.idToken: ${b.idToken} exists`);
      await audited(
        req,
        (trx) => sessions.upsertIdToken({ ...b, expiresAt: b.expiresAt ? new Date(b.expiresAt) : null }, trx),
        { action: 'id_token.create', target: b.idToken, outcome: 'success', details: b },
      );
      return reply.code(201).send(view((await load(b.idToken))!));
    },
  );

  app.patch(
    '/api/v1/id-tokens/:idToken',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['id tokens'],
        summary: 'Change an id token: block or unblock, expire, move to another group (parent token)',
        params: Type.Object({ idToken: IdTokenValue }),
        body: Type.Object(TokenFields, { additionalProperties: false, minProperties: 1 }),
        response: { 200: TokenSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      const current = await load(req.params.idToken);
      if (!current) throw notFound(`id token ${req.params.idToken}`);
      const b = req.body;
      await audited(
        req,
        (trx) =>
          sessions.upsertIdToken(
            {
              idToken: current.id_token,
              type: b.type ?? current.type,
              status: b.status ?? (current.status as NonNullable<CreateToken['status']>),
              expiresAt: b.expiresAt !== undefined ? (b.expiresAt ? new Date(b.expiresAt) : null) : current.expires_at,
              groupId: b.groupId !== undefined ? b.groupId : current.group_id,
            },
            trx,
          ),
        { action: 'id_token.update', target: current.id_token, outcome: 'success', details: b },
      );
      return view((await load(current.id_token))!);
    },
  );

  const validRow = buildAjv(false).compile(CreateToken);
  app.post(
    '/api/v1/id-tokens/import',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['id tokens'],
        summary:
          'Bulk import (create or update) from CSV with a header: idToken,type,status,expiresAt,groupId. All rows or none.',
        consumes: ['text/csv'],
        body: Type.String({ maxLength: 2 * 1024 * 1024, description: 'text/csv' }),
        response: { 200: Type.Object({ imported: Type.Integer() }), ...errorResponses(413, 415) },
      },
    },
    async (req) => {
      if (!(req.headers['content-type'] ?? '').startsWith('text/csv')) {
        throw new ApiError(415, 'unsupported_media_type', 'send the CSV as text/csv');
      }
      let records: Record<string, string>[];
      try {
        records = parse(req.body, {
          columns: true,
          skip_empty_lines: true,
          trim: true,
          bom: true,
          max_record_size: 4096,
        });
      } catch (err) {
        throw new ApiError(400, 'invalid_csv', `body: ${(err as Error).message}`);
      }
      if (records.length === 0) throw new ApiError(400, 'invalid_csv', 'body: no rows');
      if (records.length > MAX_IMPORT_ROWS) {
        throw new ApiError(400, 'invalid_csv', `body: at most ${MAX_IMPORT_ROWS} rows per import`);
      }
      const tokens: CreateToken[] = [];
      const problems: { row: number; field: string; problem: string }[] = [];
      records.forEach((record, i) => {
        // Empty cells mean "not given".
        const row = Object.fromEntries(Object.entries(record).filter(([, v]) => v !== ''));
        if (validRow(row)) tokens.push(row as CreateToken);
        else {
          const e = validRow.errors?.[0];
          const field =
            e?.keyword === 'additionalProperties'
              ? String(e.params.additionalProperty)
              : e?.keyword === 'required'
                ? String(e.params.missingProperty)
                : (e?.instancePath ?? '').slice(1);
          problems.push({ row: i + 2, field, problem: e?.message ?? 'is invalid' });
        }
      });
      if (problems.length) {
        const first = problems[0]!;
        throw new ApiError(
          400,
          'validation_failed',
          `body row ${first.row}: ${first.field} ${first.problem}`,
          problems.slice(0, 100),
        );
      }
      // The register (and its authorization cache) is the sessions domain's: imported rows count at once.
      await audited(
        req,
        (trx) =>
          sessions.upsertIdTokens(
            tokens.map((t) => ({ ...t, expiresAt: t.expiresAt ? new Date(t.expiresAt) : null })),
            trx,
          ),
        { action: 'id_token.import', target: null, outcome: 'success', details: { rows: tokens.length } },
      );
      return { imported: tokens.length };
    },
  );

  app.get(
    '/api/v1/stations/:stationId/local-list',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['id tokens'],
        summary: 'The local authorization list version last accepted by the station (0: none sent)',
        params: Type.Object({ stationId: StationId }),
        response: {
          200: Type.Object({ version: Type.Integer(), entries: Type.Integer(), sentAt: Nullable(DateTime) }),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      await requireVisibleStation(req, req.params.stationId);
      const row = await db
        .selectFrom('local_list_versions')
        .selectAll()
        .where('station_id', '=', req.params.stationId)
        .executeTakeFirst();
      return { version: row?.version ?? 0, entries: row?.entries ?? 0, sentAt: iso(row?.sent_at) };
    },
  );
}
