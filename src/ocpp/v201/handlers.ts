// OCPP 2.0.1: one handler per charger-initiated action (provisioning, authorization, transactions,
// availability, meter values, firmware, diagnostics, security, reporting, and the rest of the list).
import type { HandlerTable } from '../context.ts';
import { answeringAfterClockFaults, bootAnswer, recordOnly, requestStatus, securityEvent } from '../context.ts';
import { chargingState, connectorStatus, idTokenInfo, meterSamples } from './translate.ts';
import { stationEventOf } from './notify-event.ts';

const TRANSACTION_EVENT = { Started: 'started', Updated: 'updated', Ended: 'ended' } as const;

export const v201Handlers: HandlerTable = answeringAfterClockFaults({
  async BootNotification(ctx, stationId, p) {
    const cs = p.chargingStation;
    const decision = await ctx.stations.boot(stationId, {
      vendor: cs.vendorName,
      model: cs.model,
      serialNumber: cs.serialNumber,
      firmwareVersion: cs.firmwareVersion,
      iccid: cs.modem?.iccid,
      imsi: cs.modem?.imsi,
      reason: p.reason,
    });
    return bootAnswer(decision);
  },

  async Heartbeat(ctx) {
    return { currentTime: ctx.clock.now().toISOString() };
  },

  async StatusNotification(ctx, stationId, p) {
    const current = ctx.stations.currentStatus(stationId, p.evseId, p.connectorId);
    await ctx.stations.reportStatus(stationId, {
      evseId: p.evseId,
      connectorId: p.connectorId,
      status: connectorStatus(p.connectorStatus, current),
      timestamp: ctx.clock.timestampOf(stationId, p.timestamp),
    });
    return {};
  },

  async Authorize(ctx, stationId, p) {
    const auth = await ctx.sessions.authorize(
      stationId,
      { idToken: p.idToken.idToken, type: p.idToken.type },
      { personalMessage: true },
    );
    return { idTokenInfo: idTokenInfo(auth) };
  },

  async TransactionEvent(ctx, stationId, p) {
    const info = p.transactionInfo;
    const state = chargingState(info.chargingState);
    const at = ctx.clock.readerFor(stationId);
    const result = await ctx.sessions.transactionEvent(stationId, {
      eventType: TRANSACTION_EVENT[p.eventType as keyof typeof TRANSACTION_EVENT],
      timestamp: at(p.timestamp),
      // Only the first event must name the EVSE; an event without one leaves the transaction's as it is.
      ...(p.evse ? { evseId: p.evse.id, connectorId: p.evse.connectorId ?? 1 } : {}),
      chargerTransactionId: info.transactionId,
      seqNo: p.seqNo,
      offline: p.offline ?? false,
      triggerReason: p.triggerReason,
      ...(state ? { chargingState: state } : {}),
      ...(p.idToken ? { idToken: { idToken: p.idToken.idToken, type: p.idToken.type }, personalMessage: true } : {}),
      ...(info.stoppedReason ? { stopReason: info.stoppedReason } : {}),
      ...(p.reservationId !== undefined ? { reservationId: p.reservationId } : {}),
      ...(info.remoteStartId !== undefined ? { remoteStartId: info.remoteStartId } : {}),
      meterValues: meterSamples(p.meterValue, at),
      payload: p,
    });
    return result.idTokenInfo ? { idTokenInfo: idTokenInfo(result.idTokenInfo) } : {};
  },

  async MeterValues(ctx, stationId, p) {
    // EVSE 0 is the main meter of the whole charger.
    await ctx.sessions.meterValues(
      stationId,
      { evseId: p.evseId, connectorId: 0 },
      undefined,
      meterSamples(p.meterValue, ctx.clock.readerFor(stationId)),
    );
    return {};
  },

  async NotifyEvent(ctx, stationId, p) {
    const at = ctx.clock.readerFor(stationId);
    await ctx.stations.recordEvents(
      stationId,
      p.eventData.map((e: Parameters<typeof stationEventOf>[0]) => stationEventOf(e, at)),
    );
    return {};
  },

  async NotifyReport(ctx, stationId, p) {
    const variables = (p.reportData ?? []).flatMap((r: any) =>
      r.variableAttribute.map((a: any) => ({
        component: r.component.name,
        componentInstance: r.component.instance,
        evseId: r.component.evse?.id,
        connectorId: r.component.evse?.connectorId,
        variable: r.variable.name,
        variableInstance: r.variable.instance,
        attributeType: a.type ?? 'Actual',
        value: a.value,
        mutability: a.mutability,
        characteristics: r.variableCharacteristics,
      })),
    );
    await ctx.stations.reportDeviceModel(stationId, variables);
    return {};
  },

  async DataTransfer(ctx, stationId, p) {
    await ctx.stations.recordEvent(stationId, {
      kind: 'data_transfer',
      vendorId: p.vendorId,
      eventRef: p.messageId,
      timestamp: ctx.clock.now(),
      payload: p,
    });
    return { status: 'UnknownVendorId' };
  },

  FirmwareStatusNotification: recordOnly('firmware', requestStatus),
  PublishFirmwareStatusNotification: recordOnly('firmware', requestStatus),
  LogStatusNotification: recordOnly('log', requestStatus),
  SecurityEventNotification: securityEvent,
  SignCertificate: recordOnly(
    'certificate',
    () => ({ info: 'certificate signing requested; no certificate authority is configured' }),
    { status: 'Rejected', statusInfo: { reasonCode: 'NoCA' } },
  ),
  Get15118EVCertificate: recordOnly('certificate', (p) => ({ info: `15118 EV certificate ${p.action}` }), {
    status: 'Failed',
    exiResponse: '',
    statusInfo: { reasonCode: 'NoCertificateService' },
  }),
  GetCertificateStatus: recordOnly('certificate', () => ({ info: 'OCSP status requested' }), {
    status: 'Failed',
    statusInfo: { reasonCode: 'NoOCSPService' },
  }),
  NotifyMonitoringReport: recordOnly('monitoring', (p) => ({ eventRef: String(p.requestId) })),
  NotifyChargingLimit: recordOnly('charging_limit', (p) => ({ info: p.chargingLimit?.chargingLimitSource })),
  ClearedChargingLimit: recordOnly('charging_limit', (p) => ({ info: `cleared ${p.chargingLimitSource}` })),
  ReportChargingProfiles: recordOnly('charging_limit', (p) => ({ eventRef: String(p.requestId) })),
  // Smart charging is not offered yet: say so rather than promise a schedule.
  NotifyEVChargingNeeds: recordOnly('charging_limit', (p) => ({ evseId: p.evseId, info: 'EV charging needs' }), {
    status: 'Rejected',
  }),
  NotifyEVChargingSchedule: recordOnly('charging_limit', (p) => ({ evseId: p.evseId, info: 'EV charging schedule' }), {
    status: 'Accepted',
  }),
  NotifyDisplayMessages: recordOnly('display', (p) => ({ eventRef: String(p.requestId) })),
  NotifyCustomerInformation: recordOnly('customer_information', (p) => ({ eventRef: String(p.requestId) })),
  ReservationStatusUpdate: recordOnly('reservation', (p) => ({
    eventRef: String(p.reservationId),
    info: p.reservationUpdateStatus,
  })),
});
