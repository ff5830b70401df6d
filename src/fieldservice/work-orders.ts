// Work orders: opened from an alert or an outage (by a person or automatically per rule), assigned to a
// technician by zone and skill, moved open → assigned → en route → on site → resolved → verified, with a
// checklist, parts and their cost, notes, photo attachments and time on site. Resolving records the root
// cause, which corrects the outage's cause and, for causes outside the operator's control, excludes it.
// Verification happens by itself when the port charges again; a new failure within the window reopens it.
// Every change is kept in work_order_events and sent to field-service systems by signed webhook.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { Outbox } from '../storage/outbox.ts';
import { inTransaction } from '../storage/transactions.ts';
import type { UptimeService } from '../uptime/service.ts';
import { causeFor, isKnownCause, type ExclusionReason } from '../uptime/cause-codes.ts';
import { publishWebhookEvent } from './webhooks.ts';
import { dateOf, systemClock, type Clock } from '../time/clock.ts';

export const WORK_ORDER_STATUSES = [
  'open',
  'assigned',
  'en_route',
  'on_site',
  'resolved',
  'verified',
  'cancelled',
] as const;
export type WorkOrderStatus = (typeof WORK_ORDER_STATUSES)[number];
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** Hours to the SLA due time by priority. */
export const SLA_HOURS: Record<Priority, number> = { urgent: 4, high: 8, normal: 48, low: 120 };

/** Which moves a work order may make; resolving is its own operation (it needs the root cause). */
const TRANSITIONS: Record<WorkOrderStatus, WorkOrderStatus[]> = {
  open: ['assigned', 'cancelled'],
  assigned: ['en_route', 'on_site', 'open', 'cancelled'],
  en_route: ['on_site', 'assigned', 'cancelled'],
  on_site: ['en_route', 'assigned'],
  resolved: [],
  verified: [],
  cancelled: [],
};

export interface Part {
  part: string;
  quantity: number;
  unitCostMinor: number;
  currency: string;
}

export class WorkOrderError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

type Executor = Kysely<Database> | Transaction<Database>;
type Row = Awaited<ReturnType<typeof loadRow>>;

async function loadRow(db: Executor, id: string) {
  if (!/^\d+$/.test(id)) return undefined;
  return db.selectFrom('work_orders').selectAll().where('id', '=', id).executeTakeFirst();
}

