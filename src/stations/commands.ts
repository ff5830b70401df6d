// Remote commands, version-neutral: one typed entry point to send a command to a charger and await its
// answer, recorded in the command log with its result. How a command reaches the charger (which node
// holds its socket, which OCPP version it speaks) is the transport's business, injected at start.
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { EventBus } from '../events/bus.ts';
import type { ConfigurationKey, DeviceVariable } from './model.ts';
import { isPasswordSetting, withoutSecrets } from './secret-settings.ts';

export type StationCommand =
  | { name: 'reset'; type: 'soft' | 'hard' }
  | { name: 'remoteStart'; idToken: string; idTokenType?: string; evseId?: number; remoteStartId?: number }
  | { name: 'remoteStop'; chargerTransactionId: string }
  | { name: 'unlock'; evseId: number; connectorId?: number }
  | { name: 'changeAvailability'; operative: boolean; evseId?: number; connectorId?: number }
  | { name: 'getConfiguration'; keys?: SettingRef[] }
  | { name: 'setConfiguration'; settings: (SettingRef & { value: string })[] }
  | { name: 'triggerMessage'; message: TriggerableMessage; evseId?: number; connectorId?: number }
  | { name: 'clearCache' }
  | { name: 'dataTransfer'; vendorId: string; messageId?: string; data?: string }
  | { name: 'sendLocalList'; version: number; updateType: 'full' | 'differential'; entries: LocalListEntry[] }
  | { name: 'getLocalListVersion' }
  | {
      name: 'updateFirmware';
      location: string;
      /** ISO 8601 time from which the charger may download. */
      retrieveAt: string;
      retries?: number;
      retryIntervalS?: number;
      signingCertificate?: string;
      signature?: string;
    }
  | {
      name: 'getDiagnostics';
      /** Where the charger uploads the file (1.6 GetDiagnostics; 2.0.1 GetLog). */
      location: string;
      logType?: 'diagnostics' | 'security';
      from?: string;
      to?: string;
      retries?: number;
      retryIntervalS?: number;
    }
  | {
      name: 'reserveNow';
      reservationId: number;
      expiresAt: string;
      idToken: string;
      idTokenType?: string;
      /** Absent: any EVSE. */
      evseId?: number;
      groupId?: string;
    }
  | { name: 'cancelReservation'; reservationId: number }
  /** 2.0.1 only: the device model report arrives afterwards as NotifyReport messages. */
  | { name: 'getBaseReport'; report: 'configuration_inventory' | 'full_inventory' | 'summary_inventory' }
  /** A running session's cost so far, incl. VAT in major units of the tariff's currency (billing, issue 4). */
  | { name: 'costUpdated'; chargerTransactionId: string; totalCost: number };

/**
 * One entry of a local authorization list. In a differential update an entry without status removes the
 * token from the charger's list.
 */
export interface LocalListEntry {
  idToken: string;
  type?: string;
  status?: 'accepted' | 'blocked' | 'expired' | 'invalid';
  expiresAt?: string;
  groupId?: string;
}

export type CommandName = StationCommand['name'];

/** A setting: 1.6 names it by key (`variable`); 2.0.1 by component and variable. */
export interface SettingRef {
  component?: string;
  variable: string;
}

export type TriggerableMessage =
  | 'BootNotification'
  | 'Heartbeat'
  | 'StatusNotification'
  | 'MeterValues'
  | 'FirmwareStatusNotification'
  | 'DiagnosticsStatusNotification';

/** The charger's answer in neutral words: a lower-case status, and data where the command returns some. */
export interface CommandResult {
  status: string;
  data?: Record<string, unknown>;
}

/**
 * A command that got no usable answer. `action` names the OCPP message it went as (or, for a station that is
 * not connected, would have gone as by the version it last spoke), so the command log can say; undefined
 * when there is none (a station never connected).
 */
export abstract class CommandFailedError extends Error {
  constructor(
    message: string,
    readonly action: string | undefined,
  ) {
    super(message);
  }
}

export class StationOfflineError extends CommandFailedError {
  constructor(stationId: string, action?: string) {
    super(`station ${stationId} is not connected`, action);
    this.name = 'StationOfflineError';
  }
}

export class CommandTimeoutError extends CommandFailedError {
  constructor(stationId: string, command: string, action?: string) {
    super(`station ${stationId} did not answer ${command} in time`, action);
    this.name = 'CommandTimeoutError';
  }
}

/** The charger answered with an OCPP CALLERROR. */
export class CommandRejectedError extends CommandFailedError {
  constructor(
    readonly code: string,
    message: string,
    action?: string,
  ) {
    super(message, action);
    this.name = 'CommandRejectedError';
  }
}

/** The charger answered with a result that breaks the OCPP schema: there is no answer to take. */
export class CommandAnswerInvalidError extends CommandFailedError {
  constructor(
    /** What breaks the schema (the field and the rule). */
    readonly problem: string,
    action?: string,
  ) {
    super(`the station's answer breaks the OCPP schema: ${problem}`, action);
    this.name = 'CommandAnswerInvalidError';
  }
}

/** Delivers a command to the charger and returns its translated answer; throws the errors above. */
export interface CommandTransport {
  send(stationId: string, command: StationCommand): Promise<{ result: CommandResult; action: string }>;
  /**
   * Whether the station takes this command now: false when it is not connected, when its version has no such
   * message, or when it answered that it does not implement it since it last booted.
   */
  supports(stationId: string, command: CommandName): boolean;
}

