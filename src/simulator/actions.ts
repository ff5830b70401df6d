// Which actions a charger must answer (CSMS-initiated) and which it sends itself, per OCPP version. The
// schema files only list actions, not directions, so the directions are written out here from the
// specifications; `test/simulator.test.ts` checks that both tables together cover `schemasFor(...).actions`.
import type { OcppProtocol } from '../ocpp/rpc/protocols.ts';

/** OCPP 1.6 core, feature profiles and the security whitepaper: Central System -> Charge Point. */
export const CSMS_ACTIONS_16 = [
  'CancelReservation',
  'CertificateSigned',
  'ChangeAvailability',
  'ChangeConfiguration',
  'ClearCache',
  'ClearChargingProfile',
  'DataTransfer',
  'DeleteCertificate',
  'ExtendedTriggerMessage',
  'GetCompositeSchedule',
  'GetConfiguration',
  'GetDiagnostics',
  'GetInstalledCertificateIds',
  'GetLocalListVersion',
  'GetLog',
  'InstallCertificate',
  'RemoteStartTransaction',
  'RemoteStopTransaction',
  'ReserveNow',
  'Reset',
  'SendLocalList',
  'SetChargingProfile',
  'SignedUpdateFirmware',
  'TriggerMessage',
  'UnlockConnector',
  'UpdateFirmware',
] as const;

/** OCPP 1.6: Charge Point -> Central System. DataTransfer goes both ways. */
export const CHARGER_ACTIONS_16 = [
  'Authorize',
  'BootNotification',
  'DataTransfer',
  'DiagnosticsStatusNotification',
  'FirmwareStatusNotification',
  'Heartbeat',
  'LogStatusNotification',
  'MeterValues',
  'SecurityEventNotification',
  'SignCertificate',
  'SignedFirmwareStatusNotification',
  'StartTransaction',
  'StatusNotification',
  'StopTransaction',
] as const;

/** OCPP 2.0.1: CSMS -> Charging Station. */
export const CSMS_ACTIONS_201 = [
  'CancelReservation',
  'CertificateSigned',
  'ChangeAvailability',
  'ClearCache',
  'ClearChargingProfile',
  'ClearDisplayMessage',
  'ClearVariableMonitoring',
  'CostUpdated',
  'CustomerInformation',
  'DataTransfer',
  'DeleteCertificate',
  'GetBaseReport',
  'GetChargingProfiles',
  'GetCompositeSchedule',
  'GetDisplayMessages',
  'GetInstalledCertificateIds',
  'GetLocalListVersion',
  'GetLog',
  'GetMonitoringReport',
  'GetReport',
  'GetTransactionStatus',
  'GetVariables',
  'InstallCertificate',
  // PublishFirmware/UnpublishFirmware target a Local Controller; a station still answers them sensibly.
  'PublishFirmware',
  'RequestStartTransaction',
  'RequestStopTransaction',
  'ReserveNow',
  'Reset',
  'SendLocalList',
  'SetChargingProfile',
  'SetDisplayMessage',
  'SetMonitoringBase',
  'SetMonitoringLevel',
  'SetNetworkProfile',
  'SetVariableMonitoring',
  'SetVariables',
  'TriggerMessage',
  'UnlockConnector',
  'UnpublishFirmware',
  'UpdateFirmware',
] as const;

/** OCPP 2.0.1: Charging Station -> CSMS. DataTransfer goes both ways. */
export const CHARGER_ACTIONS_201 = [
  'Authorize',
  'BootNotification',
  'ClearedChargingLimit',
  'DataTransfer',
  'FirmwareStatusNotification',
  'Get15118EVCertificate',
  'GetCertificateStatus',
  'Heartbeat',
  'LogStatusNotification',
  'MeterValues',
  'NotifyChargingLimit',
  'NotifyCustomerInformation',
  'NotifyDisplayMessages',
  'NotifyEVChargingNeeds',
  'NotifyEVChargingSchedule',
  'NotifyEvent',
  'NotifyMonitoringReport',
  'NotifyReport',
  'PublishFirmwareStatusNotification',
  'ReportChargingProfiles',
  'ReservationStatusUpdate',
  'SecurityEventNotification',
  'SignCertificate',
  'StatusNotification',
  'TransactionEvent',
] as const;

const CSMS_INITIATED: Record<OcppProtocol, ReadonlySet<string>> = {
  'ocpp1.6': new Set(CSMS_ACTIONS_16),
  'ocpp2.0.1': new Set(CSMS_ACTIONS_201),
};

const CHARGER_INITIATED: Record<OcppProtocol, ReadonlySet<string>> = {
  'ocpp1.6': new Set(CHARGER_ACTIONS_16),
  'ocpp2.0.1': new Set(CHARGER_ACTIONS_201),
};

/** Actions the CSMS sends and a charger must answer. */
export function csmsInitiatedActions(protocol: OcppProtocol): ReadonlySet<string> {
  return CSMS_INITIATED[protocol];
}

/** Actions a charger sends and the CSMS must answer. */
export function chargerInitiatedActions(protocol: OcppProtocol): ReadonlySet<string> {
  return CHARGER_INITIATED[protocol];
}
