// OCPP 1.6J: one handler per charger-initiated action (Core, Firmware Management, Security extension).
import type { HandlerTable } from '../context.ts';
import { answeringAfterClockFaults, bootAnswer, recordOnly, requestStatus, securityEvent } from '../context.ts';
import type { IdTokenRef } from '../../sessions/model.ts';
import { connectorStatus, idTagInfo, meterSamples, portOf } from './translate.ts';

/** 1.6 idTags have no type: the RFID type is assumed, and a token registered with any type matches. */
const idTag = (value: string): IdTokenRef => ({ idToken: value, type: 'ISO14443', typeAssumed: true });

export const v16Handlers: HandlerTable = answeringAfterClockFaults({
  async BootNotification(ctx, stationId, p) {
    const decision = await ctx.stations.boot(stationId, {
      vendor: p.chargePointVendor,
      model: p.chargePointModel,
      serialNumber: p.chargePointSerialNumber ?? p.chargeBoxSerialNumber,
      firmwareVersion: p.firmwareVersion,
      iccid: p.iccid,
      imsi: p.imsi,
      meterType: p.meterType,
      meterSerialNumber: p.meterSerialNumber,
    });
    return bootAnswer(decision);
  },

  async Heartbeat(ctx) {
    return { currentTime: ctx.clock.now().toISOString() };
  },

  async StatusNotification(ctx, stationId, p) {
    await ctx.stations.reportStatus(stationId, {
      ...portOf(p.connectorId),
      status: connectorStatus(p.status),
      errorCode: p.errorCode,
      vendorId: p.vendorId,
      vendorErrorCode: p.vendorErrorCode,
      info: p.info,
      timestamp: ctx.clock.timestampOf(stationId, p.timestamp),
    });
    return {};
  },

  async Authorize(ctx, stationId, p) {
    const auth = await ctx.sessions.authorize(stationId, idTag(p.idTag));
    return { idTagInfo: idTagInfo(auth) };
  },

  async StartTransaction(ctx, stationId, p) {
    const result = await ctx.sessions.transactionEvent(stationId, {
      eventType: 'started',
      timestamp: ctx.clock.timestampOf(stationId, p.timestamp),
      ...portOf(p.connectorId),
      idToken: idTag(p.idTag),
      meterStartWh: p.meterStart,
      ...(p.reservationId !== undefined ? { reservationId: p.reservationId } : {}),
      payload: p,
    });
    return {
      transactionId: Number(result.chargerTransactionId),
      idTagInfo: idTagInfo(result.idTokenInfo ?? { status: 'invalid' }),
    };
  },

  async StopTransaction(ctx, stationId, p) {
    // Accepted even for a transaction we never saw: rejecting would make the charger retry forever. The stop does
    // not say its connector: the transaction keeps the one of its start.
    const at = ctx.clock.readerFor(stationId);
    const result = await ctx.sessions.transactionEvent(stationId, {
      eventType: 'ended',
      timestamp: at(p.timestamp),
      chargerTransactionId: String(p.transactionId),
      idAssignedByCsms: true,
      ...(p.idTag ? { idToken: idTag(p.idTag) } : {}),
      meterStopWh: p.meterStop,
      stopReason: p.reason ?? 'Local',
      meterValues: meterSamples(p.transactionData, at),
      payload: p,
    });
    return result.idTokenInfo ? { idTagInfo: idTagInfo(result.idTokenInfo) } : {};
  },

  async MeterValues(ctx, stationId, p) {
    await ctx.sessions.meterValues(
      stationId,
      portOf(p.connectorId),
      p.transactionId !== undefined ? String(p.transactionId) : undefined,
      meterSamples(p.meterValue, ctx.clock.readerFor(stationId)),
    );
    return {};
  },

  async DataTransfer(ctx, stationId, p) {
    await ctx.stations.recordEvent(stationId, {
      kind: 'data_transfer',
      vendorId: p.vendorId,
      eventRef: p.messageId,
      info: typeof p.data === 'string' ? p.data.slice(0, 500) : undefined,
      timestamp: ctx.clock.now(),
      payload: p,
    });
    // No vendor extension is registered: the answer OCPP prescribes for that.
    return { status: 'UnknownVendorId' };
  },

  FirmwareStatusNotification: recordOnly('firmware', requestStatus),
  DiagnosticsStatusNotification: recordOnly('diagnostics', requestStatus),

  SecurityEventNotification: securityEvent,

  SignCertificate: recordOnly(
    'certificate',
    (p) => ({
      info: 'certificate signing requested; no certificate authority is configured',
      payload: { csrLength: String(p.csr).length },
    }),
    { status: 'Rejected' },
  ),
  LogStatusNotification: recordOnly('log', requestStatus),
  SignedFirmwareStatusNotification: recordOnly('firmware', requestStatus),
});
