// Alerts: rules with thresholds raise them, one open alert per rule and port (later occurrences are counted on
// it, not repeated), routed per site and role, and resolved automatically when their condition ends. Raising
// and resolving queue webhooks (and e-mails to the rule's addresses) in the same transaction.
import type { Transaction } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { Outbox } from '../storage/outbox.ts';
import { publishWebhookEvent } from './webhooks.ts';
import { EMAIL_CHANNEL } from './email.ts';

export type AlertRuleKind = 'faulted' | 'offline' | 'boot_loop' | 'no_energy' | 'meter_stuck' | 'uptime_forecast';

export interface AlertRule {
  id: string;
  kind: AlertRuleKind;
  threshold: Record<string, number>;
  stationId: string | null;
  siteId: string | null;
  severity: string;
  autoWorkOrder: boolean;
  workOrderPriority: string;
  routeRoles: string[];
  routeEmails: string[];
}

export interface Alert {
  id: string;
  ruleId: string;
  stationId: string;
  evseId: number | null;
  connectorId: number | null;
  siteId: string | null;
  outageId: string | null;
  severity: string;
  status: 'open' | 'resolved';
  summary: string;
  occurrences: number;
  openedAt: Date;
  resolvedAt: Date | null;
  routeRoles: string[];
}

export async function siteOf(trx: Transaction<Database>, stationId: string): Promise<string | null> {
  const row = await trx
    .selectFrom('station_zones')
    .select('site_id')
    .where('station_id', '=', stationId)
    .executeTakeFirst();
  return row?.site_id ?? null;
}

/** The enabled rules of a kind that apply to a station (its own rules first, then its site's, then global). */
export async function rulesFor(
  trx: Transaction<Database>,
  kind: AlertRuleKind,
  stationId: string,
): Promise<AlertRule[]> {
  const siteId = await siteOf(trx, stationId);
  const rows = await trx
    .selectFrom('alert_rules')
    .selectAll()
    .where('kind', '=', kind)
    .where('enabled', '=', true)
    .execute();
  return rows
    .filter(
      (r) => (r.station_id === null || r.station_id === stationId) && (r.site_id === null || r.site_id === siteId),
    )
    .map((r) => ({
      id: r.id,
      kind: r.kind as AlertRuleKind,
      threshold: r.threshold,
      stationId: r.station_id,
      siteId: r.site_id,
      severity: r.severity,
      autoWorkOrder: r.auto_work_order,
      workOrderPriority: r.work_order_priority,
      routeRoles: r.route_roles,
      routeEmails: r.route_emails,
    }));
}

export interface RaiseRequest {
  rule: AlertRule;
  stationId: string;
  evseId: number | null;
  connectorId: number | null;
  outageId: string | null;
  summary: string;
  details: Record<string, unknown>;
}

/**
 * Raises an alert, or counts a new occurrence on the open one for the same rule and port. Returns the alert
 * and whether it is new. The same outage seen again is not a new occurrence.
 */
