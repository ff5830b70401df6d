// Field service under /api/v1: alerts and alert rules, technicians, work orders (create from an outage or
// alert, move along, add notes/photos/parts, resolve with the root cause), a technician's own view (my work
// orders, the asset's recent faults and commands, remote reset and unlock of the asset), and webhook
// subscriptions for field-service systems. Changes to work orders take an Idempotency-Key (idempotency.ts): a
// retried request gets the first answer again instead of being applied twice.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TProperties } from '@sinclair/typebox';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { ApiError, notFound } from './errors.ts';
import { authorize, principalOf } from './auth.ts';
import { canSee, requireVisibleStation, visibleStations } from './scope.ts';
import { audit, audited, commandFailureOutcome } from './audit.ts';
import { IdempotencyHeaders, idempotent } from './idempotency.ts';
import { DateTime, Nullable, Page, PageQuery, StationId, Text, errorResponses } from './schemas.ts';
import type { Role } from '../access/tables.ts';
import { chargerAnswer, type AuditEntry } from '../access/service.ts';
import type { FieldService } from '../fieldservice/service.ts';
import { WORK_ORDER_STATUSES, WorkOrderError, type WorkOrder } from '../fieldservice/work-orders.ts';
import { addWebhook } from '../fieldservice/webhooks.ts';
import { toAlert, alertPayload } from '../fieldservice/alerts.ts';
import {
  CommandAnswerInvalidError,
  CommandRejectedError,
  CommandTimeoutError,
  StationOfflineError,
  type CommandService,
} from '../stations/commands.ts';
import { UptimeError } from '../uptime/service.ts';

const obj = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });
const READERS: Role[] = ['admin', 'operator', 'site_host', 'technician', 'read_only'];
const DISPATCHERS: Role[] = ['admin', 'operator'];
const FIELD: Role[] = ['admin', 'operator', 'technician'];

const Id = Type.String({ pattern: '^\\d{1,18}$' });
const Slug = Type.String({ pattern: '^[A-Za-z0-9_.:@-]{1,64}$' });
const CauseCode = Type.String({ pattern: '^(CX0\\d\\d|[A-Z_]{3,30}|OCPP:[A-Za-z]{3,40})$' });
const Attachment = obj({
  name: Text(200),
  contentType: Type.String({ pattern: '^[a-z]+/[a-z0-9.+-]+$', maxLength: 100 }),
  url: Type.String({ format: 'uri', maxLength: 1000, pattern: '^(https?|file|s3)://[^\\s<>{}`$;]+$' }),
  sha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
});
const Part = obj({
  part: Text(200),
  quantity: Type.Integer({ minimum: 1, maximum: 10_000 }),
  unitCostMinor: Type.Integer({ minimum: 0, maximum: 1e12, description: 'cost per unit in minor units (cents)' }),
  currency: Type.String({ pattern: '^[A-Z]{3}$' }),
});
const Priority = Type.Union([
  Type.Literal('low'),
  Type.Literal('normal'),
  Type.Literal('high'),
  Type.Literal('urgent'),
]);
const Status = Type.Union(
  WORK_ORDER_STATUSES.filter((s) => s !== 'resolved' && s !== 'verified').map((s) => Type.Literal(s)),
);

const WorkOrderSchema = Type.Object({
  id: Type.String(),
  outageId: Nullable(Type.String()),
  alertId: Nullable(Type.String()),
  stationId: Type.String(),
  evseId: Nullable(Type.Integer()),
  connectorId: Nullable(Type.Integer()),
  siteId: Nullable(Type.String()),
  symptom: Type.String(),
  causeCode: Nullable(Type.String()),
  priority: Type.String(),
  slaDueAt: DateTime,
  status: Type.String(),
  technicianId: Nullable(Type.String()),
  requiredSkill: Nullable(Type.String()),
  checklist: Type.Array(Type.Object({ item: Type.String(), done: Type.Boolean() })),
  parts: Type.Array(Type.Unknown()),
  notes: Type.Array(Type.Unknown()),
  attachments: Type.Array(Type.Unknown()),
  laborCostMinor: Type.Integer(),
  currency: Type.String(),
  resolution: Nullable(Type.Unknown()),
  enRouteAt: Nullable(DateTime),
  onSiteAt: Nullable(DateTime),
  timeOnSiteS: Type.Integer(),
  resolvedAt: Nullable(DateTime),
  verifiedAt: Nullable(DateTime),
  reopenedCount: Type.Integer(),
  createdAt: DateTime,
  updatedAt: DateTime,
});

