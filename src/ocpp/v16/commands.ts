// Neutral commands → OCPP 1.6 CALLs, and 1.6 answers → neutral results.
import type { StationCommand } from '../../stations/commands.ts';
import { neutralStatus, type CommandTranslator } from '../command-translation.ts';

export const v16Commands: CommandTranslator = {
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
        return {
          action: 'DataTransfer',
          payload: {
            vendorId: c.vendorId,
            ...(c.messageId ? { messageId: c.messageId } : {}),
            ...(c.data !== undefined ? { data: c.data } : {}),
          },
        };
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
        return { status: neutralStatus(r.status), ...(r.data !== undefined ? { data: { data: r.data } } : {}) };
      default:
        return { status: neutralStatus(r.status) };
    }
  },
};