export function toWorkOrder(row: NonNullable<Row>) {
  return {
    id: String(row.id),
    outageId: row.outage_id === null ? null : String(row.outage_id),
    alertId: row.alert_id === null ? null : String(row.alert_id),
    stationId: row.station_id,
    evseId: row.evse_id,
    connectorId: row.connector_id,
    siteId: row.site_id,
    symptom: row.symptom,
    causeCode: row.cause_code,
    priority: row.priority,
    slaDueAt: new Date(row.sla_due_at).toISOString(),
    status: row.status as WorkOrderStatus,
    technicianId: row.technician_id,
    requiredSkill: row.required_skill,
    checklist: row.checklist,
    parts: row.parts,
    notes: row.notes,
    attachments: row.attachments,
    laborCostMinor: Number(row.labor_cost_minor),
    currency: row.currency,
    resolution: row.resolution,
    enRouteAt: row.en_route_at ? new Date(row.en_route_at).toISOString() : null,
    onSiteAt: row.on_site_at ? new Date(row.on_site_at).toISOString() : null,
    timeOnSiteS: row.time_on_site_s,
    resolvedAt: row.resolved_at ? new Date(row.resolved_at).toISOString() : null,
    verifiedAt: row.verified_at ? new Date(row.verified_at).toISOString() : null,
    reopenedCount: row.reopened_count,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
export type WorkOrder = ReturnType<typeof toWorkOrder>;

export interface WorkOrderOptions {
  /** A resolved work order whose port fails again within this time is reopened instead of a new one opened. */
  reopenWindowMs?: number;
  /** Told, inside the transaction, of each station that gets a resolved work order (see FieldService). */
  onResolved?: (stationId: string) => void;
  clock?: Clock;
}

export class WorkOrderService {
  readonly reopenWindowMs: number;
  private readonly onResolved: ((stationId: string) => void) | undefined;
  private readonly clock: Clock;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly outbox: Outbox,
    private readonly uptime: UptimeService,
    options: WorkOrderOptions = {},
  ) {
    this.reopenWindowMs = options.reopenWindowMs ?? 7 * 24 * 3600_000;
    this.onResolved = options.onResolved;
    this.clock = options.clock ?? systemClock;
  }

  async get(id: string, executor: Executor = this.db): Promise<WorkOrder | undefined> {
    const row = await loadRow(executor, id);
    return row ? toWorkOrder(row) : undefined;
  }

  async list(filter: {
    stationId?: string;
    status?: string;
    technicianId?: string;
    stationIds?: string[];
    limit?: number;
    offset?: number;
  }): Promise<{ items: WorkOrder[]; total: number }> {
    let q = this.db.selectFrom('work_orders');
    if (filter.stationId) q = q.where('station_id', '=', filter.stationId);
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.technicianId) q = q.where('technician_id', '=', filter.technicianId);
    if (filter.stationIds)
      q = filter.stationIds.length ? q.where('station_id', 'in', filter.stationIds) : q.where(sql<boolean>`false`);
    const total = await q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const rows = await q
      .selectAll()
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 50)
      .offset(filter.offset ?? 0)
      .execute();
    return { items: rows.map(toWorkOrder), total: Number(total.n) };
  }

  async events(id: string) {
    return this.db.selectFrom('work_order_events').selectAll().where('work_order_id', '=', id).orderBy('id').execute();
  }

  /** Opens a work order and assigns the best technician for the station's zone and the skill, if one is free. */
  async create(
    trx: Transaction<Database>,
    req: {
      stationId: string;
      evseId?: number | null;
      connectorId?: number | null;
      outageId?: string | null;
      alertId?: string | null;
      symptom: string;
      causeCode?: string | null;
      priority?: Priority;
      requiredSkill?: string | null;
      checklist?: string[];
      by: string;
    },
  ): Promise<WorkOrder> {
    const priority = req.priority ?? 'normal';
    if (!PRIORITIES.includes(priority))
      throw new WorkOrderError('priority', `priority is one of ${PRIORITIES.join(', ')}`);
    if (req.causeCode && !isKnownCause(req.causeCode))
      throw new WorkOrderError('causeCode', `unknown cause code ${req.causeCode}`);
    const now = dateOf(this.clock);
    const zone = await trx
      .selectFrom('station_zones')
      .selectAll()
      .where('station_id', '=', req.stationId)
      .executeTakeFirst();
    const skill = req.requiredSkill ?? skillFor(req.causeCode ?? null);
    const technician = zone ? await this.pickTechnician(trx, zone.zone, skill) : undefined;
    const checklist = (req.checklist ?? defaultChecklist(req.causeCode ?? null)).map((item) => ({ item, done: false }));
    const row = await trx
      .insertInto('work_orders')
      .values({
        outage_id: req.outageId ?? null,
        alert_id: req.alertId ?? null,
        station_id: req.stationId,
        evse_id: req.evseId ?? null,
        connector_id: req.connectorId ?? null,
        site_id: zone?.site_id ?? null,
        symptom: req.symptom,
        cause_code: req.causeCode ?? null,
        priority,
        sla_due_at: new Date(now.getTime() + SLA_HOURS[priority] * 3600_000),
        status: technician ? 'assigned' : 'open',
        technician_id: technician ?? null,
        required_skill: skill,
        checklist: JSON.stringify(checklist),
        parts: JSON.stringify([]),
        notes: JSON.stringify([]),
        attachments: JSON.stringify([]),
        resolution: null,
        en_route_at: null,
        on_site_at: null,
        resolved_at: null,
        verified_at: null,
        updated_at: now,
      } as any)
      .returningAll()
      .executeTakeFirstOrThrow();
    await this.record(trx, row, 'created', req.by, { technicianId: technician ?? null });
    return toWorkOrder(row);
  }

  private async pickTechnician(
    trx: Transaction<Database>,
    zone: string,
    skill: string | null,
  ): Promise<string | undefined> {
    const technicians = await trx.selectFrom('technicians').selectAll().where('active', '=', true).execute();
    const fit = technicians.filter((t) => t.zones.includes(zone) && (!skill || t.skills.includes(skill)));
    if (fit.length === 0) return undefined;
    // The least loaded of those who fit, so work spreads.
    const load = await trx
      .selectFrom('work_orders')
      .select(['technician_id', (eb) => eb.fn.countAll<string>().as('n')])
      .where('status', 'in', ['assigned', 'en_route', 'on_site'])
      .groupBy('technician_id')
      .execute();
    const count = (id: string) => Number(load.find((l) => l.technician_id === id)?.n ?? 0);
    return fit.sort((a, b) => count(a.id) - count(b.id) || a.id.localeCompare(b.id))[0]!.id;
  }

  /** Moves a work order along its statuses (not to resolved: see resolve). */
  async transition(
    id: string,
    to: WorkOrderStatus,
    by: string,
    extra: { technicianId?: string } = {},
    db: Executor = this.db,
  ): Promise<WorkOrder> {
    return inTransaction(db, async (trx) => {
      const row = await this.locked(trx, id);
      const from = row.status as WorkOrderStatus;
      if (!WORK_ORDER_STATUSES.includes(to)) throw new WorkOrderError('status', `unknown status ${to}`);
      if (!TRANSITIONS[from].includes(to))
        throw new WorkOrderError('status', `a work order cannot go from ${from} to ${to}`, 409);
      const now = dateOf(this.clock);
      const set: Record<string, unknown> = { status: to, updated_at: now };
      if (to === 'assigned') {
        const technicianId = extra.technicianId ?? row.technician_id;
        if (!technicianId) throw new WorkOrderError('technicianId', 'assigning needs a technician');
        const tech = await trx.selectFrom('technicians').select('id').where('id', '=', technicianId).executeTakeFirst();
        if (!tech) throw new WorkOrderError('technicianId', `no technician ${technicianId}`);
        set.technician_id = technicianId;
      }
      if (to === 'en_route') set.en_route_at = now;
      if (to === 'on_site') set.on_site_at = now;
      if (from === 'on_site') set.time_on_site_s = row.time_on_site_s + secondsSince(row.on_site_at, now);
      const updated = await trx
        .updateTable('work_orders')
        .set(set)
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await this.record(trx, updated, 'status_changed', by, { from, to });
      return toWorkOrder(updated);
    });
  }

  /** Adds notes, attachments, parts, checklist ticks, labour cost. */
  async update(
    id: string,
    by: string,
    change: {
      note?: string;
      attachments?: { name: string; contentType: string; url: string; sha256?: string }[];
      parts?: Part[];
      checklistDone?: string[];
      laborCostMinor?: number;
    },
    db: Executor = this.db,
  ): Promise<WorkOrder> {
    return inTransaction(db, async (trx) => {
      const row = await this.locked(trx, id);
      const now = dateOf(this.clock);
      const notes = change.note ? [...row.notes, { at: now.toISOString(), by, text: change.note }] : row.notes;
      const attachments = [...row.attachments, ...(change.attachments ?? [])];
      for (const p of change.parts ?? []) {
        if (!Number.isInteger(p.quantity) || p.quantity <= 0)
          throw new WorkOrderError('parts.quantity', 'quantity is a positive integer');
        if (!Number.isInteger(p.unitCostMinor) || p.unitCostMinor < 0) {
          throw new WorkOrderError('parts.unitCostMinor', 'unitCostMinor is a non-negative integer (minor units)');
        }
        if (p.currency !== row.currency)
          throw new WorkOrderError('parts.currency', `work order currency is ${row.currency}`);
      }
      const parts = [...row.parts, ...(change.parts ?? [])];
      const checklist = row.checklist.map((c) => (change.checklistDone?.includes(c.item) ? { ...c, done: true } : c));
      if (
        change.laborCostMinor !== undefined &&
        (!Number.isInteger(change.laborCostMinor) || change.laborCostMinor < 0)
      ) {
        throw new WorkOrderError('laborCostMinor', 'laborCostMinor is a non-negative integer (minor units)');
      }
      const updated = await trx
        .updateTable('work_orders')
        .set({
          notes: JSON.stringify(notes),
          attachments: JSON.stringify(attachments),
          parts: JSON.stringify(parts),
          checklist: JSON.stringify(checklist),
          ...(change.laborCostMinor !== undefined ? { labor_cost_minor: change.laborCostMinor } : {}),
          updated_at: now,
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await this.record(trx, updated, 'updated', by, change as Record<string, unknown>);
      return toWorkOrder(updated);
    });
  }

  /**
   * Resolves with the root cause. The outage's cause is corrected to it (kept with who and why); when the
   * cause is outside the operator's control, the exclusion reason marks the outage excluded.
   */
  async resolve(
    id: string,
    by: string,
    resolution: {
      causeCode: string;
      exclusionReason?: ExclusionReason;
      notes?: string;
      attachments?: { name: string; contentType: string; url: string }[];
    },
    db: Executor = this.db,
  ): Promise<WorkOrder> {
    if (!isKnownCause(resolution.causeCode))
      throw new WorkOrderError('causeCode', `unknown cause code ${resolution.causeCode}`);
    if (resolution.exclusionReason !== undefined && ![1, 2, 3, 4, 5, 6].includes(resolution.exclusionReason)) {
      throw new WorkOrderError('exclusionReason', 'exclusionReason is an EV-ChART code 1–6');
    }
    return inTransaction(db, async (trx) => {
      const row = await this.locked(trx, id);
      if (!['assigned', 'en_route', 'on_site', 'open'].includes(row.status)) {
        throw new WorkOrderError('status', `a ${row.status} work order cannot be resolved`, 409);
      }
      const now = dateOf(this.clock);
      if (row.outage_id !== null) {
        const outageId = String(row.outage_id);
        const why = `work order ${id} resolved: ${resolution.notes ?? causeFor(resolution.causeCode).description}`;
        await this.uptime.correctCause(outageId, { code: resolution.causeCode, by, why, workOrderId: id }, trx);
        if (resolution.exclusionReason) {
          await this.uptime.addExclusion(
            outageId,
            {
              reason: resolution.exclusionReason,
              notes: (resolution.notes ?? `work order ${id}`).slice(0, 255),
              attachments: resolution.attachments ?? [],
              by,
              workOrderId: id,
            },
            trx,
          );
        }
      }
      // Before the commit: whoever is told errs on the side of looking once too often.
      this.onResolved?.(row.station_id);
      const timeOnSite =
        row.status === 'on_site' ? row.time_on_site_s + secondsSince(row.on_site_at, now) : row.time_on_site_s;
      const updated = await trx
        .updateTable('work_orders')
        .set({
          status: 'resolved',
          cause_code: resolution.causeCode,
          resolution: JSON.stringify({ ...resolution, by, at: now.toISOString() }),
          resolved_at: now,
          time_on_site_s: timeOnSite,
          attachments: JSON.stringify([...row.attachments, ...(resolution.attachments ?? [])]),
          updated_at: now,
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await this.record(trx, updated, 'resolved', by, {
        causeCode: resolution.causeCode,
        exclusionReason: resolution.exclusionReason ?? null,
      });
      return toWorkOrder(updated);
    });
  }

  /** The port charged again: its resolved work orders are verified. */
  async verifyForPort(
    trx: Transaction<Database>,
    port: { stationId: string; evseId: number; connectorId: number },
    evidence: Record<string, unknown>,
  ) {
    const rows = await trx
      .selectFrom('work_orders')
      .selectAll()
      .where('station_id', '=', port.stationId)
      .where('status', '=', 'resolved')
      .where((eb) => eb.or([eb('evse_id', 'is', null), eb('evse_id', '=', port.evseId)]))
      .execute();
    const now = dateOf(this.clock);
    for (const row of rows) {
      const updated = await trx
        .updateTable('work_orders')
        .set({ status: 'verified', verified_at: now, updated_at: now })
        .where('id', '=', row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await this.record(trx, updated, 'verified', 'system', evidence);
    }
    return rows.length;
  }

  /** A new outage on a port whose work order was resolved or verified recently reopens that work order. */
  async reopenForOutage(
    trx: Transaction<Database>,
    outage: { id: string; stationId: string; evseId: number; connectorId: number; causeCode: string },
  ) {
    const since = new Date(this.clock.now() - this.reopenWindowMs);
    const row = await trx
      .selectFrom('work_orders')
      .selectAll()
      .where('station_id', '=', outage.stationId)
      .where('evse_id', '=', outage.evseId)
      .where('status', 'in', ['resolved', 'verified'])
      .where('resolved_at', '>=', since)
      .orderBy('resolved_at', 'desc')
      .executeTakeFirst();
    if (!row) return undefined;
    const now = dateOf(this.clock);
    const updated = await trx
      .updateTable('work_orders')
      .set({
        status: row.technician_id ? 'assigned' : 'open',
        outage_id: outage.id,
        reopened_count: row.reopened_count + 1,
        verified_at: null,
        resolved_at: null,
        updated_at: now,
      })
      .where('id', '=', row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await this.record(trx, updated, 'reopened', 'system', { outageId: outage.id, causeCode: outage.causeCode });
    return toWorkOrder(updated);
  }

  /** Open work orders for the port, not yet resolved. */
  async openForPort(trx: Executor, stationId: string, evseId: number) {
    return trx
      .selectFrom('work_orders')
      .selectAll()
      .where('station_id', '=', stationId)
      .where('evse_id', '=', evseId)
      .where('status', 'in', ['open', 'assigned', 'en_route', 'on_site'])
      .execute();
  }

  /** Whether the station already has an unresolved work order for this cause. */
  async openForStation(trx: Executor, stationId: string, causeCode: string): Promise<boolean> {
    const row = await trx
      .selectFrom('work_orders')
      .select('id')
      .where('station_id', '=', stationId)
      .where('cause_code', '=', causeCode)
      .where('status', 'in', ['open', 'assigned', 'en_route', 'on_site'])
      .executeTakeFirst();
    return row !== undefined;
  }

  private async locked(trx: Transaction<Database>, id: string) {
    if (!/^\d+$/.test(id)) throw new WorkOrderError('id', `no work order ${id}`, 404);
    const row = await trx.selectFrom('work_orders').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!row) throw new WorkOrderError('id', `no work order ${id}`, 404);
    return row;
  }

  private async record(
    trx: Transaction<Database>,
    row: NonNullable<Row>,
    type: string,
    actor: string,
    details: Record<string, unknown>,
  ) {
    const at = dateOf(this.clock);
    await trx
      .insertInto('work_order_events')
      .values({ work_order_id: String(row.id), type, actor, details: JSON.stringify(details), at })
      .execute();
    await publishWebhookEvent(
      trx,
      this.outbox,
      `work_order.${type}`,
      { workOrder: toWorkOrder(row), actor, details },
      row.site_id,
      at,
    );
  }
}

function secondsSince(at: Date | string | null, now: Date): number {
  return at ? Math.max(0, Math.round((now.getTime() - new Date(at).getTime()) / 1000)) : 0;
}

/** The skill a cause needs, so the right technician goes. */
export function skillFor(causeCode: string | null): string | null {
  if (!causeCode) return null;
  const party = causeFor(causeCode).party;
  if (causeCode === 'OFFLINE') return 'network';
  if (party === 'oem' || causeCode.startsWith('CX')) return 'electrical';
  return null;
}

function defaultChecklist(causeCode: string | null): string[] {
  const base = [
    'Make the site safe',
    'Photograph the asset before work',
    'Record parts used',
    'Test charge after repair',
  ];
  if (causeCode === 'CX002')
    return ['Make the site safe', 'Check the RCD/GFCI and the cable insulation', ...base.slice(1)];
  return base;
}