function workOrderError(err: unknown): never {
  if (err instanceof WorkOrderError || err instanceof UptimeError) {
    const status = err.status;
    const code = status === 404 ? 'not_found' : status === 409 ? 'conflict' : 'validation_failed';
    throw new ApiError(status, code, err.message, { field: `body/${err.field}` });
  }
  throw err;
}

const actorOf = (req: FastifyRequest) => {
  const p = principalOf(req);
  return `${p.kind}:${p.name}`;
};

export function registerFieldServiceRoutes(
  root: FastifyInstance,
  deps: { db: Kysely<Database>; fieldService: FieldService; commands: CommandService },
): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { db, fieldService, commands } = deps;
  const workOrders = fieldService.workOrders;

  async function visibleWorkOrder(req: FastifyRequest, id: string): Promise<WorkOrder> {
    const wo = await workOrders.get(id);
    if (!wo || !canSee(await visibleStations(principalOf(req)), wo.stationId)) throw notFound(`work order ${id}`);
    return wo;
  }

  /** The technician record of the caller: same id as the user or key, or the same e-mail as the user's name. */
  async function technicianOf(req: FastifyRequest): Promise<string | undefined> {
    const p = principalOf(req);
    const row = await db
      .selectFrom('technicians')
      .select('id')
      .where((eb) => eb.or([eb('id', '=', p.id), eb('email', '=', p.name)]))
      .executeTakeFirst();
    return row?.id;
  }

  // ---- alerts ------------------------------------------------------------------------------------------------

  app.get(
    '/api/v1/alerts',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['field service'],
        summary: 'Alerts, newest first',
        querystring: obj({
          ...PageQuery,
          status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('resolved')])),
          stationId: Type.Optional(StationId),
          forMyRole: Type.Optional(Type.Boolean({ description: "only alerts routed to the caller's role" })),
        }),
        response: { 200: Page(Type.Unknown()), ...errorResponses() },
      },
    },
    async (req) => {
      const visible = await visibleStations(principalOf(req));
      let q = db.selectFrom('alerts');
      if (visible !== 'all') q = visible.length ? q.where('station_id', 'in', visible) : q.where((eb) => eb.val(false));
      if (req.query.status) q = q.where('status', '=', req.query.status);
      if (req.query.stationId) q = q.where('station_id', '=', req.query.stationId);
      if (req.query.forMyRole) q = q.where(sql<boolean>`details -> 'routeRoles' ? ${principalOf(req).role}`);
      const total = await q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
      const rows = await q.selectAll().orderBy('id', 'desc').limit(req.query.limit).offset(req.query.offset).execute();
      return {
        items: rows.map((r) => alertPayload(toAlert(r))),
        total: Number(total.n),
        limit: req.query.limit,
        offset: req.query.offset,
      };
    },
  );

  app.get(
    '/api/v1/alert-rules',
    {
      preHandler: authorize(...DISPATCHERS),
      schema: {
        tags: ['field service'],
        summary: 'Alert rules',
        response: { 200: Type.Array(Type.Unknown()), ...errorResponses() },
      },
    },
    async () => db.selectFrom('alert_rules').selectAll().orderBy('id').execute(),
  );

  app.patch(
    '/api/v1/alert-rules/:id',
    {
      preHandler: authorize(...DISPATCHERS),
      schema: {
        tags: ['field service'],
        summary: 'Change an alert rule: threshold, routing, automatic work orders, on/off',
        params: obj({ id: Slug }),
        body: obj({
          threshold: Type.Optional(
            obj({
              minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_080 })),
              attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
              percent: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
            }),
          ),
          enabled: Type.Optional(Type.Boolean()),
          autoWorkOrder: Type.Optional(Type.Boolean()),
          workOrderPriority: Type.Optional(Priority),
          severity: Type.Optional(Type.Union([Type.Literal('critical'), Type.Literal('major'), Type.Literal('minor')])),
          stationId: Type.Optional(Nullable(StationId)),
          siteId: Type.Optional(Nullable(Slug)),
          routeRoles: Type.Optional(
            Type.Array(
              Type.Union(['admin', 'operator', 'site_host', 'technician', 'read_only'].map((r) => Type.Literal(r))),
              { maxItems: 5 },
            ),
          ),
          routeEmails: Type.Optional(Type.Array(Type.String({ format: 'email', maxLength: 254 }), { maxItems: 20 })),
        }),
        response: { 200: Type.Unknown(), ...errorResponses(404) },
      },
    },
    async (req) => {
      const b = req.body;
      const set: Record<string, unknown> = {};
      if (b.threshold) set.threshold = JSON.stringify(b.threshold);
      if (b.enabled !== undefined) set.enabled = b.enabled;
      if (b.autoWorkOrder !== undefined) set.auto_work_order = b.autoWorkOrder;
      if (b.workOrderPriority) set.work_order_priority = b.workOrderPriority;
      if (b.severity) set.severity = b.severity;
      if (b.stationId !== undefined) set.station_id = b.stationId;
      if (b.siteId !== undefined) set.site_id = b.siteId;
      if (b.routeRoles) set.route_roles = JSON.stringify(b.routeRoles);
      if (b.routeEmails) set.route_emails = JSON.stringify(b.routeEmails);
      if (Object.keys(set).length === 0)
        throw new ApiError(400, 'validation_failed', 'nothing to change', { field: 'body' });
      return audited(
        req,
        async (trx) => {
          const row = await trx
            .updateTable('alert_rules')
            .set(set)
            .where('id', '=', req.params.id)
            .returningAll()
            .executeTakeFirst();
          if (!row) throw notFound(`alert rule ${req.params.id}`);
          return row;
        },
        (row) => ({ action: 'alert_rule.updated', target: `alert_rule:${row.id}`, outcome: 'success', details: b }),
      );
    },
  );

  // ---- technicians and zones ---------------------------------------------------------------------------------

  app.put(
    '/api/v1/technicians/:id',
    {
      preHandler: authorize(...DISPATCHERS),
      schema: {
        tags: ['field service'],
        summary: 'Create or update a technician (zones and skills drive assignment)',
        params: obj({ id: Slug }),
        body: obj({
          name: Text(200),
          email: Type.Optional(Type.String({ format: 'email', maxLength: 254 })),
          zones: Type.Array(Slug, { maxItems: 50 }),
          skills: Type.Array(Slug, { maxItems: 50 }),
          active: Type.Optional(Type.Boolean()),
        }),
        response: { 200: Type.Unknown(), ...errorResponses() },
      },
    },
    async (req) => {
      const b = req.body;
      const values = {
        id: req.params.id,
        name: b.name,
        email: b.email ?? null,
        zones: JSON.stringify(b.zones),
        skills: JSON.stringify(b.skills),
        active: b.active ?? true,
      };
      await audited(
        req,
        (trx) =>
          trx
            .insertInto('technicians')
            .values(values)
            .onConflict((oc) => oc.column('id').doUpdateSet({ ...values }))
            .execute(),
        { action: 'technician.saved', target: `technician:${req.params.id}`, outcome: 'success', details: b },
      );
      return { id: req.params.id, ...b, active: values.active };
    },
  );

  app.put(
    '/api/v1/stations/:stationId/zone',
    {
      preHandler: authorize(...DISPATCHERS),
      schema: {
        tags: ['field service'],
        summary: "Set a station's field-service zone and site (routing and assignment)",
        params: obj({ stationId: StationId }),
        body: obj({ zone: Slug, siteId: Type.Optional(Nullable(Slug)) }),
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      await requireVisibleStation(req, req.params.stationId);
      const values = { station_id: req.params.stationId, zone: req.body.zone, site_id: req.body.siteId ?? null };
      await audited(
        req,
        (trx) =>
          trx
            .insertInto('station_zones')
            .values(values)
            .onConflict((oc) => oc.column('station_id').doUpdateSet({ zone: values.zone, site_id: values.site_id }))
            .execute(),
        {
          action: 'station.zone_set',
          target: `station:${req.params.stationId}`,
          outcome: 'success',
          details: req.body,
        },
      );
      reply.code(204);
    },
  );

  // ---- work orders -------------------------------------------------------------------------------------------

  app.get(
    '/api/v1/work-orders',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['field service'],
        summary: 'Work orders, newest first',
        querystring: obj({
          ...PageQuery,
          status: Type.Optional(Type.Union(WORK_ORDER_STATUSES.map((s) => Type.Literal(s)))),
          stationId: Type.Optional(StationId),
          technicianId: Type.Optional(Slug),
        }),
        response: { 200: Page(WorkOrderSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const visible = await visibleStations(principalOf(req));
      const q = req.query;
      const { items, total } = await workOrders.list({
        ...(q.stationId ? { stationId: q.stationId } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(q.technicianId ? { technicianId: q.technicianId } : {}),
        ...(visible === 'all' ? {} : { stationIds: visible }),
        limit: q.limit,
        offset: q.offset,
      });
      return { items, total, limit: q.limit, offset: q.offset };
    },
  );

  app.get(
    '/api/v1/work-orders/:id',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['field service'],
        summary: 'One work order with its history',
        params: obj({ id: Id }),
        response: {
          200: obj({ workOrder: WorkOrderSchema, events: Type.Array(Type.Unknown()) }),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      const wo = await visibleWorkOrder(req, req.params.id);
      const events = await workOrders.events(wo.id);
      return {
        workOrder: wo,
        events: events.map((e) => ({
          type: e.type,
          actor: e.actor,
          details: e.details,
          at: new Date(e.at).toISOString(),
        })),
      };
    },
  );

  app.post(
    '/api/v1/work-orders',
    {
      preHandler: authorize(...DISPATCHERS),
      schema: {
        tags: ['field service'],
        summary: 'Open a work order for an outage, an alert, or a station (Idempotency-Key)',
        headers: IdempotencyHeaders,
        body: obj({
          outageId: Type.Optional(Id),
          alertId: Type.Optional(Id),
          stationId: Type.Optional(StationId),
          evseId: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          symptom: Text(500),
          causeCode: Type.Optional(CauseCode),
          priority: Type.Optional(Priority),
          requiredSkill: Type.Optional(Slug),
          checklist: Type.Optional(Type.Array(Text(200), { maxItems: 50 })),
        }),
        response: { 201: WorkOrderSchema, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      let stationId = b.stationId;
      let evseId: number | null = b.evseId ?? null;
      let connectorId: number | null = null;
      let causeCode = b.causeCode ?? null;
      if (b.outageId) {
        const o = await db.selectFrom('uptime_outages').selectAll().where('id', '=', b.outageId).executeTakeFirst();
        if (!o) throw notFound(`outage ${b.outageId}`);
        stationId = o.station_id;
        evseId = o.evse_id;
        connectorId = o.connector_id;
        causeCode ??= o.cause_code;
      } else if (b.alertId) {
        const a = await db.selectFrom('alerts').selectAll().where('id', '=', b.alertId).executeTakeFirst();
        if (!a) throw notFound(`alert ${b.alertId}`);
        stationId = a.station_id;
        evseId = a.evse_id;
        connectorId = a.connector_id;
      }
      if (!stationId)
        throw new ApiError(400, 'validation_failed', 'give outageId, alertId or stationId', {
          field: 'body/stationId',
        });
      await requireVisibleStation(req, stationId);
      return idempotent(
        req,
        reply,
        201,
        (trx) =>
          workOrders.create(trx, {
            stationId: stationId!,
            evseId,
            connectorId,
            outageId: b.outageId ?? null,
            alertId: b.alertId ?? null,
            symptom: b.symptom,
            causeCode,
            ...(b.priority ? { priority: b.priority } : {}),
            ...(b.requiredSkill ? { requiredSkill: b.requiredSkill } : {}),
            ...(b.checklist ? { checklist: b.checklist } : {}),
            by: actorOf(req),
          }),
        (wo) => ({ action: 'work_order.created', target: `work_order:${wo.id}`, outcome: 'success', details: b }),
      ).catch(workOrderError);
    },
  );

  app.patch(
    '/api/v1/work-orders/:id',
    {
      preHandler: authorize(...FIELD),
      schema: {
        tags: ['field service'],
        summary: 'Update a work order: status, technician, notes, photos, parts, checklist, labour (Idempotency-Key)',
        params: obj({ id: Id }),
        headers: IdempotencyHeaders,
        body: obj({
          status: Type.Optional(Status),
          technicianId: Type.Optional(Slug),
          note: Type.Optional(Text(2000)),
          attachments: Type.Optional(Type.Array(Attachment, { maxItems: 20 })),
          parts: Type.Optional(Type.Array(Part, { maxItems: 50 })),
          checklistDone: Type.Optional(Type.Array(Text(200), { maxItems: 50 })),
          laborCostMinor: Type.Optional(Type.Integer({ minimum: 0, maximum: 1e12 })),
        }),
        response: { 200: WorkOrderSchema, ...errorResponses(404, 409, 422) },
      },
    },
    async (req, reply) => {
      const wo = await visibleWorkOrder(req, req.params.id);
      const b = req.body;
      const by = actorOf(req);
      const entry: AuditEntry = {
        action: 'work_order.updated',
        target: `work_order:${wo.id}`,
        outcome: 'success',
        details: b,
      };
      // A status move and the notes that go with it are one change: both, or neither.
      const apply = async (trx: Transaction<Database>) => {
        let current = (await workOrders.get(wo.id, trx)) ?? wo;
        if (b.status && b.status !== current.status) {
          current = await workOrders.transition(
            wo.id,
            b.status,
            by,
            b.technicianId ? { technicianId: b.technicianId } : {},
            trx,
          );
        } else if (b.technicianId && b.technicianId !== current.technicianId) {
          current = await workOrders.transition(wo.id, 'assigned', by, { technicianId: b.technicianId }, trx);
        }
        if (b.note || b.attachments || b.parts || b.checklistDone || b.laborCostMinor !== undefined) {
          current = await workOrders.update(
            wo.id,
            by,
            {
              ...(b.note ? { note: b.note } : {}),
              ...(b.attachments ? { attachments: b.attachments } : {}),
              ...(b.parts ? { parts: b.parts } : {}),
              ...(b.checklistDone ? { checklistDone: b.checklistDone } : {}),
              ...(b.laborCostMinor !== undefined ? { laborCostMinor: b.laborCostMinor } : {}),
            },
            trx,
          );
        }
        return current;
      };
      return idempotent(req, reply, 200, apply, entry).catch(workOrderError);
    },
  );

  app.post(
    '/api/v1/work-orders/:id/resolve',
    {
      preHandler: authorize(...FIELD),
      schema: {
        tags: ['field service'],
        summary: "Resolve with the root cause: corrects the outage's cause and, with exclusionReason, excludes it",
        params: obj({ id: Id }),
        headers: IdempotencyHeaders,
        body: obj({
          causeCode: CauseCode,
          exclusionReason: Type.Optional(Type.Integer({ minimum: 1, maximum: 6 })),
          notes: Type.Optional(Text(255)),
          attachments: Type.Optional(Type.Array(Attachment, { maxItems: 20 })),
        }),
        response: { 200: WorkOrderSchema, ...errorResponses(404, 409, 422) },
      },
    },
    async (req, reply) => {
      const wo = await visibleWorkOrder(req, req.params.id);
      const b = req.body;
      return idempotent(
        req,
        reply,
        200,
        (trx) =>
          workOrders.resolve(
            wo.id,
            actorOf(req),
            {
              causeCode: b.causeCode,
              ...(b.exclusionReason ? { exclusionReason: b.exclusionReason as 1 | 2 | 3 | 4 | 5 | 6 } : {}),
              ...(b.notes ? { notes: b.notes } : {}),
              ...(b.attachments ? { attachments: b.attachments } : {}),
            },
            trx,
          ),
        { action: 'work_order.resolved', target: `work_order:${wo.id}`, outcome: 'success', details: b },
      ).catch(workOrderError);
    },
  );

  // ---- the technician's view ---------------------------------------------------------------------------------

  app.get(
    '/api/v1/technician/work-orders',
    {
      preHandler: authorize('technician', 'admin', 'operator'),
      schema: {
        tags: ['field service'],
        summary: 'My work orders (the caller as technician), open ones first',
        response: { 200: Type.Array(WorkOrderSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const technicianId = await technicianOf(req);
      if (!technicianId) return [];
      const { items } = await workOrders.list({ technicianId, limit: 200 });
      const rank = (s: string) => (['resolved', 'verified', 'cancelled'].includes(s) ? 1 : 0);
      return items.sort((a, b) => rank(a.status) - rank(b.status));
    },
  );

  app.get(
    '/api/v1/technician/work-orders/:id/asset',
    {
      preHandler: authorize('technician', 'admin', 'operator'),
      schema: {
        tags: ['field service'],
        summary: "The work order's asset: its recent faults and the recent commands sent to it",
        params: obj({ id: Id }),
        response: {
          200: obj({
            stationId: Type.String(),
            online: Type.Boolean(),
            faults: Type.Array(Type.Unknown()),
            commands: Type.Array(Type.Unknown()),
          }),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      const wo = await visibleWorkOrder(req, req.params.id);
      const faults = await db
        .selectFrom('station_events')
        .select(['id', 'evse_id', 'connector_id', 'error_code', 'vendor_error_code', 'info', 'cleared', 'occurred_at'])
        .where('station_id', '=', wo.stationId)
        .where('kind', '=', 'fault')
        .orderBy('occurred_at', 'desc')
        .limit(20)
        .execute();
      const cmds = await db
        .selectFrom('command_log')
        .select(['id', 'command', 'status', 'requested_by', 'created_at', 'completed_at'])
        .where('station_id', '=', wo.stationId)
        .orderBy('id', 'desc')
        .limit(20)
        .execute();
      const station = await db
        .selectFrom('stations')
        .select('online')
        .where('id', '=', wo.stationId)
        .executeTakeFirst();
      return {
        stationId: wo.stationId,
        online: station?.online ?? false,
        faults: faults.map((f) => ({
          id: String(f.id),
          evseId: f.evse_id,
          connectorId: f.connector_id,
          errorCode: f.error_code,
          code: f.vendor_error_code,
          info: f.info,
          cleared: f.cleared,
          at: new Date(f.occurred_at).toISOString(),
        })),
        commands: cmds.map((c) => ({
          id: String(c.id),
          command: c.command,
          status: c.status,
          requestedBy: c.requested_by,
          at: new Date(c.created_at).toISOString(),
        })),
      };
    },
  );

  app.post(
    '/api/v1/technician/work-orders/:id/commands/:command',
    {
      preHandler: authorize('technician', 'admin', 'operator'),
      schema: {
        tags: ['field service'],
        summary: "Remote reset or unlock of the work order's asset",
        params: obj({ id: Id, command: Type.Union([Type.Literal('reset'), Type.Literal('unlock')]) }),
        body: obj({ type: Type.Optional(Type.Union([Type.Literal('soft'), Type.Literal('hard')])) }),
        response: {
          200: obj({ commandId: Type.String(), status: Type.String() }),
          ...errorResponses(404, 409, 502, 504),
        },
      },
    },
    async (req) => {
      const wo = await visibleWorkOrder(req, req.params.id);
      if (req.params.command === 'unlock' && wo.evseId === null) {
        throw new ApiError(409, 'conflict', 'this work order names no EVSE to unlock', { field: 'params/command' });
      }
      const command =
        req.params.command === 'reset'
          ? ({ name: 'reset', type: req.body.type ?? 'soft' } as const)
          : ({
              name: 'unlock',
              evseId: wo.evseId!,
              ...(wo.connectorId ? { connectorId: wo.connectorId } : {}),
            } as const);
      const by = actorOf(req);
      try {
        const { commandId, result } = await commands.send(wo.stationId, command, by);
        await audit(req, {
          action: `command.${command.name}`,
          target: `station:${wo.stationId}`,
          outcome: chargerAnswer(result.status),
          details: { workOrderId: wo.id },
        });
        return { commandId: String(commandId), status: result.status };
      } catch (err) {
        await audit(req, {
          action: `command.${command.name}`,
          target: `station:${wo.stationId}`,
          outcome: commandFailureOutcome(err),
          details: { workOrderId: wo.id, error: (err as Error).message },
        });
        if (err instanceof StationOfflineError)
          throw new ApiError(409, 'station_offline', `station ${wo.stationId} is not connected`);
        if (err instanceof CommandTimeoutError)
          throw new ApiError(504, 'command_timeout', 'the station did not answer in time');
        if (err instanceof CommandRejectedError) throw new ApiError(409, 'command_rejected', (err as Error).message);
        if (err instanceof CommandAnswerInvalidError) throw new ApiError(502, 'station_invalid_answer', err.message);
        throw err;
      }
    },
  );

  // ---- webhook subscriptions for field-service systems ---------------------------------------------------------

  app.post(
    '/api/v1/fieldservice/webhooks',
    {
      preHandler: authorize('admin'),
      schema: {
        tags: ['field service'],
        summary: 'Subscribe a URL to signed events (work_order.*, alert.*, outage.*); the secret is shown once',
        body: obj({
          id: Slug,
          url: Type.String({ format: 'uri', maxLength: 1000, pattern: '^https?://[^\\s<>{}`$;]+$' }),
          topics: Type.Optional(
            Type.Array(Type.String({ pattern: '^(\\*|[a-z_]+\\.(\\*|[a-z_]+))$' }), { maxItems: 20 }),
          ),
          siteId: Type.Optional(Slug),
        }),
        response: { 201: obj({ id: Type.String(), secret: Type.String() }), ...errorResponses(409) },
      },
    },
    async (req, reply) => {
      const exists = await db
        .selectFrom('fieldservice_webhooks')
        .select('id')
        .where('id', '=', req.body.id)
        .executeTakeFirst();
      if (exists) throw new ApiError(409, 'conflict', `webhook ${req.body.id} exists`, { field: 'body/id' });
      const created = await audited(
        req,
        (trx) =>
          addWebhook(trx, {
            id: req.body.id,
            url: req.body.url,
            ...(req.body.topics ? { topics: req.body.topics } : {}),
            ...(req.body.siteId ? { siteId: req.body.siteId } : {}),
          }),
        (c) => ({
          action: 'webhook.created',
          target: `webhook:${c.id}`,
          outcome: 'success',
          details: { url: req.body.url, topics: req.body.topics ?? ['*'] },
        }),
      );
      reply.code(201);
      return created;
    },
  );
}
