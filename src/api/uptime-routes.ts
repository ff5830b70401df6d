// Uptime and reports under /api/v1: outages (with cause corrections and exclusions), a port's availability
// timeline, NEVI uptime per port and month with drill-down, maintenance windows and opening hours, and the
// reports (EV-ChART CSVs, reliability figures, SVG charts). A site host sees only its own stations.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TProperties } from '@sinclair/typebox';
import { ApiError, notFound } from './errors.ts';
import { authorize, principalOf } from './auth.ts';
import { canSee, requireVisibleStation, visibleStations } from './scope.ts';
import { audited } from './audit.ts';
import { DateTime, Nullable, Page, PageQuery, StationId, Text, errorResponses } from './schemas.ts';
import type { Role } from '../access/tables.ts';
import { UptimeError, UptimeService, type Outage } from '../uptime/service.ts';
import { EvChartReports, FILE_NAMES, parseQuarter, toCsv } from '../uptime/evchart.ts';
import { reliabilityReport } from '../uptime/reliability.ts';
import { causeChart, uptimeChart } from '../uptime/charts.ts';
import { trailingTwelveMonths } from '../uptime/nevi.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';

const READERS: Role[] = ['admin', 'operator', 'site_host', 'technician', 'read_only'];
const EDITORS: Role[] = ['admin', 'operator'];
const CORRECTORS: Role[] = ['admin', 'operator', 'technician'];

const obj = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });
const CauseCode = Type.String({ pattern: '^(CX0\\d\\d|[A-Z_]{3,30}|OCPP:[A-Za-z]{3,40})$' });
const Attachment = obj({
  name: Text(200),
  contentType: Type.String({ pattern: '^[a-z]+/[a-z0-9.+-]+$', maxLength: 100 }),
  url: Type.String({ format: 'uri', maxLength: 1000, pattern: '^(https?|file|s3)://[^\\s<>{}`$;]+$' }),
  sha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
});
const Reason = Type.Integer({ minimum: 1, maximum: 6, description: 'EV-ChART excluded_outage_reason 1–6' });

const OutageSchema = obj({
  id: Type.String(),
  stationId: Type.String(),
  evseId: Type.Integer(),
  connectorId: Type.Integer(),
  startedAt: DateTime,
  endedAt: Nullable(DateTime),
  reason: Type.String(),
  causeCode: Type.String(),
  causeSource: Type.String(),
  responsibleParty: Type.String(),
  derivedCauseCode: Type.String(),
  evidence: Type.Array(obj({ table: Type.String(), id: Type.String() })),
});

const FigureSchema = obj({
  stationId: Type.String(),
  evseId: Type.Integer(),
  connectorId: Type.Integer(),
  from: DateTime,
  to: DateTime,
  baseMinutes: Type.Number(),
  outageMinutes: Type.Number(),
  excludedMinutes: Type.Number(),
  uptime: Type.Number(),
  belowTarget: Type.Boolean(),
});

const PortParams = obj({
  stationId: StationId,
  evseId: Type.Integer({ minimum: 1, maximum: 1000 }),
  connectorId: Type.Integer({ minimum: 1, maximum: 100 }),
});

const outageToApi = (o: Outage) => ({
  ...o,
  startedAt: o.startedAt.toISOString(),
  endedAt: o.endedAt ? o.endedAt.toISOString() : null,
});

const figureToApi = (f: { from: Date; to: Date } & Record<string, any>) => ({
  stationId: f.stationId,
  evseId: f.evseId,
  connectorId: f.connectorId,
  from: f.from.toISOString(),
  to: f.to.toISOString(),
  baseMinutes: f.baseMinutes,
  outageMinutes: round2(f.outageMinutes),
  excludedMinutes: round2(f.excludedMinutes),
  uptime: round4(f.uptime),
  belowTarget: f.belowTarget,
});

const round2 = (n: number) => Math.round(n * 100) / 100;
const round4 = (n: number) => Math.round(n * 10_000) / 10_000;

function period(q: { from?: string; to?: string }): { from: number; to: number } {
  if (!q.from || !q.to)
    throw new ApiError(400, 'validation_failed', 'from and to are required', { field: 'querystring/from' });
  const from = Date.parse(q.from);
  const to = Date.parse(q.to);
  if (!(to > from)) throw new ApiError(400, 'validation_failed', 'to must be after from', { field: 'querystring/to' });
  if (to - from > 400 * 86400_000)
    throw new ApiError(400, 'validation_failed', 'a period is at most 400 days', { field: 'querystring/to' });
  return { from, to };
}

