// Station reads: stations with their live connection state and connector status, each port's status
// timeline, charger events and faults, the 2.0.1 device model, 1.6 configuration keys and the command log.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { ALL_ROLES, authorize, principalOf } from './auth.ts';
import { requireVisibleStation, visibleStations } from './scope.ts';
import { DateTime, Nullable, Page, PageQuery, StationId, Uuid, errorResponses } from './schemas.ts';
import { countOf, iso, withinScope } from './common.ts';
import { CONNECTOR_STATUSES } from '../stations/model.ts';

const Connector = Type.Object({
  evseId: Type.Integer(),
  connectorId: Type.Integer(),
  status: Type.String({ description: "live status: 'offline' while the charger is not connected" }),
  lastReportedStatus: Type.String(),
  errorCode: Nullable(Type.String()),
  vendorErrorCode: Nullable(Type.String()),
  statusAt: Nullable(DateTime),
  standard: Nullable(Type.String()),
  powerType: Nullable(Type.String()),
  maxPowerW: Nullable(Type.Integer()),
});

type ConnectorView = Static<typeof Connector>;

export const StationSchema = Type.Object({
  id: Type.String(),
  name: Nullable(Type.String()),
  protocol: Nullable(Type.String()),
  online: Type.Boolean(),
  admission: Type.String(),
  hasPassword: Type.Boolean({ description: 'an OCPP Basic-auth password is registered (it is never shown)' }),
  allowUnauthenticated: Type.Boolean({ description: 'security profile 0: may connect without credentials' }),
  registeredOnFirstContact: Type.Boolean({ description: 'registered by its own first connection' }),
  registrationStatus: Nullable(Type.String()),
  locationId: Nullable(Type.String()),
  organisationId: Nullable(Type.String()),
  retiredAt: Nullable(DateTime),
  vendor: Nullable(Type.String()),
  model: Nullable(Type.String()),
  serialNumber: Nullable(Type.String()),
  firmwareVersion: Nullable(Type.String()),
  firmwareStatus: Nullable(Type.String()),
  lastBootAt: Nullable(DateTime),
  lastSeenAt: Nullable(DateTime),
  connectors: Type.Array(Connector),
});

const StationParams = Type.Object({ stationId: StationId });
const TimeRange = {
  from: Type.Optional(DateTime),
  to: Type.Optional(DateTime),
};

/** Loads stations (already filtered and paged) with their connectors and placement. */
export async function loadStations(app: FastifyInstance, ids: string[]) {
  if (ids.length === 0) return [];
  const { db, isConnected } = app.api;
  const [stations, connectors, specs] = await Promise.all([
    db
      .selectFrom('stations as s')
      .leftJoin('station_assets as a', 'a.station_id', 's.id')
      .leftJoin('locations as l', 'l.id', 'a.location_id')
      .selectAll('s')
      .select(['a.name', 'a.location_id', 'a.retired_at', 'l.organisation_id'])
      .where('s.id', 'in', ids)
      .orderBy('s.id')
      .execute(),
    db
      .selectFrom('connectors')
      .selectAll()
      .where('station_id', 'in', ids)
      .orderBy('evse_id')
      .orderBy('connector_id')
      .execute(),
    db.selectFrom('connector_specs').selectAll().where('station_id', 'in', ids).execute(),
  ]);
  const specOf = new Map(specs.map((s) => [`${s.station_id}/${s.evse_id}/${s.connector_id}`, s]));
  return stations.map((s) => {
    const online = isConnected(s.id);
    const ports = new Map<string, ConnectorView>();
    for (const c of connectors.filter((c) => c.station_id === s.id && c.evse_id > 0)) {
      const spec = specOf.get(`${s.id}/${c.evse_id}/${c.connector_id}`);
      ports.set(`${c.evse_id}/${c.connector_id}`, {
        evseId: c.evse_id,
        connectorId: c.connector_id,
        // A connector of a charger that is not connected is offline, whatever it said last.
        status: online ? c.status : 'offline',
        lastReportedStatus: c.status,
        errorCode: c.error_code,
        vendorErrorCode: c.vendor_error_code,
        statusAt: iso(c.status_at),
        standard: spec?.standard ?? null,
        powerType: spec?.power_type ?? null,
        maxPowerW: spec?.max_power_w ?? null,
      });
    }
    // Connectors specified in the asset register but never reported yet.
    for (const spec of specs.filter((x) => x.station_id === s.id)) {
      const key = `${spec.evse_id}/${spec.connector_id}`;
      if (ports.has(key)) continue;
      ports.set(key, {
        evseId: spec.evse_id,
        connectorId: spec.connector_id,
        status: online ? 'unavailable' : 'offline',
        lastReportedStatus: 'unknown',
        errorCode: null,
        vendorErrorCode: null,
        statusAt: null,
        standard: spec.standard,
        powerType: spec.power_type,
        maxPowerW: spec.max_power_w,
      });
    }
    return {
      id: s.id,
      name: s.name ?? null,
      protocol: s.protocol,
      online,
      admission: s.admission,
      hasPassword: s.password_hash !== null,
      allowUnauthenticated: s.allow_unauthenticated,
      registeredOnFirstContact: s.registered_on_first_contact,
      registrationStatus: s.registration_status,
      locationId: s.location_id ?? null,
      organisationId: s.organisation_id ?? null,
      retiredAt: iso(s.retired_at),
      vendor: s.vendor,
      model: s.model,
      serialNumber: s.serial_number,
      firmwareVersion: s.firmware_version,
      firmwareStatus: s.firmware_status,
      lastBootAt: iso(s.last_boot_at),
      lastSeenAt: iso(s.last_seen_at),
      connectors: [...ports.values()].sort((a, b) => a.evseId - b.evseId || a.connectorId - b.connectorId),
    };
  });
}

