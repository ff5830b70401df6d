// Field service, wired to the uptime domain: an outage that opens raises the alerts its rules ask for (routed,
// de-duplicated), opens a work order where the rule says so (or reopens one resolved within the window), and
// every step reaches field-service systems by signed webhook through the outbox, in the same transaction as
// the outage itself. An outage that ends resolves its alerts; a port that charges again verifies its work order.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { Outbox } from '../storage/outbox.ts';
import type { DomainEvent } from '../events/bus.ts';
import type { Outage, OutageChange, UptimeService } from '../uptime/service.ts';
import { causeFor } from '../uptime/cause-codes.ts';
import {
  alertKey,
  raiseAlert,
  resolveAlertByKey,
  resolveAlertsForOutage,
  rulesFor,
  siteOf,
  type AlertRuleKind,
} from './alerts.ts';
import { stationPorts } from '../uptime/evidence.ts';
import { monthWindow, trailingTwelveMonths, MINUTES_PER_YEAR } from '../uptime/nevi.ts';
import { publishWebhookEvent, webhookChannel, WEBHOOK_CHANNEL } from './webhooks.ts';
import { EMAIL_CHANNEL, emailChannel, type SmtpOptions } from './email.ts';
import { WorkOrderService, type Priority } from './work-orders.ts';
import { dateOf, systemClock, type Clock } from '../time/clock.ts';

const RULE_FOR_REASON: Record<string, AlertRuleKind> = {
  faulted: 'faulted',
  station_faulted: 'faulted',
  unavailable: 'faulted',
  station_unavailable: 'faulted',
  offline: 'offline',
  boot_loop: 'boot_loop',
  failed_sessions: 'no_energy',
};

const STATION_WIDE = new Set(['offline', 'boot_loop', 'station_faulted', 'station_unavailable']);

export interface FieldServiceOptions {
  smtp?: SmtpOptions;
  reopenWindowMs?: number;
  /** How often time-based rules (offline longer than N minutes, meter not advancing) are re-evaluated. */
  sweepMs?: number;
  /** How often the month's uptime forecast is recomputed for every port (heavier than the other rules). */
  forecastEveryMs?: number;
  onError?: (err: Error) => void;
  clock?: Clock;
}

