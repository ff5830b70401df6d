// How a version translates neutral commands: the CALL to send, and how to read the charger's answer.
import type { CommandName, CommandResult, StationCommand } from '../stations/commands.ts';

export interface OutboundCall {
  action: string;
  payload: Record<string, unknown>;
}

export interface CommandTranslator {
  /** Commands the version has no message for (toCall throws for them). */
  lacks: ReadonlySet<CommandName>;
  toCall(command: StationCommand): OutboundCall;
  fromResult(command: StationCommand, response: any): CommandResult;
}

/** "Accepted" → "accepted", "NotSupported" → "not_supported": the neutral spelling of a status word. */
export function neutralStatus(status: unknown): string {
  return String(status ?? 'unknown')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

type DataTransferCommand = Extract<StationCommand, { name: 'dataTransfer' }>;

/** DataTransfer is spelled the same in 1.6 and 2.0.1, both ways. */
export function dataTransferCall(c: DataTransferCommand): OutboundCall {
  return {
    action: 'DataTransfer',
    payload: {
      vendorId: c.vendorId,
      ...(c.messageId ? { messageId: c.messageId } : {}),
      ...(c.data !== undefined ? { data: c.data } : {}),
    },
  };
}

export function dataTransferResult(r: any): CommandResult {
  return { status: neutralStatus(r.status), ...(r.data !== undefined ? { data: { data: r.data } } : {}) };
}