export function registerStationRoutes(root: FastifyInstance): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = root.api;

  app.get(
    '/api/v1/stations',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['stations'],
        summary: 'List stations with live connection state and connector status',
        querystring: Type.Object(
          {
            ...PageQuery,
            locationId: Type.Optional(Uuid),
            organisationId: Type.Optional(Uuid),
            online: Type.Optional(Type.Boolean()),
            connectorStatus: Type.Optional(Type.Union(CONNECTOR_STATUSES.map((s) => Type.Literal(s)))),
            includeRetired: Type.Optional(Type.Boolean({ default: false })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(StationSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const q = req.query;
      const visible = await visibleStations(principalOf(req));
      let query = withinScope(
        db
          .selectFrom('stations as s')
          .leftJoin('station_assets as a', 'a.station_id', 's.id')
          .leftJoin('locations as l', 'l.id', 'a.location_id'),
        's.id',
        visible,
      );
      if (!q.includeRetired) query = query.where('a.retired_at', 'is', null);
      if (q.locationId) query = query.where('a.location_id', '=', q.locationId);
      if (q.organisationId) query = query.where('l.organisation_id', '=', q.organisationId);
      if (q.online !== undefined) query = query.where('s.online', '=', q.online);
      if (q.connectorStatus) {
        const status = q.connectorStatus;
        query = query.where((eb) =>
          status === 'offline'
            ? eb('s.online', '=', false)
            : eb.and([
                eb('s.online', '=', true),
                eb.exists(
                  eb
                    .selectFrom('connectors as c')
                    .select('c.station_id')
                    .whereRef('c.station_id', '=', 's.id')
                    .where('c.evse_id', '>', 0)
                    .where('c.status', '=', status),
                ),
              ]),
        );
      }
      const [rows, total] = await Promise.all([
        query.select('s.id').orderBy('s.id').limit(q.limit).offset(q.offset).execute(),
        query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirst(),
      ]);
      const items = await loadStations(
        root,
        rows.map((r) => r.id),
      );
      return { items, total: countOf(total), limit: q.limit, offset: q.offset };
    },
  );

  app.get(
    '/api/v1/stations/:stationId',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['stations'],
        summary: 'One station',
        params: StationParams,
        response: { 200: StationSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      await requireVisibleStation(req, req.params.stationId);
      const [station] = await loadStations(root, [req.params.stationId]);
      return station!;
    },
  );

  app.get(
    '/api/v1/stations/:stationId/status-timeline',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['stations'],
        summary: "A station's connector status changes, newest first",
        params: StationParams,
        querystring: Type.Object(
          {
            ...PageQuery,
            ...TimeRange,
            evseId: Type.Optional(Type.Integer({ minimum: 0 })),
            connectorId: Type.Optional(Type.Integer({ minimum: 0 })),
            status: Type.Optional(Type.Union(CONNECTOR_STATUSES.map((s) => Type.Literal(s)))),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Page(
            Type.Object({
              evseId: Type.Integer(),
              connectorId: Type.Integer(),
              status: Type.String(),
              errorCode: Nullable(Type.String()),
              vendorErrorCode: Nullable(Type.String()),
              info: Nullable(Type.String()),
              occurredAt: DateTime,
              receivedAt: DateTime,
            }),
          ),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      const q = req.query;
      await requireVisibleStation(req, req.params.stationId);
      let query = db.selectFrom('connector_status').where('station_id', '=', req.params.stationId);
      if (q.from) query = query.where('occurred_at', '>=', new Date(q.from));
      if (q.to) query = query.where('occurred_at', '<', new Date(q.to));
      if (q.evseId !== undefined) query = query.where('evse_id', '=', q.evseId);
      if (q.connectorId !== undefined) query = query.where('connector_id', '=', q.connectorId);
      if (q.status) query = query.where('status', '=', q.status);
      const [rows, total] = await Promise.all([
        query
          .selectAll()
          .orderBy('occurred_at', 'desc')
          .orderBy('id', 'desc')
          .limit(q.limit)
          .offset(q.offset)
          .execute(),
        query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirst(),
      ]);
      return {
        items: rows.map((r) => ({
          evseId: r.evse_id,
          connectorId: r.connector_id,
          status: r.status,
          errorCode: r.error_code,
          vendorErrorCode: r.vendor_error_code,
          info: r.info,
          occurredAt: iso(r.occurred_at)!,
          receivedAt: iso(r.received_at)!,
        })),
        total: countOf(total),
        limit: q.limit,
        offset: q.offset,
      };
    },
  );

  const StationEventSchema = Type.Object({
    id: Type.String(),
    stationId: Type.String(),
    kind: Type.String(),
    evseId: Nullable(Type.Integer()),
    connectorId: Nullable(Type.Integer()),
    errorCode: Nullable(Type.String()),
    vendorErrorCode: Nullable(Type.String()),
    info: Nullable(Type.String()),
    severity: Nullable(Type.Integer()),
    cleared: Nullable(Type.Boolean()),
    component: Nullable(Type.String()),
    variable: Nullable(Type.String()),
    actualValue: Nullable(Type.String()),
    occurredAt: DateTime,
    receivedAt: DateTime,
  });
  const EventsQuery = Type.Object(
    {
      ...PageQuery,
      ...TimeRange,
      stationId: Type.Optional(StationId),
      kind: Type.Optional(Type.String({ pattern: '^[a-z_]{1,40}$' })),
    },
    { additionalProperties: false },
  );

  /** Charger events (or faults only) of the stations the caller sees. */
  const listEvents = (faultsOnly: boolean) => async (req: any) => {
    const q = req.query as {
      limit: number;
      offset: number;
      from?: string;
      to?: string;
      stationId?: string;
      kind?: string;
    };
    const stationId = (req.params?.stationId as string | undefined) ?? q.stationId;
    if (stationId) await requireVisibleStation(req, stationId);
    let query = withinScope(db.selectFrom('station_events'), 'station_id', await visibleStations(principalOf(req)));
    if (stationId) query = query.where('station_id', '=', stationId);
    if (faultsOnly) query = query.where('kind', '=', 'fault');
    else if (q.kind) query = query.where('kind', '=', q.kind);
    if (q.from) query = query.where('occurred_at', '>=', new Date(q.from));
    if (q.to) query = query.where('occurred_at', '<', new Date(q.to));
    const [rows, total] = await Promise.all([
      query.selectAll().orderBy('occurred_at', 'desc').orderBy('id', 'desc').limit(q.limit).offset(q.offset).execute(),
      query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirst(),
    ]);
    return {
      items: rows.map((r) => ({
        id: String(r.id),
        stationId: r.station_id,
        kind: r.kind,
        evseId: r.evse_id,
        connectorId: r.connector_id,
        errorCode: r.error_code,
        vendorErrorCode: r.vendor_error_code,
        info: r.info,
        severity: r.severity,
        cleared: r.cleared,
        component: r.component,
        variable: r.variable,
        actualValue: r.actual_value,
        occurredAt: iso(r.occurred_at)!,
        receivedAt: iso(r.received_at)!,
      })),
      total: countOf(total),
      limit: q.limit,
      offset: q.offset,
    };
  };

  app.get(
    '/api/v1/stations/:stationId/events',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['stations'],
        summary: "A station's events (boots, connections, faults, notifications), newest first",
        params: StationParams,
        querystring: EventsQuery,
        response: { 200: Page(StationEventSchema), ...errorResponses(404) },
      },
    },
    listEvents(false),
  );

  app.get(
    '/api/v1/faults',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['stations'],
        summary: 'Faults reported by the stations the caller sees, newest first',
        querystring: EventsQuery,
        response: { 200: Page(StationEventSchema), ...errorResponses(404) },
      },
    },
    listEvents(true),
  );

  app.get(
    '/api/v1/stations/:stationId/device-model',
    {
      preHandler: authorize('admin', 'operator', 'technician', 'read_only', 'site_host'),
      schema: {
        tags: ['stations'],
        summary: 'Device-model variables a 2.0.1 station reported',
        params: StationParams,
        querystring: Type.Object(
          { ...PageQuery, component: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,50}$' })) },
          { additionalProperties: false },
        ),
        response: {
          200: Page(
            Type.Object({
              component: Type.String(),
              componentInstance: Type.String(),
              evseId: Type.Integer(),
              connectorId: Type.Integer(),
              variable: Type.String(),
              variableInstance: Type.String(),
              attributeType: Type.String(),
              value: Nullable(Type.String()),
              mutability: Nullable(Type.String()),
              updatedAt: DateTime,
            }),
          ),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      const q = req.query;
      await requireVisibleStation(req, req.params.stationId);
      let query = db.selectFrom('device_model_variables').where('station_id', '=', req.params.stationId);
      if (q.component) query = query.where('component', '=', q.component);
      const [rows, total] = await Promise.all([
        query
          .selectAll()
          .orderBy('component')
          .orderBy('evse_id')
          .orderBy('connector_id')
          .orderBy('variable')
          .orderBy('attribute_type')
          .limit(q.limit)
          .offset(q.offset)
          .execute(),
        query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirst(),
      ]);
      return {
        items: rows.map((r) => ({
          component: r.component,
          componentInstance: r.component_instance,
          evseId: r.evse_id,
          connectorId: r.connector_id,
          variable: r.variable,
          variableInstance: r.variable_instance,
          attributeType: r.attribute_type,
          value: r.value,
          mutability: r.mutability,
          updatedAt: iso(r.updated_at)!,
        })),
        total: countOf(total),
        limit: q.limit,
        offset: q.offset,
      };
    },
  );

  app.get(
    '/api/v1/stations/:stationId/configuration',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['stations'],
        summary: 'Configuration keys a 1.6 station reported',
        params: StationParams,
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                key: Type.String(),
                value: Nullable(Type.String()),
                readonly: Type.Boolean(),
                updatedAt: DateTime,
              }),
            ),
          }),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      await requireVisibleStation(req, req.params.stationId);
      const rows = await db
        .selectFrom('configuration_keys')
        .selectAll()
        .where('station_id', '=', req.params.stationId)
        .orderBy('key')
        .execute();
      return {
        items: rows.map((r) => ({ key: r.key, value: r.value, readonly: r.readonly, updatedAt: iso(r.updated_at)! })),
      };
    },
  );

  app.get(
    '/api/v1/commands',
    {
      preHandler: authorize('admin', 'operator', 'site_host', 'technician', 'read_only'),
      schema: {
        tags: ['commands'],
        summary: 'The remote command log, newest first',
        querystring: Type.Object(
          {
            ...PageQuery,
            ...TimeRange,
            stationId: Type.Optional(StationId),
            status: Type.Optional(Type.String({ pattern: '^[a-z_]{1,40}$' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Page(
            Type.Object({
              id: Type.String(),
              stationId: Type.String(),
              command: Type.String(),
              action: Nullable(Type.String()),
              request: Type.Unknown(),
              response: Type.Unknown(),
              status: Type.String(),
              error: Nullable(Type.String()),
              requestedBy: Nullable(Type.String()),
              createdAt: DateTime,
              completedAt: Nullable(DateTime),
            }),
          ),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      const q = req.query;
      if (q.stationId) await requireVisibleStation(req, q.stationId);
      let query = withinScope(db.selectFrom('command_log'), 'station_id', await visibleStations(principalOf(req)));
      if (q.stationId) query = query.where('station_id', '=', q.stationId);
      if (q.status) query = query.where('status', '=', q.status);
      if (q.from) query = query.where('created_at', '>=', new Date(q.from));
      if (q.to) query = query.where('created_at', '<', new Date(q.to));
      const [rows, total] = await Promise.all([
        query.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).offset(q.offset).execute(),
        query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirst(),
      ]);
      return {
        items: rows.map((r) => ({
          id: String(r.id),
          stationId: r.station_id,
          command: r.command,
          action: r.action,
          request: r.request,
          response: r.response,
          status: r.status,
          error: r.error,
          requestedBy: r.requested_by,
          createdAt: iso(r.created_at)!,
          completedAt: iso(r.completed_at),
        })),
        total: countOf(total),
        limit: q.limit,
        offset: q.offset,
      };
    },
  );
}
