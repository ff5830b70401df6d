// The asset hierarchy over HTTP: organisations (the operator and its site hosts), locations, stations with
// their place, admission, password and connector specification. Admins and operators change them; every
// change is audited; a site host reads its own organisation's part only.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ApiError, notFound } from './errors.ts';
import { ALL_ROLES, authorize, principalOf } from './auth.ts';
import { audited } from './audit.ts';
import { requireVisibleStation } from './scope.ts';
import { DateTime, Email, Nullable, Page, PageQuery, StationId, Text, Uuid, errorResponses } from './schemas.ts';
import { countOf, iso } from './common.ts';
import { StationSchema, loadStations } from './stations.ts';
import { AssetError, type AssetsService } from '../assets/service.ts';
import type { AuditEntry } from '../access/service.ts';
import type { Database } from '../storage/schema.ts';
import type { Transaction } from 'kysely';

const WRITERS = ['admin', 'operator'] as const;

const OrganisationKind = Type.Union([Type.Literal('operator'), Type.Literal('site_host')]);
const OrganisationSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: Type.String(),
  contactEmail: Nullable(Type.String()),
  retiredAt: Nullable(DateTime),
  createdAt: DateTime,
});

const Time = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$' });
const OpeningHours = Type.Object(
  {
    twentyFourSeven: Type.Boolean(),
    regular: Type.Optional(
      Type.Array(
        Type.Object(
          { weekday: Type.Integer({ minimum: 1, maximum: 7, description: '1 = Monday' }), from: Time, to: Time },
          { additionalProperties: false },
        ),
        { maxItems: 50 },
      ),
    ),
  },
  { additionalProperties: false },
);
const ParkingRestriction = Type.Union(
  ['EV_ONLY', 'PLUGGED', 'DISABLED', 'CUSTOMERS', 'MOTORCYCLES'].map((r) => Type.Literal(r)),
);
const LocationFields = {
  organisationId: Uuid,
  name: Text(100),
  address: Text(200),
  city: Text(100),
  postalCode: Type.Optional(Nullable(Type.String({ pattern: '^[A-Za-z0-9 -]{1,12}$' }))),
  country: Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' }),
  latitude: Type.Optional(Nullable(Type.Number({ minimum: -90, maximum: 90 }))),
  longitude: Type.Optional(Nullable(Type.Number({ minimum: -180, maximum: 180 }))),
  timeZone: Type.String({
    pattern: '^[A-Za-z_]+(/[A-Za-z0-9_+-]+){0,2}$',
    maxLength: 64,
    description: 'IANA, e.g. Europe/Amsterdam',
  }),
  openingHours: Type.Optional(Nullable(OpeningHours)),
  parkingRestrictions: Type.Optional(Type.Array(ParkingRestriction, { maxItems: 5, uniqueItems: true })),
};
const LocationSchema = Type.Object({
  id: Type.String(),
  organisationId: Type.String(),
  name: Type.String(),
  address: Type.String(),
  city: Type.String(),
  postalCode: Nullable(Type.String()),
  country: Type.String(),
  latitude: Nullable(Type.Number()),
  longitude: Nullable(Type.Number()),
  timeZone: Type.String(),
  openingHours: Nullable(OpeningHours),
  parkingRestrictions: Type.Array(Type.String()),
  retiredAt: Nullable(DateTime),
  createdAt: DateTime,
});

const ConnectorSpec = Type.Object(
  {
    evseId: Type.Integer({ minimum: 1, maximum: 1000 }),
    connectorId: Type.Integer({ minimum: 1, maximum: 100 }),
    standard: Type.Union(
      [
        'IEC_62196_T1',
        'IEC_62196_T1_COMBO',
        'IEC_62196_T2',
        'IEC_62196_T2_COMBO',
        'CHADEMO',
        'CHAOJI',
        'GBT_AC',
        'GBT_DC',
        'NACS',
        'DOMESTIC',
        'OTHER',
      ].map((s) => Type.Literal(s)),
      { description: 'OCPI connector standard' },
    ),
    powerType: Type.Union(['AC_1_PHASE', 'AC_2_PHASE', 'AC_3_PHASE', 'DC'].map((s) => Type.Literal(s))),
    maxPowerW: Type.Integer({ minimum: 1, maximum: 2_000_000 }),
  },
  { additionalProperties: false },
);
const StationPassword = Type.String({ minLength: 16, maxLength: 40, description: 'OCPP Basic-auth password (16-40)' });
const Admission = Type.Union([Type.Literal('allowed'), Type.Literal('blocked')]);
const AllowUnauthenticated = Type.Boolean({
  description: 'OCPP security profile 0: may connect without Basic-auth credentials while it has no password',
});

