// Transaction reads: the list (filtered by station, site, status, token and time), one transaction with its
// meter samples, and a CSV export of the same list for spreadsheets and accounting.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { stringify } from 'csv-stringify/sync';
import { neutraliseFormula } from '../reports/spreadsheet-cells.ts';
import { authorize, principalOf } from './auth.ts';
import { canSee, visibleStations } from './scope.ts';
import { DateTime, IdTokenValue, Nullable, Page, PageQuery, StationId, Uuid, errorResponses } from './schemas.ts';
import { countOf, iso, withinScope } from './common.ts';
import { notFound } from './errors.ts';
import type { Role } from '../access/tables.ts';
import { CostSoFarSchema } from './billing-routes.ts';

/** Transactions carry drivers' token ids: technicians (who fix hardware) do not read them. */
const READERS: Role[] = ['admin', 'operator', 'site_host', 'read_only'];

export const TransactionSchema = Type.Object({
  id: Type.String(),
  stationId: Type.String(),
  evseId: Type.Integer(),
  connectorId: Type.Integer(),
  chargerTransactionId: Type.String(),
  status: Type.String(),
  idToken: Nullable(Type.String()),
  authStatus: Nullable(Type.String()),
  chargingState: Nullable(Type.String()),
  startedAt: Nullable(DateTime),
  stoppedAt: Nullable(DateTime),
  meterStartWh: Nullable(Type.Number()),
  meterStopWh: Nullable(Type.Number()),
  energyWh: Nullable(Type.Number()),
  stopReason: Nullable(Type.String()),
  offline: Type.Boolean(),
  idUnknown: Type.Boolean({
    description:
      'named by a transaction id OpenCPO never issued (a 1.6 stop of an unknown transaction): billed to no one',
  }),
});

const MeterSampleSchema = Type.Object({
  sampledAt: DateTime,
  measurand: Type.String(),
  phase: Nullable(Type.String()),
  location: Nullable(Type.String()),
  unit: Type.String(),
  value: Nullable(Type.Number()),
  context: Nullable(Type.String()),
});

const ListQuery = Type.Object(
  {
    ...PageQuery,
    stationId: Type.Optional(StationId),
    locationId: Type.Optional(Uuid),
    organisationId: Type.Optional(Uuid),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('ended')])),
    idToken: Type.Optional(IdTokenValue),
    from: Type.Optional(DateTime),
    to: Type.Optional(DateTime),
  },
  { additionalProperties: false },
);
type ListQuery = Static<typeof ListQuery>;

function toApi(t: Record<string, any>) {
  return {
    id: t.id,
    stationId: t.station_id,
    evseId: t.evse_id,
    connectorId: t.connector_id,
    chargerTransactionId: t.charger_transaction_id,
    status: t.status,
    idToken: t.id_token,
    authStatus: t.auth_status,
    chargingState: t.charging_state,
    startedAt: iso(t.started_at),
    stoppedAt: iso(t.stopped_at),
    meterStartWh: t.meter_start_wh,
    meterStopWh: t.meter_stop_wh,
    energyWh: t.energy_wh,
    stopReason: t.stop_reason,
    offline: t.offline,
    idUnknown: t.id_unknown,
  };
}

