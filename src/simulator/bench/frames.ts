// OCPP 1.6J CALL frames for the load generator, built as strings from fixed templates. The generator never
// builds payload objects, never runs JSON.stringify and never validates: every CPU cycle it spends is one the
// server (sharing the same cores) cannot use, and validation is the server's cost to measure, not ours.
// The frames are nonetheless valid against the official schemas, so that the server accepts them.

/** The wall-clock time in ISO form, refreshed a few times a second instead of formatted per message. */
let nowIso = new Date().toISOString();
const clock = setInterval(() => {
  nowIso = new Date().toISOString();
}, 200);
clock.unref();

export function bootNotification(id: string, stationId: string): string {
  return `[2,"${id}","BootNotification",{"chargePointVendor":"OpenCPO","chargePointModel":"Bench","chargePointSerialNumber":"${stationId.slice(0, 25)}","firmwareVersion":"1.0.0"}]`;
}

export function heartbeat(id: string): string {
  return `[2,"${id}","Heartbeat",{}]`;
}

export type ConnectorStatus = 'Available' | 'Preparing' | 'Charging' | 'SuspendedEV' | 'Finishing';

export function statusNotification(id: string, connectorId: number, status: ConnectorStatus): string {
  return `[2,"${id}","StatusNotification",{"connectorId":${connectorId},"errorCode":"NoError","status":"${status}","timestamp":"${nowIso}"}]`;
}

export function authorize(id: string, idTag: string): string {
  return `[2,"${id}","Authorize",{"idTag":"${idTag}"}]`;
}

export function startTransaction(id: string, connectorId: number, idTag: string, meterWh: number): string {
  return `[2,"${id}","StartTransaction",{"connectorId":${connectorId},"idTag":"${idTag}","meterStart":${meterWh},"timestamp":"${nowIso}"}]`;
}

/** A sample as a charger sends it every metering interval: energy register and power, one timestamp. */
export function meterValues(
  id: string,
  connectorId: number,
  transactionId: number | undefined,
  meterWh: number,
): string {
  const tx = transactionId === undefined ? '' : `"transactionId":${transactionId},`;
  return `[2,"${id}","MeterValues",{"connectorId":${connectorId},${tx}"meterValue":[{"timestamp":"${nowIso}","sampledValue":[{"value":"${meterWh}","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"7400","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"}]}]}]`;
}

export function stopTransaction(id: string, transactionId: number, idTag: string, meterWh: number): string {
  return `[2,"${id}","StopTransaction",{"transactionId":${transactionId},"idTag":"${idTag}","meterStop":${meterWh},"timestamp":"${nowIso}","reason":"Local"}]`;
}

/**
 * The answer a simulated charger gives to a CALL from the server (the server may configure or query a
 * charger after boot). `{"status":"Accepted"}` is the valid answer to most 1.6 actions; the rest get theirs.
 */
export function answerToServerCall(id: string, action: string): string {
  const payload = SERVER_CALL_ANSWERS[action] ?? '{"status":"Accepted"}';
  return `[3,"${id}",${payload}]`;
}

const SERVER_CALL_ANSWERS: Record<string, string> = {
  GetConfiguration: '{"configurationKey":[],"unknownKey":[]}',
  GetLocalListVersion: '{"listVersion":0}',
  GetDiagnostics: '{}',
  UpdateFirmware: '{}',
  UnlockConnector: '{"status":"Unlocked"}',
  GetCompositeSchedule: '{"status":"Rejected"}',
  DataTransfer: '{"status":"UnknownVendorId"}',
};