/** Domain refusals as API errors naming the field. */
async function asApi<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AssetError) {
      const field = err.field ? `body.${err.field}: ` : '';
      if (err.code === 'not_found') throw new ApiError(404, 'not_found', err.message);
      if (err.code === 'conflict') throw new ApiError(409, 'conflict', field + err.message);
      throw new ApiError(422, 'invalid', field + err.message, err.field ? { field: `body.${err.field}` } : undefined);
    }
    throw err;
  }
}

function orgView(o: Record<string, any>) {
  return {
    id: o.id,
    name: o.name,
    kind: o.kind,
    contactEmail: o.contact_email,
    retiredAt: iso(o.retired_at),
    createdAt: iso(o.created_at)!,
  };
}

function locationView(l: Record<string, any>) {
  return {
    id: l.id,
    organisationId: l.organisation_id,
    name: l.name,
    address: l.address,
    city: l.city,
    postalCode: l.postal_code,
    country: l.country,
    latitude: l.latitude,
    longitude: l.longitude,
    timeZone: l.time_zone,
    openingHours: l.opening_hours,
    parkingRestrictions: l.parking_restrictions,
    retiredAt: iso(l.retired_at),
    createdAt: iso(l.created_at)!,
  };
}

/** A site host only reads its own organisation. */
function organisationScope(req: FastifyRequest): string | undefined {
  const p = principalOf(req);
  return p.role === 'site_host' ? (p.organisationId ?? '00000000-0000-0000-0000-000000000000') : undefined;
}

/** An audited change of the assets domain (see `audited`), its refusals answered as API errors. */
const assetChange = <T>(
  req: FastifyRequest,
  change: (trx: Transaction<Database>) => Promise<T>,
  entry: AuditEntry | ((result: T) => AuditEntry),
): Promise<T> => asApi(() => audited(req, change, entry));