export function registerTransactionRoutes(root: FastifyInstance): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = root.api;

  async function filtered(req: FastifyRequest, q: ListQuery) {
    let query = withinScope(
      db.selectFrom('transactions as t'),
      't.station_id',
      await visibleStations(principalOf(req)),
    );
    if (q.stationId) query = query.where('t.station_id', '=', q.stationId);
    if (q.locationId) {
      const locationId = q.locationId;
      query = query.where((eb) =>
        eb.exists(
          eb
            .selectFrom('station_assets as a')
            .select('a.station_id')
            .whereRef('a.station_id', '=', 't.station_id')
            .where('a.location_id', '=', locationId),
        ),
      );
    }
    if (q.organisationId) {
      const organisationId = q.organisationId;
      query = query.where((eb) =>
        eb.exists(
          eb
            .selectFrom('station_assets as a')
            .innerJoin('locations as l', 'l.id', 'a.location_id')
            .select('a.station_id')
            .whereRef('a.station_id', '=', 't.station_id')
            .where('l.organisation_id', '=', organisationId),
        ),
      );
    }
    if (q.status) query = query.where('t.status', '=', q.status);
    if (q.idToken) query = query.where('t.id_token', '=', q.idToken);
    // A transaction is in a time range when it started in it (or, not started yet, was created in it).
    if (q.from) query = query.where((eb) => eb.fn.coalesce('t.started_at', 't.created_at'), '>=', new Date(q.from));
    if (q.to) query = query.where((eb) => eb.fn.coalesce('t.started_at', 't.created_at'), '<', new Date(q.to));
    return query;
  }

  app.get(
    '/api/v1/transactions',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['transactions'],
        summary: 'List transactions, newest first',
        querystring: ListQuery,
        response: { 200: Page(TransactionSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const q = req.query;
      const query = await filtered(req, q);
      const [rows, total] = await Promise.all([
        query.selectAll('t').orderBy('t.created_at', 'desc').orderBy('t.id').limit(q.limit).offset(q.offset).execute(),
        query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirst(),
      ]);
      return { items: rows.map(toApi), total: countOf(total), limit: q.limit, offset: q.offset };
    },
  );

  app.get(
    '/api/v1/transactions.csv',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['transactions'],
        summary: 'The same list as CSV (up to 1000 rows per page)',
        querystring: ListQuery,
        produces: ['text/csv'],
        response: { 200: Type.String({ description: 'text/csv' }), ...errorResponses() },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const query = await filtered(req, q);
      const rows = await query
        .selectAll('t')
        .orderBy('t.created_at', 'desc')
        .orderBy('t.id')
        .limit(q.limit)
        .offset(q.offset)
        .execute();
      const columns = Object.keys(TransactionSchema.properties);
      // csv-stringify quotes what needs quoting; a leading =,+,-,@ is escaped so spreadsheets do not run it.
      const body = stringify(
        rows.map((r) => toApi(r) as Record<string, unknown>),
        { header: true, columns, cast: { string: neutraliseFormula, boolean: (b) => String(b) } },
      );
      reply.header('content-type', 'text/csv; charset=utf-8');
      reply.header('content-disposition', 'attachment; filename="transactions.csv"');
      return body;
    },
  );

  app.get(
    '/api/v1/transactions/:transactionId',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['transactions'],
        summary: 'One transaction with its meter samples',
        params: Type.Object({ transactionId: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }) }),
        response: {
          200: Type.Intersect([
            TransactionSchema,
            Type.Object({
              meterSamples: Type.Array(MeterSampleSchema),
              // Billing (issue 4): the session's cost so far with its pinned tariff; null when no tariff applies.
              cost: Type.Optional(Nullable(CostSoFarSchema)),
            }),
          ]),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      const t = await db
        .selectFrom('transactions')
        .selectAll()
        .where('id', '=', req.params.transactionId)
        .executeTakeFirst();
      if (!t || !canSee(await visibleStations(principalOf(req)), t.station_id)) {
        throw notFound(`transaction ${req.params.transactionId}`);
      }
      const samples = await db
        .selectFrom('meter_samples')
        .selectAll()
        .where('transaction_id', '=', t.id)
        .orderBy('sampled_at')
        .orderBy('id')
        .execute();
      // Billing (issue 4) registers `transactionCost` (src/api/billing-routes.ts); without it there is no cost.
      const cost = root.transactionCost ? await root.transactionCost(t.id) : undefined;
      return {
        ...toApi(t),
        ...(cost !== undefined ? { cost } : {}),
        meterSamples: samples.map((s) => ({
          sampledAt: iso(s.sampled_at)!,
          measurand: s.measurand,
          phase: s.phase,
          location: s.location,
          unit: s.unit,
          value: Number.isFinite(s.value) ? s.value : null,
          context: s.context,
        })),
      };
    },
  );
}
