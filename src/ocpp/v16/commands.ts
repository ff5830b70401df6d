// Neutral commands → OCPP 1.6 CALLs, and 1.6 answers → neutral results.
import type { LocalListEntry, StationCommand } from '../../stations/commands.ts';
import { dataTransferCall, dataTransferResult, neutralStatus, type CommandTranslator } from '../command-translation.ts';

// Request ids (GetLog requestId) only need to be unique for a while per charger.
let requestCounter = Math.floor(Date.now() / 1000) % 1_000_000;

function localListEntry(e: LocalListEntry) {
  return {
    idTag: e.idToken,
    // In a differential update an entry without idTagInfo deletes the token.
    ...(e.status
      ? {
          idTagInfo: {
            status: e.status[0]!.toUpperCase() + e.status.slice(1),
            ...(e.expiresAt ? { expiryDate: e.expiresAt } : {}),
            ...(e.groupId ? { parentIdTag: e.groupId } : {}),
          },
        }
      : {}),
  };
}

export const v16Commands: CommandTranslator = {
  lacks: new Set(['getBaseReport', 'costUpdated']),

  toCall(c: StationCommand) {
    switch (c.name) {
      case 'reset':
        return { action: 'Reset', payload: { type: c.type === 'hard' ? 'Hard' : 'Soft' } };
      case 'remoteStart':
        return {
          action: 'RemoteStartTransaction',
          payload: { idTag: c.idToken, ...(c.evseId !== undefined ? { connectorId: c.evseId } : {}) },
        };
      case 'remoteStop':
        return { action: 'RemoteStopTransaction', payload: { transactionId: Number(c.chargerTransactionId) } };
      case 'unlock':
        return { action: 'UnlockConnector', payload: { connectorId: c.evseId } };
      case 'changeAvailability':
        return {
          action: 'ChangeAvailability',
          payload: { connectorId: c.evseId ?? 0, type: c.operative ? 'Operative' : 'Inoperative' },
        };
      case 'getConfiguration':
        return {
          action: 'GetConfiguration',
          payload: c.keys?.length ? { key: c.keys.map((k) => k.variable) } : {},
        };
      case 'setConfiguration': {
        // 1.6 changes one key per call; the API sends one setting at a time to a 1.6 charger.
        const [first] = c.settings;
        if (!first || c.settings.length !== 1)
          throw new Error('OCPP 1.6 changes exactly one configuration key per call');
        return { action: 'ChangeConfiguration', payload: { key: first.variable, value: first.value } };
      }
      case 'triggerMessage':
        return {
          action: 'TriggerMessage',
          payload: { requestedMessage: c.message, ...(c.evseId !== undefined ? { connectorId: c.evseId } : {}) },
        };
      case 'clearCache':
        return { action: 'ClearCache', payload: {} };
      case 'dataTransfer':
        return dataTransferCall(c);
      case 'sendLocalList':
        return {
          action: 'SendLocalList',
          payload: {
            listVersion: c.version,
            updateType: c.updateType === 'full' ? 'Full' : 'Differential',
            localAuthorizationList: c.entries.map(localListEntry),
          },
        };
      case 'getLocalListVersion':
        return { action: 'GetLocalListVersion', payload: {} };
      case 'updateFirmware':
        return {
          action: 'UpdateFirmware',
          payload: {
            location: c.location,
            retrieveDate: c.retrieveAt,
            ...(c.retries !== undefined ? { retries: c.retries } : {}),
            ...(c.retryIntervalS !== undefined ? { retryInterval: c.retryIntervalS } : {}),
          },
        };
      case 'getDiagnostics':
        if (c.logType === 'security') {
          // The 1.6 security whitepaper's GetLog is the only way a 1.6 charger uploads its security log.
          return {
            action: 'GetLog',
            payload: {
              logType: 'SecurityLog',
              requestId: ++requestCounter,
              log: {
                remoteLocation: c.location,
                ...(c.from ? { oldestTimestamp: c.from } : {}),
                ...(c.to ? { latestTimestamp: c.to } : {}),
              },
              ...(c.retries !== undefined ? { retries: c.retries } : {}),
              ...(c.retryIntervalS !== undefined ? { retryInterval: c.retryIntervalS } : {}),
            },
          };
        }
        return {
          action: 'GetDiagnostics',
          payload: {
            location: c.location,
            ...(c.from ? { startTime: c.from } : {}),
            ...(c.to ? { stopTime: c.to } : {}),
            ...(c.retries !== undefined ? { retries: c.retries } : {}),
            ...(c.retryIntervalS !== undefined ? { retryInterval: c.retryIntervalS } : {}),
          },
        };
      case 'reserveNow':
        return {
          action: 'ReserveNow',
          payload: {
            connectorId: c.evseId ?? 0,
            expiryDate: c.expiresAt,
            idTag: c.idToken,
            reservationId: c.reservationId,
            ...(c.groupId ? { parentIdTag: c.groupId } : {}),
          },
        };
      case 'cancelReservation':
        return { action: 'CancelReservation', payload: { reservationId: c.reservationId } };
      case 'getBaseReport':
        throw new Error('OCPP 1.6 has no base report; use getConfiguration');
      case 'costUpdated':
        // 1.6 has no CostUpdated; running cost there is left to the driver's app (billing asks before sending).
        throw new Error('OCPP 1.6 has no CostUpdated');
    }
  },

  fromResult(c: StationCommand, r: any) {
    switch (c.name) {
      case 'getConfiguration':
        return {
          status: 'accepted',
          data: {
            settings: (r.configurationKey ?? []).map((k: any) => ({
              variable: k.key,
              value: k.value,
              readonly: k.readonly,
            })),
            unknown: r.unknownKey ?? [],
          },
        };
      case 'dataTransfer':
        return dataTransferResult(r);
      case 'getLocalListVersion':
        return { status: 'accepted', data: { version: r.listVersion } };
      case 'updateFirmware':
        // 1.6 UpdateFirmware.conf has no status: the charger took the request.
        return { status: 'accepted' };
      case 'getDiagnostics':
        if (c.logType === 'security') {
          return { status: neutralStatus(r.status), ...(r.filename ? { data: { fileName: r.filename } } : {}) };
        }
        // No file name means the charger has no diagnostics to upload.
        return r.fileName ? { status: 'accepted', data: { fileName: r.fileName } } : { status: 'no_diagnostics' };
      default:
        return { status: neutralStatus(r.status) };
    }
  },
};