export interface CommandOutcome {
  commandId: string;
  result: CommandResult;
}

/** Where settings read from or written to a charger are remembered (the stations service). */
export interface SettingsStore {
  storeConfiguration(stationId: string, keys: ConfigurationKey[]): Promise<void>;
  reportDeviceModel(stationId: string, variables: DeviceVariable[]): Promise<void>;
  /** The charger took a new Basic-auth password: it is the one to check from its next connection on. */
  setPassword(stationId: string, password: string | null): Promise<unknown>;
}

/** Statuses with which a charger takes a new setting (a reboot may be needed before it applies). */
const TAKEN = new Set(['accepted', 'reboot_required']);

export class CommandService {
  private transport: CommandTransport | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly bus?: EventBus,
    private readonly settings?: SettingsStore,
  ) {}

  useTransport(transport: CommandTransport): void {
    this.transport = transport;
  }

  /** Whether sending this command to the station now can work (see CommandTransport.supports). */
  supports(stationId: string, command: CommandName): boolean {
    return this.transport?.supports(stationId, command) ?? false;
  }

  /**
   * Sends a command and waits for the charger's answer; every attempt lands in the command log. Password
   * settings are sent as given but logged, remembered and answered with their values redacted.
   */
  async send(stationId: string, command: StationCommand, requestedBy = 'system'): Promise<CommandOutcome> {
    if (!this.transport) throw new Error('no command transport configured');
    const { name, ...request } = command;
    const logged = await this.db
      .insertInto('command_log')
      .values({
        station_id: stationId,
        command: name,
        action: null,
        request: JSON.stringify(withoutSecrets(request)),
        response: null,
        status: 'pending',
        error: null,
        requested_by: requestedBy,
        created_at: new Date(),
        completed_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    try {
      const { result: answer, action } = await this.transport.send(stationId, command);
      const result = answer.data ? { ...answer, data: withoutSecrets(answer.data) } : answer;
      await this.finish(logged.id, { action, status: result.status, response: JSON.stringify(result) });
      await this.rememberSettings(stationId, command, result);
      await this.takePassword(stationId, command, result);
      this.published(logged.id, stationId, name, result.status, requestedBy);
      return { commandId: logged.id, result };
    } catch (err) {
      const status =
        err instanceof StationOfflineError
          ? 'offline'
          : err instanceof CommandTimeoutError
            ? 'timeout'
            : err instanceof CommandRejectedError
              ? 'callerror'
              : err instanceof CommandAnswerInvalidError
                ? 'invalid_answer'
                : 'error';
      const action = err instanceof CommandFailedError ? err.action : undefined;
      await this.finish(logged.id, { action, status, error: (err as Error).message });
      this.published(logged.id, stationId, name, status, requestedBy);
      throw err;
    }
  }

  /**
   * Settings a charger reported (get) or accepted (set) are kept: configuration keys when they have no
   * component, device-model variables when they do.
   */
  private async rememberSettings(stationId: string, command: StationCommand, result: CommandResult): Promise<void> {
    if (!this.settings) return;
    type Reported = { component?: string; variable: string; value?: string; readonly?: boolean; status?: string };
    let reported: Reported[] = [];
    if (command.name === 'getConfiguration') {
      reported = ((result.data?.settings as Reported[] | undefined) ?? []).filter(
        (s) => s.status === undefined || s.status === 'accepted',
      );
    } else if (command.name === 'setConfiguration' && result.status === 'accepted') {
      reported = command.settings.map((s) => ({ ...s, readonly: false }));
    }
    const keys = reported.filter((s) => !s.component);
    const variables = reported.filter((s) => s.component);
    if (keys.length) {
      await this.settings.storeConfiguration(
        stationId,
        keys.map((k) => ({ key: k.variable, value: k.value, readonly: Boolean(k.readonly) })),
      );
    }
    if (variables.length) {
      await this.settings.reportDeviceModel(
        stationId,
        variables.map((v) => ({ component: v.component!, variable: v.variable, value: v.value })),
      );
    }
  }

  /** A password setting the charger took becomes the station's password (stored hashed). */
  private async takePassword(stationId: string, command: StationCommand, result: CommandResult): Promise<void> {
    if (command.name !== 'setConfiguration' || !this.settings) return;
    const password = command.settings.find(isPasswordSetting);
    if (!password) return;
    // 2.0.1 answers per setting; 1.6 changes one key per call and answers for it.
    const perSetting = (result.data?.settings as { variable: string; status?: string }[] | undefined)?.find(
      (s) => s.variable === password.variable,
    );
    if (TAKEN.has(perSetting?.status ?? result.status)) await this.settings.setPassword(stationId, password.value);
  }

  private published(commandId: string, stationId: string, command: string, status: string, requestedBy: string): void {
    this.bus?.publish({
      type: 'command.completed',
      commandId,
      stationId,
      command,
      status,
      requestedBy,
      at: new Date(),
    });
  }

  private async finish(
    id: string,
    values: { action?: string; status: string; response?: string; error?: string },
  ): Promise<void> {
    await this.db
      .updateTable('command_log')
      .set({
        ...(values.action ? { action: values.action } : {}),
        status: values.status,
        response: values.response ?? null,
        error: values.error ?? null,
        completed_at: new Date(),
      })
      .where('id', '=', id)
      .execute();
  }
}
