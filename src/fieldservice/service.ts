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
import { raiseAlert, resolveAlertsForOutage, rulesFor, siteOf, type AlertRuleKind } from './alerts.ts';
import { publishWebhookEvent, webhookChannel, WEBHOOK_CHANNEL } from './webhooks.ts';
import { EMAIL_CHANNEL, emailChannel, type SmtpOptions } from './email.ts';
import { WorkOrderService, type Priority } from './work-orders.ts';

const RULE_FOR_REASON: Record<string, AlertRuleKind> = {
  faulted: 'faulted',
  station_faulted: 'faulted',
  unavailable: 'faulted',
  station_unavailable: 'faulted',
  offline: 'offline',
  boot_loop: 'boot_loop',
  failed_sessions: 'no_energy',
};

export interface FieldServiceOptions {
  smtp?: SmtpOptions;
  reopenWindowMs?: number;
  /** How often time-based rules (offline longer than N minutes) are re-evaluated. */
  sweepMs?: number;
  onError?: (err: Error) => void;
}

export class FieldService {
  readonly workOrders: WorkOrderService;
  private unsubscribe: (() => void) | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closeEmail: (() => void) | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly outbox: Outbox,
    private readonly uptime: UptimeService,
    private readonly options: FieldServiceOptions = {},
  ) {
    this.workOrders = new WorkOrderService(db, outbox, uptime, { reopenWindowMs: options.reopenWindowMs });
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
      if (event.type === 'transaction.ended') await this.onSessionEnded(event.transactionId);
    });
    this.sweepTimer = setInterval(() => {
      this.sweep().catch((err: Error) => this.options.onError?.(err));
    }, this.options.sweepMs ?? 30_000);
    this.sweepTimer.unref();
  }

  close(): void {
    this.unsubscribe?.();
    clearInterval(this.sweepTimer);
    this.closeEmail?.();
  }

  private async onOutageChange(trx: Transaction<Database>, change: OutageChange): Promise<void> {
    const { outage } = change;
    const siteId = await siteOf(trx, outage.stationId);
    await publishWebhookEvent(trx, this.outbox, `outage.${change.kind}`, outagePayload(outage), siteId);
    if (change.kind === 'opened' && outage.endedAt === null) {
      const reopened = await this.workOrders.reopenForOutage(trx, outage);
      await this.evaluate(trx, outage, reopened !== undefined);
    } else if (change.kind === 'closed') {
      await resolveAlertsForOutage(trx, this.outbox, outage.id);
    }
    this.outbox.wakeSoon();
  }

  /** Applies the rules for an open outage: alerts, and a work order where the rule opens one. */
  private async evaluate(trx: Transaction<Database>, outage: Outage, hasWorkOrder: boolean): Promise<void> {
    const kind = RULE_FOR_REASON[outage.reason];
    if (!kind) return;
    const ageMinutes = (Date.now() - outage.startedAt.getTime()) / 60_000;
    for (const rule of await rulesFor(trx, kind, outage.stationId)) {
      if (rule.threshold.minutes !== undefined && ageMinutes < rule.threshold.minutes) continue;
      const cause = causeFor(outage.causeCode);
      const { alert, created } = await raiseAlert(trx, this.outbox, {
        rule,
        stationId: outage.stationId,
        evseId: outage.evseId,
        connectorId: outage.connectorId,
        outageId: outage.id,
        summary: `${outage.stationId} EVSE ${outage.evseId}: ${cause.name} (${outage.causeCode}), responsible: ${outage.responsibleParty}`,
        details: { causeCode: outage.causeCode, reason: outage.reason, responsibleParty: outage.responsibleParty },
      });
      if (!created || !rule.autoWorkOrder || hasWorkOrder) continue;
      if ((await this.workOrders.openForPort(trx, outage.stationId, outage.evseId)).length > 0) continue;
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

  /** Re-evaluates open outages for rules with a time threshold. */
  async sweep(): Promise<void> {
    const open = await this.uptime.listOutages({ open: true });
    for (const outage of open) {
      await this.db.transaction().execute(async (trx) => {
        const hasWorkOrder = (await this.workOrders.openForPort(trx, outage.stationId, outage.evseId)).length > 0;
        await this.evaluate(trx, outage, hasWorkOrder);
        this.outbox.wakeSoon();
      });
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