function uptimeError(err: unknown): never {
  if (err instanceof UptimeError) {
    throw new ApiError(err.status, err.status === 404 ? 'not_found' : 'validation_failed', err.message, {
      field: `body/${err.field}`,
    });
  }
  throw err;
}

async function stationsInScope(req: FastifyRequest, db: Kysely<Database>, stationId?: string): Promise<string[]> {
  const visible = await visibleStations(principalOf(req));
  if (stationId) {
    if (!canSee(visible, stationId)) throw notFound(`station ${stationId}`);
    return [stationId];
  }
  if (visible !== 'all') return visible;
  const rows = await db.selectFrom('stations').select('id').orderBy('id').execute();
  return rows.map((r) => r.id);
}

export function registerUptimeRoutes(
  root: FastifyInstance,
  deps: { db: Kysely<Database>; uptime: UptimeService; networkProvider?: string },
): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { db, uptime } = deps;

  async function visibleOutage(req: FastifyRequest, id: string): Promise<Outage> {
    const outage = await uptime.getOutage(id);
    if (!outage || !canSee(await visibleStations(principalOf(req)), outage.stationId)) throw notFound(`outage ${id}`);
    return outage;
  }

  app.get(
    '/api/v1/uptime/outages',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['uptime'],
        summary: 'Outages, oldest first, with cause, responsible party and evidence',
        querystring: obj({
          ...PageQuery,
          stationId: Type.Optional(StationId),
          open: Type.Optional(Type.Boolean()),
          from: Type.Optional(DateTime),
          to: Type.Optional(DateTime),
        }),
        response: { 200: Page(OutageSchema), ...errorResponses(404) },
      },
    },
    async (req) => {
      const q = req.query;
      const stationIds = await stationsInScope(req, db, q.stationId);
      const all = await uptime.listOutages({
        stationIds,
        ...(q.open !== undefined ? { open: q.open } : {}),
        ...(q.from ? { from: new Date(q.from) } : {}),
        ...(q.to ? { to: new Date(q.to) } : {}),
      });
      return {
        items: all.slice(q.offset, q.offset + q.limit).map(outageToApi),
        total: all.length,
        limit: q.limit,
        offset: q.offset,
      };
    },
  );

  app.get(
    '/api/v1/uptime/outages/:id',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['uptime'],
        summary: 'One outage with its cause corrections and exclusions',
        params: obj({ id: Type.String({ pattern: '^\\d{1,18}$' }) }),
        response: {
          200: obj({
            outage: OutageSchema,
            corrections: Type.Array(
              obj({
                previousCode: Type.String(),
                newCode: Type.String(),
                by: Type.String(),
                why: Type.String(),
                workOrderId: Nullable(Type.String()),
                at: DateTime,
              }),
            ),
            exclusions: Type.Array(
              obj({
                id: Type.String(),
                startsAt: DateTime,
                endsAt: Nullable(DateTime),
                reason: Type.Integer(),
                notes: Nullable(Type.String()),
                attachments: Type.Array(Type.Unknown()),
                by: Type.String(),
              }),
            ),
          }),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      const outage = await visibleOutage(req, req.params.id);
      const corrections = await uptime.corrections(outage.id);
      const exclusions = await db
        .selectFrom('uptime_exclusions')
        .selectAll()
        .where('outage_id', '=', outage.id)
        .orderBy('id')
        .execute();
      return {
        outage: outageToApi(outage),
        corrections: corrections.map((c) => ({
          previousCode: c.previous_code,
          newCode: c.new_code,
          by: c.corrected_by,
          why: c.why,
          workOrderId: c.work_order_id === null ? null : String(c.work_order_id),
          at: new Date(c.corrected_at).toISOString(),
        })),
        exclusions: exclusions.map((e) => ({
          id: String(e.id),
          startsAt: new Date(e.starts_at).toISOString(),
          endsAt: e.ends_at ? new Date(e.ends_at).toISOString() : null,
          reason: e.reason,
          notes: e.notes,
          attachments: e.attachments,
          by: e.created_by,
        })),
      };
    },
  );

  app.post(
    '/api/v1/uptime/outages/:id/cause',
    {
      preHandler: authorize(...CORRECTORS),
      schema: {
        tags: ['uptime'],
        summary: "Correct an outage's cause (kept with who and why)",
        params: obj({ id: Type.String({ pattern: '^\\d{1,18}$' }) }),
        body: obj({ code: CauseCode, why: Text(500) }),
        response: { 200: OutageSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      const outage = await visibleOutage(req, req.params.id);
      const p = principalOf(req);
      const updated = await audited(
        req,
        (trx) =>
          uptime.correctCause(outage.id, { code: req.body.code, why: req.body.why, by: `${p.kind}:${p.name}` }, trx),
        {
          action: 'uptime.outage.cause_corrected',
          target: `outage:${outage.id}`,
          outcome: 'success',
          details: { from: outage.causeCode, to: req.body.code, why: req.body.why },
        },
      ).catch(uptimeError);
      return outageToApi(updated);
    },
  );

  app.post(
    '/api/v1/uptime/outages/:id/exclusions',
    {
      preHandler: authorize(...EDITORS),
      schema: {
        tags: ['uptime'],
        summary: 'Exclude an outage, or part of it, for one of NEVI’s reasons (EV-ChART 1–6)',
        params: obj({ id: Type.String({ pattern: '^\\d{1,18}$' }) }),
        body: obj({
          reason: Reason,
          startsAt: Type.Optional(DateTime),
          endsAt: Type.Optional(DateTime),
          notes: Type.Optional(Text(255)),
          attachments: Type.Optional(Type.Array(Attachment, { maxItems: 20 })),
        }),
        response: { 201: obj({ id: Type.String() }), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      const outage = await visibleOutage(req, req.params.id);
      const p = principalOf(req);
      const b = req.body;
      const created = await audited(
        req,
        (trx) =>
          uptime.addExclusion(
            outage.id,
            {
              reason: b.reason,
              ...(b.startsAt ? { startsAt: new Date(b.startsAt) } : {}),
              ...(b.endsAt ? { endsAt: new Date(b.endsAt) } : {}),
              ...(b.notes ? { notes: b.notes } : {}),
              ...(b.attachments ? { attachments: b.attachments } : {}),
              by: `${p.kind}:${p.name}`,
            },
            trx,
          ),
        {
          action: 'uptime.outage.excluded',
          target: `outage:${outage.id}`,
          outcome: 'success',
          details: { reason: b.reason, startsAt: b.startsAt ?? null, endsAt: b.endsAt ?? null },
        },
      ).catch(uptimeError);
      reply.code(201);
      return created;
    },
  );

  app.get(
    '/api/v1/uptime/ports/:stationId/:evseId/:connectorId/timeline',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['uptime'],
        summary: "A port's gap-free availability timeline, each state with the evidence that caused it",
        params: PortParams,
        querystring: obj({ from: DateTime, to: DateTime }),
        response: {
          200: obj({
            segments: Type.Array(
              obj({
                from: DateTime,
                to: DateTime,
                state: Type.String(),
                reason: Type.Optional(Type.String()),
                status: Type.Optional(Type.String()),
                evidence: Nullable(obj({ table: Type.String(), id: Type.String() })),
              }),
            ),
          }),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      await requireVisibleStation(req, req.params.stationId);
      const { from, to } = period(req.query);
      const segments = await uptime.timeline(req.params, new Date(from), new Date(to));
      return {
        segments: segments.map((s) => ({
          from: new Date(s.from).toISOString(),
          to: new Date(s.to).toISOString(),
          state: s.state,
          ...(s.reason ? { reason: s.reason } : {}),
          ...(s.status ? { status: s.status } : {}),
          evidence: s.evidence,
        })),
      };
    },
  );

  app.get(
    '/api/v1/uptime/ports/:stationId/:evseId/:connectorId',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['uptime'],
        summary: "A port's uptime over a period (its own length as the base) and the outages behind it",
        params: PortParams,
        querystring: obj({ from: DateTime, to: DateTime }),
        response: {
          200: obj({
            figure: FigureSchema,
            outages: Type.Array(
              obj({
                outage: OutageSchema,
                minutes: Type.Number(),
                excludedMinutes: Type.Number(),
                excludedParts: Type.Array(
                  obj({
                    from: DateTime,
                    to: DateTime,
                    reason: Type.Integer(),
                    source: Type.String(),
                    notes: Nullable(Type.String()),
                  }),
                ),
              }),
            ),
          }),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      await requireVisibleStation(req, req.params.stationId);
      const window = period(req.query);
      const figure = await uptime.portUptime(req.params, window);
      const details = await uptime.outageDetails(req.params, window);
      return {
        figure: figureToApi(figure),
        outages: details.map((d) => ({
          outage: outageToApi(d),
          minutes: round2(d.minutes),
          excludedMinutes: round2(d.excludedMinutes),
          excludedParts: d.excludedParts.map((p) => ({
            from: new Date(p.from).toISOString(),
            to: new Date(p.to).toISOString(),
            reason: p.reason,
            source: p.source,
            notes: p.notes,
          })),
        })),
      };
    },
  );

  app.get(
    '/api/v1/uptime/nevi',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['uptime'],
        summary:
          'NEVI uptime for a month (trailing twelve months, 525600-minute base), per port and station, flagged below 97%',
        querystring: obj({
          year: Type.Integer({ minimum: 2000, maximum: 2100 }),
          month: Type.Integer({ minimum: 1, maximum: 12 }),
          stationId: Type.Optional(StationId),
        }),
        response: {
          200: obj({
            from: DateTime,
            to: DateTime,
            ports: Type.Array(FigureSchema),
            stations: Type.Array(
              obj({
                stationId: Type.String(),
                uptime: Type.Number(),
                belowTarget: Type.Boolean(),
                ports: Type.Integer(),
              }),
            ),
          }),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      const { year, month } = req.query;
      const stationIds = await stationsInScope(req, db, req.query.stationId);
      const ports = await uptime.monthlyUptime(year, month, stationIds);
      const window = trailingTwelveMonths(year, month);
      return {
        from: new Date(window.from).toISOString(),
        to: new Date(window.to).toISOString(),
        ports: ports.map(figureToApi),
        stations: UptimeService.stationSummary(ports).map((s) => ({ ...s, uptime: round4(s.uptime) })),
      };
    },
  );

  app.post(
    '/api/v1/uptime/maintenance-windows',
    {
      preHandler: authorize(...EDITORS),
      schema: {
        tags: ['uptime'],
        summary: 'Announce a scheduled maintenance window; outage minutes inside it are excluded (reason 3)',
        body: obj({
          stationId: Type.Optional(StationId),
          locationId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' })),
          startsAt: DateTime,
          endsAt: DateTime,
          notes: Type.Optional(Text(500)),
        }),
        response: { 201: obj({ id: Type.String() }), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      if (req.body.stationId) await requireVisibleStation(req, req.body.stationId);
      const p = principalOf(req);
      const created = await audited(
        req,
        (trx) =>
          uptime.addMaintenanceWindow(
            {
              ...req.body,
              startsAt: new Date(req.body.startsAt),
              endsAt: new Date(req.body.endsAt),
              by: `${p.kind}:${p.name}`,
            },
            trx,
          ),
        (c) => ({
          action: 'uptime.maintenance_window.created',
          target: `maintenance_window:${c.id}`,
          outcome: 'success',
          details: req.body,
        }),
      ).catch(uptimeError);
      reply.code(201);
      return created;
    },
  );

  app.put(
    '/api/v1/uptime/opening-hours',
    {
      preHandler: authorize(...EDITORS),
      schema: {
        tags: ['uptime'],
        summary: 'Publish opening hours (IANA time zone); outage minutes outside them are excluded (reason 6)',
        body: obj({
          stationId: Type.Optional(StationId),
          locationId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' })),
          timeZone: Type.String({ pattern: '^[A-Za-z_]+(/[A-Za-z0-9_+-]+){0,2}$', maxLength: 64 }),
          spans: Type.Array(
            obj({
              day: Type.Integer({ minimum: 1, maximum: 7 }),
              open: Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' }),
              close: Type.String({ pattern: '^(([01]\\d|2[0-3]):[0-5]\\d|24:00)$' }),
            }),
            { maxItems: 50 },
          ),
        }),
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      if (req.body.stationId) await requireVisibleStation(req, req.body.stationId);
      const p = principalOf(req);
      await audited(req, (trx) => uptime.setOpeningHours({ ...req.body, by: `${p.kind}:${p.name}` }, trx), {
        action: 'uptime.opening_hours.set',
        target: req.body.stationId ?? req.body.locationId ?? '',
        outcome: 'success',
        details: req.body,
      }).catch(uptimeError);
      reply.code(204);
    },
  );

  app.put(
    '/api/v1/uptime/stations/:stationId/location',
    {
      preHandler: authorize(...EDITORS),
      schema: {
        tags: ['uptime'],
        summary: "Set a station's location id (for location-wide windows and hours), time zone and service start",
        params: obj({ stationId: StationId }),
        body: obj({
          locationId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' })),
          timeZone: Type.String({ pattern: '^[A-Za-z_]+(/[A-Za-z0-9_+-]+){0,2}$', maxLength: 64 }),
          operationalSince: Type.Optional(DateTime),
        }),
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      await requireVisibleStation(req, req.params.stationId);
      const b = req.body;
      await audited(
        req,
        (trx) =>
          uptime.setStationLocation(
            req.params.stationId,
            {
              timeZone: b.timeZone,
              ...(b.locationId ? { locationId: b.locationId } : {}),
              ...(b.operationalSince ? { operationalSince: new Date(b.operationalSince) } : {}),
            },
            trx,
          ),
        {
          action: 'uptime.station_location.set',
          target: `station:${req.params.stationId}`,
          outcome: 'success',
          details: b,
        },
      ).catch(uptimeError);
      reply.code(204);
    },
  );

  // ---- reports ---------------------------------------------------------------------------------------------

  app.get(
    '/api/v1/reports/nevi/:file',
    {
      preHandler: authorize('admin', 'operator', 'read_only', 'site_host'),
      schema: {
        tags: ['reports'],
        summary:
          'An EV-ChART CSV (the file names of `opencpo report nevi`): modules 2, 3, 4 for a quarter, 5 for a year',
        params: obj({ file: Type.Union(Object.values(FILE_NAMES).map((f) => Type.Literal(f))) }),
        querystring: obj({
          quarter: Type.Optional(Type.String({ pattern: '^\\d{4}Q[1-4]$' })),
          year: Type.Optional(Type.Integer({ minimum: 2000, maximum: 2100 })),
          stationId: Type.Optional(StationId),
        }),
        response: { 200: Type.String(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      const module = Number(Object.entries(FILE_NAMES).find(([, name]) => name === req.params.file)![0]) as
        2 | 3 | 4 | 5;
      const stationIds = await stationsInScope(req, db, req.query.stationId);
      const reports = new EvChartReports(db, uptime, {
        networkProvider: deps.networkProvider ?? process.env.OPENCPO_NETWORK_PROVIDER ?? 'opencpo',
        stationIds,
      });
      let rows;
      if (module === 5) {
        if (req.query.year === undefined)
          throw new ApiError(400, 'validation_failed', 'module 5 needs year', { field: 'querystring/year' });
        rows = await reports.module5(req.query.year);
      } else {
        if (!req.query.quarter)
          throw new ApiError(400, 'validation_failed', `module ${module} needs quarter`, {
            field: 'querystring/quarter',
          });
        parseQuarter(req.query.quarter);
        rows =
          module === 2
            ? await reports.module2(req.query.quarter)
            : module === 3
              ? await reports.module3(req.query.quarter)
              : await reports.module4(req.query.quarter);
      }
      reply.header('content-type', 'text/csv; charset=utf-8');
      reply.header('content-disposition', `attachment; filename="${FILE_NAMES[module]}"`);
      return toCsv(module, rows);
    },
  );

  app.get(
    '/api/v1/reports/reliability',
    {
      preHandler: authorize('admin', 'operator', 'read_only', 'site_host'),
      schema: {
        tags: ['reports'],
        summary: 'Session success rate, MTTR, MTBF, outage minutes by cause and party, first-time fix rate',
        querystring: obj({ from: DateTime, to: DateTime, stationId: Type.Optional(StationId) }),
        response: { 200: Type.Unknown(), ...errorResponses(404) },
      },
    },
    async (req) =>
      reliabilityReport(db, uptime, period(req.query), await stationsInScope(req, db, req.query.stationId)),
  );

  app.get(
    '/api/v1/reports/charts/:chart',
    {
      preHandler: authorize('admin', 'operator', 'read_only', 'site_host'),
      schema: {
        tags: ['reports'],
        summary: 'SVG chart: uptime per port (uptime.svg) or outage minutes by cause (causes.svg) over a period',
        params: obj({ chart: Type.Union([Type.Literal('uptime.svg'), Type.Literal('causes.svg')]) }),
        querystring: obj({ from: DateTime, to: DateTime, stationId: Type.Optional(StationId) }),
        response: { 200: Type.String(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      const report = await reliabilityReport(
        db,
        uptime,
        period(req.query),
        await stationsInScope(req, db, req.query.stationId),
      );
      reply.header('content-type', 'image/svg+xml');
      return req.params.chart === 'uptime.svg'
        ? uptimeChart(
            report.portUptime.map((p) => ({ label: `${p.stationId} ${p.evseId}-${p.connectorId}`, uptime: p.uptime })),
          )
        : causeChart(report.byCause);
    },
  );
}