export async function raiseAlert(
  trx: Transaction<Database>,
  outbox: Outbox,
  req: RaiseRequest,
  now: Date,
): Promise<{ alert: Alert; created: boolean }> {
  const key = alertKey(req.rule.id, req.stationId, req.evseId, req.connectorId);
  const open = await trx
    .selectFrom('alerts')
    .selectAll()
    .where('dedupe_key', '=', key)
    .where('status', '=', 'open')
    .executeTakeFirst();
  if (open) {
    if (open.outage_id === req.outageId) return { alert: toAlert(open, req.rule), created: false };
    const row = await trx
      .updateTable('alerts')
      .set({ occurrences: open.occurrences + 1, last_seen_at: now, outage_id: req.outageId })
      .where('id', '=', open.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { alert: toAlert(row, req.rule), created: false };
  }
  const siteId = await siteOf(trx, req.stationId);
  const row = await trx
    .insertInto('alerts')
    .values({
      rule_id: req.rule.id,
      dedupe_key: key,
      station_id: req.stationId,
      evse_id: req.evseId,
      connector_id: req.connectorId,
      site_id: siteId,
      outage_id: req.outageId,
      severity: req.rule.severity,
      status: 'open',
      summary: req.summary,
      details: JSON.stringify({ ...req.details, routeRoles: req.rule.routeRoles }),
      occurrences: 1,
      opened_at: now,
      last_seen_at: now,
      resolved_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  const alert = toAlert(row, req.rule);
  await publishWebhookEvent(trx, outbox, 'alert.raised', alertPayload(alert), siteId, now);
  for (const to of req.rule.routeEmails) {
    await outbox.enqueue(trx, {
      channel: EMAIL_CHANNEL,
      topic: 'alert.raised',
      payload: {
        to,
        subject: `[OpenCPO ${alert.severity}] ${alert.summary}`,
        text: `${alert.summary}\nStation ${alert.stationId}, EVSE ${alert.evseId ?? '-'}, connector ${alert.connectorId ?? '-'}\nAlert ${alert.id}, opened ${alert.openedAt.toISOString()}`,
      },
    });
  }
  return { alert, created: true };
}

/** One open alert per rule and port: later occurrences are counted on it. */
export function alertKey(ruleId: string, stationId: string, evseId: number | null, connectorId: number | null): string {
  return `${ruleId}:${stationId}:${evseId ?? '-'}:${connectorId ?? '-'}`;
}

/** Resolves the open alert with this key, when its condition no longer holds. */
export async function resolveAlertByKey(
  trx: Transaction<Database>,
  outbox: Outbox,
  key: string,
  now: Date,
): Promise<boolean> {
  const row = await trx
    .updateTable('alerts')
    .set({ status: 'resolved', resolved_at: now })
    .where('dedupe_key', '=', key)
    .where('status', '=', 'open')
    .returningAll()
    .executeTakeFirst();
  if (row) await publishWebhookEvent(trx, outbox, 'alert.resolved', alertPayload(toAlert(row)), row.site_id, now);
  return Boolean(row);
}

/** Resolves the open alerts tied to an outage that has ended. */
export async function resolveAlertsForOutage(
  trx: Transaction<Database>,
  outbox: Outbox,
  outageId: string,
  now: Date,
): Promise<number> {
  const rows = await trx
    .updateTable('alerts')
    .set({ status: 'resolved', resolved_at: now })
    .where('outage_id', '=', outageId)
    .where('status', '=', 'open')
    .returningAll()
    .execute();
  for (const row of rows) {
    await publishWebhookEvent(trx, outbox, 'alert.resolved', alertPayload(toAlert(row)), row.site_id, now);
  }
  return rows.length;
}

export function alertPayload(a: Alert): Record<string, unknown> {
  return {
    id: a.id,
    ruleId: a.ruleId,
    stationId: a.stationId,
    evseId: a.evseId,
    connectorId: a.connectorId,
    siteId: a.siteId,
    outageId: a.outageId,
    severity: a.severity,
    status: a.status,
    summary: a.summary,
    occurrences: a.occurrences,
    openedAt: a.openedAt.toISOString(),
    resolvedAt: a.resolvedAt?.toISOString() ?? null,
    routeRoles: a.routeRoles,
  };
}

export function toAlert(
  row: Database['alerts'] extends infer T ? { [K in keyof T]: any } : never,
  rule?: AlertRule,
): Alert {
  return {
    id: String(row.id),
    ruleId: row.rule_id,
    stationId: row.station_id,
    evseId: row.evse_id,
    connectorId: row.connector_id,
    siteId: row.site_id,
    outageId: row.outage_id === null ? null : String(row.outage_id),
    severity: row.severity,
    status: row.status,
    summary: row.summary,
    occurrences: row.occurrences,
    openedAt: new Date(row.opened_at),
    resolvedAt: row.resolved_at ? new Date(row.resolved_at) : null,
    routeRoles: rule?.routeRoles ?? (row.details?.routeRoles as string[] | undefined) ?? [],
  };
}