export function registerAssetRoutes(root: FastifyInstance, assets: AssetsService): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = root.api;

  // ---- organisations -------------------------------------------------------------------------------

  app.get(
    '/api/v1/organisations',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['assets'],
        summary: 'List organisations',
        querystring: Type.Object(
          { ...PageQuery, kind: Type.Optional(OrganisationKind), includeRetired: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        response: { 200: Page(OrganisationSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const q = req.query;
      let query = db.selectFrom('organisations');
      const own = organisationScope(req);
      if (own) query = query.where('id', '=', own);
      if (q.kind) query = query.where('kind', '=', q.kind);
      if (!q.includeRetired) query = query.where('retired_at', 'is', null);
      const [rows, total] = await Promise.all([
        query.selectAll().orderBy('name').orderBy('id').limit(q.limit).offset(q.offset).execute(),
        query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirst(),
      ]);
      return { items: rows.map(orgView), total: countOf(total), limit: q.limit, offset: q.offset };
    },
  );

  app.get(
    '/api/v1/organisations/:organisationId',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['assets'],
        summary: 'One organisation',
        params: Type.Object({ organisationId: Uuid }),
        response: { 200: OrganisationSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      const own = organisationScope(req);
      const row = await db
        .selectFrom('organisations')
        .selectAll()
        .where('id', '=', req.params.organisationId)
        .executeTakeFirst();
      if (!row || (own && own !== row.id)) throw notFound(`organisation ${req.params.organisationId}`);
      return orgView(row);
    },
  );

  app.post(
    '/api/v1/organisations',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['assets'],
        summary: 'Create an organisation (the operator, or a site host: the mall, the hotel)',
        body: Type.Object(
          { name: Text(100), kind: OrganisationKind, contactEmail: Type.Optional(Nullable(Email)) },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ id: Type.String() }), ...errorResponses() },
      },
    },
    async (req, reply) => {
      const created = await assetChange(
        req,
        (trx) => assets.createOrganisation(req.body, trx),
        (c) => ({ action: 'organisation.create', target: c.id, outcome: 'success', details: req.body }),
      );
      return reply.code(201).send(created);
    },
  );

  app.patch(
    '/api/v1/organisations/:organisationId',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['assets'],
        summary: 'Change an organisation',
        params: Type.Object({ organisationId: Uuid }),
        body: Type.Object(
          {
            name: Type.Optional(Text(100)),
            kind: Type.Optional(OrganisationKind),
            contactEmail: Type.Optional(Nullable(Email)),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: OrganisationSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      await assetChange(req, (trx) => assets.updateOrganisation(req.params.organisationId, req.body, trx), {
        action: 'organisation.update',
        target: req.params.organisationId,
        outcome: 'success',
        details: req.body,
      });
      const row = await db
        .selectFrom('organisations')
        .selectAll()
        .where('id', '=', req.params.organisationId)
        .executeTakeFirstOrThrow();
      return orgView(row);
    },
  );

  app.post(
    '/api/v1/organisations/:organisationId/retire',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['assets'],
        summary: 'Retire an organisation (its locations must be retired first)',
        params: Type.Object({ organisationId: Uuid }),
        response: { 204: Type.Null(), ...errorResponses(404, 409) },
      },
    },
    async (req, reply) => {
      await assetChange(req, (trx) => assets.retireOrganisation(req.params.organisationId, trx), {
        action: 'organisation.retire',
        target: req.params.organisationId,
        outcome: 'success',
      });
      return reply.code(204).send(null);
    },
  );

  // ---- locations -----------------------------------------------------------------------------------

  app.get(
    '/api/v1/locations',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['assets'],
        summary: 'List locations',
        querystring: Type.Object(
          { ...PageQuery, organisationId: Type.Optional(Uuid), includeRetired: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        response: { 200: Page(LocationSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const q = req.query;
      let query = db.selectFrom('locations');
      const own = organisationScope(req);
      if (own) query = query.where('organisation_id', '=', own);
      if (q.organisationId) query = query.where('organisation_id', '=', q.organisationId);
      if (!q.includeRetired) query = query.where('retired_at', 'is', null);
      const [rows, total] = await Promise.all([
        query.selectAll().orderBy('name').orderBy('id').limit(q.limit).offset(q.offset).execute(),
        query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirst(),
      ]);
      return { items: rows.map(locationView), total: countOf(total), limit: q.limit, offset: q.offset };
    },
  );

  app.get(
    '/api/v1/locations/:locationId',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['assets'],
        summary: 'One location',
        params: Type.Object({ locationId: Uuid }),
        response: { 200: LocationSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      const own = organisationScope(req);
      const row = await db
        .selectFrom('locations')
        .selectAll()
        .where('id', '=', req.params.locationId)
        .executeTakeFirst();
      if (!row || (own && own !== row.organisation_id)) throw notFound(`location ${req.params.locationId}`);
      return locationView(row);
    },
  );

  app.post(
    '/api/v1/locations',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['assets'],
        summary: 'Create a location of an organisation',
        body: Type.Object(LocationFields, { additionalProperties: false }),
        response: { 201: Type.Object({ id: Type.String() }), ...errorResponses(422) },
      },
    },
    async (req, reply) => {
      const created = await assetChange(
        req,
        (trx) => assets.createLocation(req.body, trx),
        (c) => ({ action: 'location.create', target: c.id, outcome: 'success', details: req.body }),
      );
      return reply.code(201).send(created);
    },
  );

  app.patch(
    '/api/v1/locations/:locationId',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['assets'],
        summary: 'Change a location',
        params: Type.Object({ locationId: Uuid }),
        body: Type.Partial(Type.Object(LocationFields), { additionalProperties: false, minProperties: 1 }),
        response: { 200: LocationSchema, ...errorResponses(404, 422) },
      },
    },
    async (req) => {
      await assetChange(req, (trx) => assets.updateLocation(req.params.locationId, req.body, trx), {
        action: 'location.update',
        target: req.params.locationId,
        outcome: 'success',
        details: req.body,
      });
      return locationView(
        await db.selectFrom('locations').selectAll().where('id', '=', req.params.locationId).executeTakeFirstOrThrow(),
      );
    },
  );

  app.post(
    '/api/v1/locations/:locationId/retire',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['assets'],
        summary: 'Retire a location (its stations must be moved or retired first)',
        params: Type.Object({ locationId: Uuid }),
        response: { 204: Type.Null(), ...errorResponses(404, 409) },
      },
    },
    async (req, reply) => {
      await assetChange(req, (trx) => assets.retireLocation(req.params.locationId, trx), {
        action: 'location.retire',
        target: req.params.locationId,
        outcome: 'success',
      });
      return reply.code(204).send(null);
    },
  );

  // ---- stations ------------------------------------------------------------------------------------

  app.post(
    '/api/v1/stations',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['assets'],
        summary: 'Register a station (its password stored hashed) at a location, with its connectors',
        body: Type.Object(
          {
            id: StationId,
            name: Type.Optional(Nullable(Text(100))),
            password: Type.Optional(StationPassword),
            admission: Type.Optional(Admission),
            allowUnauthenticated: Type.Optional(AllowUnauthenticated),
            locationId: Type.Optional(Nullable(Uuid)),
            connectors: Type.Optional(Type.Array(ConnectorSpec, { maxItems: 64 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: StationSchema, ...errorResponses(409, 422) },
      },
    },
    async (req, reply) => {
      const { password, ...details } = req.body;
      await assetChange(req, (trx) => assets.registerStation(req.body, trx), {
        action: 'station.register',
        target: req.body.id,
        outcome: 'success',
        details: { ...details, password: password ? 'set' : 'none' },
      });
      const [station] = await loadStations(root, [req.body.id]);
      return reply.code(201).send(station!);
    },
  );

  app.patch(
    '/api/v1/stations/:stationId',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['assets'],
        summary: "Change a station's name, location, admission, password (null removes it) or unauthenticated access",
        params: Type.Object({ stationId: StationId }),
        body: Type.Object(
          {
            name: Type.Optional(Nullable(Text(100))),
            locationId: Type.Optional(Nullable(Uuid)),
            admission: Type.Optional(Admission),
            password: Type.Optional(Nullable(StationPassword)),
            allowUnauthenticated: Type.Optional(AllowUnauthenticated),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: StationSchema, ...errorResponses(404, 422) },
      },
    },
    async (req) => {
      await requireVisibleStation(req, req.params.stationId);
      const { password, ...details } = req.body;
      await assetChange(req, (trx) => assets.updateStation(req.params.stationId, req.body, trx), {
        action: 'station.update',
        target: req.params.stationId,
        outcome: 'success',
        details: { ...details, ...(password !== undefined ? { password: password ? 'changed' : 'removed' } : {}) },
      });
      const [station] = await loadStations(root, [req.params.stationId]);
      return station!;
    },
  );

  app.put(
    '/api/v1/stations/:stationId/connectors',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['assets'],
        summary: "Replace a station's EVSE and connector specification",
        params: Type.Object({ stationId: StationId }),
        body: Type.Object({ connectors: Type.Array(ConnectorSpec, { maxItems: 64 }) }, { additionalProperties: false }),
        response: { 200: StationSchema, ...errorResponses(404, 422) },
      },
    },
    async (req) => {
      await requireVisibleStation(req, req.params.stationId);
      await assetChange(req, (trx) => assets.setConnectors(req.params.stationId, req.body.connectors, trx), {
        action: 'station.connectors',
        target: req.params.stationId,
        outcome: 'success',
        details: req.body,
      });
      const [station] = await loadStations(root, [req.params.stationId]);
      return station!;
    },
  );

  app.post(
    '/api/v1/stations/:stationId/retire',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['assets'],
        summary: 'Retire a station: blocked from connecting, out of the lists, history kept',
        params: Type.Object({ stationId: StationId }),
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      await requireVisibleStation(req, req.params.stationId);
      await assetChange(req, (trx) => assets.retireStation(req.params.stationId, trx), {
        action: 'station.retire',
        target: req.params.stationId,
        outcome: 'success',
      });
      return reply.code(204).send(null);
    },
  );
}