export class FieldService {
  readonly workOrders: WorkOrderService;
  private unsubscribe: (() => void) | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closeEmail: (() => void) | undefined;
  private lastForecast = 0;
  private sweeping: Promise<void> | undefined;
  private closed = false;
  private readonly inflight = new Set<Promise<void>>();
  /**
   * Stations with a resolved work order (awaiting verification by a session that delivers energy), as far as
   * this process knows: loaded on attach, added to by this process's own resolutions at once, reloaded every
   * sweep so other processes' are seen within a sweep period. Undefined until loaded: then every session looks.
   */
  private resolvedStations: Set<string> | undefined;
  /** For each reload under way, the stations resolved while it reads, so it does not lose them. */
  private readonly resolvedDuringReload = new Set<Set<string>>();
  private readonly clock: Clock;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly outbox: Outbox,
    private readonly uptime: UptimeService,
    private readonly options: FieldServiceOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.workOrders = new WorkOrderService(db, outbox, uptime, {
      reopenWindowMs: options.reopenWindowMs,
      clock: this.clock,
      onResolved: (stationId) => {
        this.resolvedStations?.add(stationId);
        for (const during of this.resolvedDuringReload) during.add(stationId);
      },
    });
    outbox.registerChannel(WEBHOOK_CHANNEL, webhookChannel(db));
    if (options.smtp) {
      const email = emailChannel(options.smtp);
      outbox.registerChannel(EMAIL_CHANNEL, email.send);
      this.closeEmail = email.close;
    }
    uptime.onOutage((trx, change) => this.onOutageChange(trx, change));
  }

  attach(bus: { subscribe(listener: (event: DomainEvent) => void | Promise<void>): () => void }): void {
    this.unsubscribe = bus.subscribe(async (event) => {
      if (event.type !== 'transaction.ended' || this.closed) return;
      // Only a resolved work order of the station can be verified: none known, nothing to read.
      if (this.resolvedStations && !this.resolvedStations.has(event.stationId)) return;
      const work = this.onSessionEnded(event.transactionId);
      this.inflight.add(work);
      try {
        await work;
      } finally {
        this.inflight.delete(work);
      }
    });
    this.reloadResolved().catch((err: Error) => this.options.onError?.(err));
    this.sweepTimer = setInterval(() => {
      if (this.closed) return;
      this.sweep().catch((err: Error) => this.options.onError?.(err));
    }, this.options.sweepMs ?? 30_000);
    this.sweepTimer.unref();
  }

  /** Stops listening and waits for a sweep in progress, so nothing touches the database after close. */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    clearInterval(this.sweepTimer);
    await this.sweeping?.catch(() => undefined);
    await Promise.allSettled([...this.inflight]);
    this.closeEmail?.();
  }

  private async onOutageChange(trx: Transaction<Database>, change: OutageChange): Promise<void> {
    const { outage } = change;
    const siteId = await siteOf(trx, outage.stationId);
    const now = dateOf(this.clock);
    await publishWebhookEvent(trx, this.outbox, `outage.${change.kind}`, outagePayload(outage), siteId, now);
    if (change.kind === 'opened' && outage.endedAt === null) {
      const reopened = await this.workOrders.reopenForOutage(trx, outage);
      await this.evaluate(trx, outage, reopened !== undefined, now);
    } else if (change.kind === 'closed') {
      await resolveAlertsForOutage(trx, this.outbox, outage.id, now);
    }
    this.outbox.wakeSoon();
  }

  /** Applies the rules for an open outage: alerts, and a work order where the rule opens one. */
  private async evaluate(trx: Transaction<Database>, outage: Outage, hasWorkOrder: boolean, now: Date): Promise<void> {
    const kind = RULE_FOR_REASON[outage.reason];
    if (!kind) return;
    const ageMinutes = (now.getTime() - outage.startedAt.getTime()) / 60_000;
    for (const rule of await rulesFor(trx, kind, outage.stationId)) {
      if (rule.threshold.minutes !== undefined && ageMinutes < rule.threshold.minutes) continue;
      const cause = causeFor(outage.causeCode);
      const { alert, created } = await raiseAlert(
        trx,
        this.outbox,
        {
          rule,
          stationId: outage.stationId,
          evseId: outage.evseId,
          connectorId: outage.connectorId,
          outageId: outage.id,
          summary: `${outage.stationId} EVSE ${outage.evseId}: ${cause.name} (${outage.causeCode}), responsible: ${outage.responsibleParty}`,
          details: { causeCode: outage.causeCode, reason: outage.reason, responsibleParty: outage.responsibleParty },
        },
        now,
      );
      if (!created || !rule.autoWorkOrder || hasWorkOrder) continue;
      if ((await this.workOrders.openForPort(trx, outage.stationId, outage.evseId)).length > 0) continue;
      // A charger-wide condition (offline, boot loop, connector 0 fault) is one job, not one per port.
      if (
        STATION_WIDE.has(outage.reason) &&
        (await this.workOrders.openForStation(trx, outage.stationId, outage.causeCode))
      ) {
        continue;
      }
      await this.workOrders.create(trx, {
        stationId: outage.stationId,
        evseId: outage.evseId,
        connectorId: outage.connectorId,
        outageId: outage.id,
        alertId: alert.id,
        symptom: alert.summary,
        causeCode: outage.causeCode,
        priority: rule.workOrderPriority as Priority,
        by: `rule:${rule.id}`,
      });
      hasWorkOrder = true;
    }
  }

  /** Re-evaluates the rules that depend on time: open outages, meters that stopped, the month's forecast. */
  async sweep(now = this.clock.now()): Promise<void> {
    if (this.sweeping) return this.sweeping;
    this.sweeping = (async () => {
      await this.reloadResolved();
      await this.sweepOutages(now);
      await this.sweepMeters(now);
      if (now - this.lastForecast >= (this.options.forecastEveryMs ?? 10 * 60_000)) {
        this.lastForecast = now;
        await this.sweepForecast(now);
      }
    })().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOutages(now: number): Promise<void> {
    const open = await this.uptime.listOutages({ open: true });
    for (const outage of open) {
      await this.db.transaction().execute(async (trx) => {
        const hasWorkOrder = (await this.workOrders.openForPort(trx, outage.stationId, outage.evseId)).length > 0;
        await this.evaluate(trx, outage, hasWorkOrder, new Date(now));
      });
    }
    if (open.length) this.outbox.wakeSoon();
  }

  /**
   * Meter not advancing while charging: a port reported Charging, its transaction sends energy readings, and
   * none has risen for the rule's minutes. Resolved by itself once the meter moves or the session ends.
   */
  private async sweepMeters(now: number): Promise<void> {
    const charging = await this.db
      .selectFrom('transactions as t')
      .innerJoin('connectors as c', (j) =>
        j
          .onRef('c.station_id', '=', 't.station_id')
          .onRef('c.evse_id', '=', 't.evse_id')
          .onRef('c.connector_id', '=', 't.connector_id'),
      )
      .select(['t.id', 't.station_id', 't.evse_id', 't.connector_id'])
      .where('t.status', '=', 'active')
      .where('c.status', '=', 'charging')
      .execute();
    const chargingKeys = new Set(charging.map((t) => `${t.station_id}:${t.evse_id}:${t.connector_id}`));
    for (const tx of charging) {
      const rules = await this.db.transaction().execute((trx) => rulesFor(trx, 'meter_stuck', tx.station_id));
      for (const rule of rules) {
        const minutes = rule.threshold.minutes ?? 10;
        const since = new Date(now - minutes * 60_000);
        const samples = await this.db
          .selectFrom('meter_samples')
          .select(['sampled_at', 'value', 'unit'])
          .where('transaction_id', '=', tx.id)
          .where('measurand', '=', 'Energy.Active.Import.Register')
          .orderBy('sampled_at')
          .execute();
        const wh = samples.map((m) => ({
          at: new Date(m.sampled_at).getTime(),
          wh: m.unit === 'kWh' ? m.value * 1000 : m.value,
        }));
        const baseline = [...wh].reverse().find((m) => m.at <= since.getTime());
        const recent = wh.filter((m) => m.at > since.getTime());
        const stuck = baseline !== undefined && recent.length > 0 && recent.every((m) => m.wh <= baseline.wh);
        await this.db.transaction().execute(async (trx) => {
          if (stuck) {
            await raiseAlert(
              trx,
              this.outbox,
              {
                rule,
                stationId: tx.station_id,
                evseId: tx.evse_id,
                connectorId: tx.connector_id,
                outageId: null,
                summary: `${tx.station_id} EVSE ${tx.evse_id}: meter not advancing for ${minutes} min while charging`,
                details: { transactionId: tx.id, sinceWh: baseline.wh },
              },
              new Date(now),
            );
          } else {
            const key = alertKey(rule.id, tx.station_id, tx.evse_id, tx.connector_id);
            await resolveAlertByKey(trx, this.outbox, key, new Date(now));
          }
        });
      }
    }
    // Stuck-meter alerts of ports no longer charging resolve too.
    const open = await this.db
      .selectFrom('alerts')
      .selectAll()
      .where('status', '=', 'open')
      .where('rule_id', 'in', this.db.selectFrom('alert_rules').select('id').where('kind', '=', 'meter_stuck'))
      .execute();
    for (const a of open) {
      if (chargingKeys.has(`${a.station_id}:${a.evse_id}:${a.connector_id}`)) continue;
      await this.db.transaction().execute((trx) => resolveAlertByKey(trx, this.outbox, a.dedupe_key, new Date(now)));
    }
    this.outbox.wakeSoon();
  }

  /**
   * Uptime forecast below target this month: the port's trailing-twelve-month figure at the end of this month
   * if its open outages lasted until then and nothing else failed. Resolved when the forecast recovers (an
   * outage ends earlier, or is excluded). An open outage's projected rest of the month is excluded as far as its
   * exclusions reach (an open-ended exclusion covers all of it), as the month's report will count it.
   */
  async sweepForecast(now = this.clock.now()): Promise<void> {
    const d = new Date(now);
    const year = d.getUTCFullYear();
    const month = d.getUTCMonth() + 1;
    const monthEnd = monthWindow(year, month).to;
    for (const stationId of await this.uptime.knownStations()) {
      const rules = await this.db.transaction().execute((trx) => rulesFor(trx, 'uptime_forecast', stationId));
      if (rules.length === 0) continue;
      for (const port of await stationPorts(this.db, stationId)) {
        const window = trailingTwelveMonths(year, month);
        const details = await this.uptime.outageDetails({ stationId, ...port }, window, Math.max(now, monthEnd));
        const down = details.reduce((sum, o) => sum + o.minutes - o.excludedMinutes, 0);
        const forecast = ((MINUTES_PER_YEAR - down) / MINUTES_PER_YEAR) * 100;
        for (const rule of rules) {
          const target = rule.threshold.percent ?? 97;
          await this.db.transaction().execute(async (trx) => {
            if (forecast < target) {
              await raiseAlert(
                trx,
                this.outbox,
                {
                  rule,
                  stationId,
                  evseId: port.evseId,
                  connectorId: port.connectorId,
                  outageId: null,
                  summary: `${stationId} EVSE ${port.evseId}: uptime forecast ${forecast.toFixed(2)}% for ${year}-${String(month).padStart(2, '0')}, below ${target}%`,
                  details: { forecast, target, year, month },
                },
                new Date(now),
              );
            } else {
              const key = alertKey(rule.id, stationId, port.evseId, port.connectorId);
              await resolveAlertByKey(trx, this.outbox, key, new Date(now));
            }
          });
        }
      }
    }
    this.outbox.wakeSoon();
  }

  /** Reads which stations have a resolved work order (see `resolvedStations`). */
  private async reloadResolved(): Promise<void> {
    const during = new Set<string>();
    this.resolvedDuringReload.add(during);
    try {
      const rows = await this.db
        .selectFrom('work_orders')
        .select('station_id')
        .distinct()
        .where('status', '=', 'resolved')
        .execute();
      this.resolvedStations = new Set([...rows.map((r) => r.station_id), ...during]);
    } finally {
      this.resolvedDuringReload.delete(during);
    }
  }

  private async onSessionEnded(transactionId: string): Promise<void> {
    const tx = await this.db
      .selectFrom('transactions')
      .select(['id', 'station_id', 'evse_id', 'connector_id', 'energy_wh'])
      .where('id', '=', transactionId)
      .executeTakeFirst();
    if (!tx || !((tx.energy_wh ?? 0) > 0)) return;
    await this.db.transaction().execute(async (trx) => {
      await this.workOrders.verifyForPort(
        trx,
        { stationId: tx.station_id, evseId: tx.evse_id, connectorId: tx.connector_id },
        { evidence: { table: 'transactions', id: tx.id }, energyWh: tx.energy_wh },
      );
      this.outbox.wakeSoon();
    });
  }
}

export function outagePayload(o: Outage): Record<string, unknown> {
  return {
    id: o.id,
    stationId: o.stationId,
    evseId: o.evseId,
    connectorId: o.connectorId,
    startedAt: o.startedAt.toISOString(),
    endedAt: o.endedAt?.toISOString() ?? null,
    reason: o.reason,
    causeCode: o.causeCode,
    causeSource: o.causeSource,
    responsibleParty: o.responsibleParty,
    evidence: o.evidence,
  };
}
