// Neutral commands → OCPP 2.0.1 CALLs, and 2.0.1 answers → neutral results.
import type { LocalListEntry, SettingRef, StationCommand } from '../../stations/commands.ts';
import { dataTransferCall, dataTransferResult, neutralStatus, type CommandTranslator } from '../command-translation.ts';

/** 2.0.1 addresses a setting by component and variable; a bare key is a variable of the station itself. */
function componentVariable(s: SettingRef) {
  return { component: { name: s.component ?? 'ChargingStation' }, variable: { name: s.variable } };
}

// Request ids (remoteStartId, report requestId) only need to be unique for a while per charger.
let requestCounter = Math.floor(Date.now() / 1000) % 1_000_000;

function localListEntry(e: LocalListEntry) {
  return {
    idToken: { idToken: e.idToken, type: e.type ?? 'ISO14443' },
    // In a differential update an entry without idTokenInfo deletes the token.
    ...(e.status
      ? {
          idTokenInfo: {
            status: e.status[0]!.toUpperCase() + e.status.slice(1),
            ...(e.expiresAt ? { cacheExpiryDateTime: e.expiresAt } : {}),
            ...(e.groupId ? { groupIdToken: { idToken: e.groupId, type: 'Central' } } : {}),
          },
        }
      : {}),
  };
}

export const v201Commands: CommandTranslator = {
  lacks: new Set(),

  toCall(c: StationCommand) {
    switch (c.name) {
      case 'reset':
        // 2.0.1 has no soft/hard: a hard reset is Immediate, a soft one waits until the charger is idle.
        return {
          action: 'Reset',
          payload: { type: c.type === 'hard' ? 'Immediate' : 'OnIdle' },
        };
      case 'remoteStart':
        return {
          action: 'RequestStartTransaction',
          payload: {
            remoteStartId: c.remoteStartId ?? ++requestCounter,
            idToken: { idToken: c.idToken, type: c.idTokenType ?? 'Central' },
            ...(c.evseId !== undefined ? { evseId: c.evseId } : {}),
          },
        };
      case 'remoteStop':
        return { action: 'RequestStopTransaction', payload: { transactionId: c.chargerTransactionId } };
      case 'unlock':
        return { action: 'UnlockConnector', payload: { evseId: c.evseId, connectorId: c.connectorId ?? 1 } };
      case 'changeAvailability':
        return {
          action: 'ChangeAvailability',
          payload: {
            operationalStatus: c.operative ? 'Operative' : 'Inoperative',
            ...(c.evseId
              ? { evse: { id: c.evseId, ...(c.connectorId !== undefined ? { connectorId: c.connectorId } : {}) } }
              : {}),
          },
        };
      case 'getConfiguration':
        if (!c.keys?.length) {
          // Without keys, ask for the whole configuration; it arrives as NotifyReport messages.
          return {
            action: 'GetBaseReport',
            payload: { requestId: ++requestCounter, reportBase: 'ConfigurationInventory' },
          };
        }
        return { action: 'GetVariables', payload: { getVariableData: c.keys.map(componentVariable) } };
      case 'setConfiguration':
        return {
          action: 'SetVariables',
          payload: {
            setVariableData: c.settings.map((s) => ({ ...componentVariable(s), attributeValue: s.value })),
          },
        };
      case 'triggerMessage':
        return {
          action: 'TriggerMessage',
          payload: {
            requestedMessage: c.message === 'DiagnosticsStatusNotification' ? 'LogStatusNotification' : c.message,
            ...(c.evseId !== undefined
              ? { evse: { id: c.evseId, ...(c.connectorId !== undefined ? { connectorId: c.connectorId } : {}) } }
              : {}),
          },
        };
      case 'clearCache':
        return { action: 'ClearCache', payload: {} };
      case 'dataTransfer':
        return dataTransferCall(c);
      case 'sendLocalList':
        return {
          action: 'SendLocalList',
          payload: {
            versionNumber: c.version,
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
            requestId: ++requestCounter,
            ...(c.retries !== undefined ? { retries: c.retries } : {}),
            ...(c.retryIntervalS !== undefined ? { retryInterval: c.retryIntervalS } : {}),
            firmware: {
              location: c.location,
              retrieveDateTime: c.retrieveAt,
              ...(c.signingCertificate ? { signingCertificate: c.signingCertificate } : {}),
              ...(c.signature ? { signature: c.signature } : {}),
            },
          },
        };
      case 'getDiagnostics':
        return {
          action: 'GetLog',
          payload: {
            logType: c.logType === 'security' ? 'SecurityLog' : 'DiagnosticsLog',
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
      case 'reserveNow':
        return {
          action: 'ReserveNow',
          payload: {
            id: c.reservationId,
            expiryDateTime: c.expiresAt,
            idToken: { idToken: c.idToken, type: c.idTokenType ?? 'Central' },
            ...(c.evseId !== undefined ? { evseId: c.evseId } : {}),
            ...(c.groupId ? { groupIdToken: { idToken: c.groupId, type: 'Central' } } : {}),
          },
        };
      case 'cancelReservation':
        return { action: 'CancelReservation', payload: { reservationId: c.reservationId } };
      case 'costUpdated':
        // I TariffAndCost: the charger shows the running total (incl. VAT, in the tariff's currency).
        return { action: 'CostUpdated', payload: { totalCost: c.totalCost, transactionId: c.chargerTransactionId } };
      case 'getBaseReport':
        return {
          action: 'GetBaseReport',
          payload: {
            requestId: ++requestCounter,
            reportBase: {
              configuration_inventory: 'ConfigurationInventory',
              full_inventory: 'FullInventory',
              summary_inventory: 'SummaryInventory',
            }[c.report],
          },
        };
    }
  },

  fromResult(c: StationCommand, r: any) {
    switch (c.name) {
      case 'getConfiguration':
        if (!c.keys?.length) return { status: neutralStatus(r.status), data: { report: 'requested' } };
        return {
          status: 'accepted',
          data: {
            settings: r.getVariableResult.map((v: any) => ({
              component: v.component.name,
              variable: v.variable.name,
              value: v.attributeValue,
              status: neutralStatus(v.attributeStatus),
            })),
          },
        };
      case 'setConfiguration': {
        const results = r.setVariableResult.map((v: any) => ({
          component: v.component.name,
          variable: v.variable.name,
          status: neutralStatus(v.attributeStatus),
        }));
        const all = results.every((x: any) => x.status === 'accepted' || x.status === 'reboot_required');
        return { status: all ? 'accepted' : 'rejected', data: { settings: results } };
      }
      case 'dataTransfer':
        return dataTransferResult(r);
      case 'getLocalListVersion':
        return { status: 'accepted', data: { version: r.versionNumber } };
      case 'getDiagnostics':
        return { status: neutralStatus(r.status), ...(r.filename ? { data: { fileName: r.filename } } : {}) };
      case 'costUpdated':
        return { status: 'accepted' }; // CostUpdatedResponse carries no status: an answer is the acknowledgement
      default:
        return { status: neutralStatus(r.status) };
    }
  },
};
