// OCPP 1.6J wording of the simulated station: the messages it sends and its answers to every Central
// System command of 1.6 core, the feature profiles and the security whitepaper.
import { RpcError } from '../ocpp/rpc/protocols.ts';
import type {
  AuthorizeAnswer,
  BootAnswer,
  ConnectorPhase,
  ConnectorState,
  Dialect,
  StartAnswer,
  StopReason,
} from './dialect.ts';
import { CHARGEX_VENDOR_ID, type ChargeXFault } from './faults.ts';
import type { MeterReading } from './meter.ts';
import type { SimulatedStation } from './station.ts';

interface ConfigEntry {
  value: string;
  readonly: boolean;
  /** Secrets (AuthorizationKey) can be written but are never reported. */
  writeOnly?: boolean;
  /** Keys holding whole numbers reject anything else. */
  integer?: boolean;
}

const STOP_REASONS_16: Record<StopReason, string> = {
  Local: 'Local',
  Remote: 'Remote',
  EVDisconnected: 'EVDisconnected',
  DeAuthorized: 'DeAuthorized',
  EmergencyStop: 'EmergencyStop',
  PowerLoss: 'PowerLoss',
  Reboot: 'Reboot',
  HardReset: 'HardReset',
  SoftReset: 'SoftReset',
  // 1.6 has no ground or over-current reason; the fault code travels in StatusNotification instead.
  GroundFault: 'Other',
  OvercurrentFault: 'Other',
  UnlockCommand: 'UnlockCommand',
  Other: 'Other',
};

export class Dialect16 implements Dialect {
  private readonly config = new Map<string, ConfigEntry>();
  private localListVersion = 0;

  constructor(private readonly station: SimulatedStation) {
    const s = station;
    const entries: [string, ConfigEntry][] = [
      ['HeartbeatInterval', { value: String(s.heartbeatIntervalS), readonly: false, integer: true }],
      ['MeterValueSampleInterval', { value: String(s.meterIntervalS), readonly: false, integer: true }],
      ['MeterValuesSampledData', { value: this.measurands().join(','), readonly: false }],
      ['StopTxnSampledData', { value: 'Energy.Active.Import.Register', readonly: false }],
      ['ClockAlignedDataInterval', { value: '0', readonly: false, integer: true }],
      ['ConnectionTimeOut', { value: '60', readonly: false, integer: true }],
      ['NumberOfConnectors', { value: String(s.connectors.length), readonly: true }],
      ['AuthorizeRemoteTxRequests', { value: 'false', readonly: false }],
      ['LocalAuthorizeOffline', { value: 'true', readonly: false }],
      ['LocalPreAuthorize', { value: 'false', readonly: false }],
      ['StopTransactionOnEVSideDisconnect', { value: 'true', readonly: false }],
      ['StopTransactionOnInvalidId', { value: 'true', readonly: false }],
      ['UnlockConnectorOnEVSideDisconnect', { value: 'true', readonly: false }],
      ['TransactionMessageAttempts', { value: '3', readonly: false, integer: true }],
      ['TransactionMessageRetryInterval', { value: '60', readonly: false, integer: true }],
      ['ResetRetries', { value: '1', readonly: false, integer: true }],
      ['WebSocketPingInterval', { value: '60', readonly: false, integer: true }],
      ['LocalAuthListEnabled', { value: 'true', readonly: false }],
      ['LocalAuthListMaxLength', { value: '1000', readonly: true }],
      ['SendLocalListMaxLength', { value: '100', readonly: true }],
      ['ChargeProfileMaxStackLevel', { value: '10', readonly: true }],
      ['ChargingScheduleAllowedChargingRateUnit', { value: 'Current,Power', readonly: true }],
      [
        'SupportedFeatureProfiles',
        {
          value: 'Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger',
          readonly: true,
        },
      ],
      ['SecurityProfile', { value: s.options.password !== undefined ? '1' : '0', readonly: true }],
      ['AuthorizationKey', { value: s.options.password ?? '', readonly: false, writeOnly: true }],
      ['CpoName', { value: 'OpenCPO', readonly: false }],
    ];
    for (const [key, entry] of entries) this.config.set(key, entry);
  }

  private measurands(): string[] {
    const list = ['Energy.Active.Import.Register', 'Power.Active.Import'];
    if (this.station.currentType === 'DC') list.push('SoC');
    return list;
  }

  statusWord(phase: ConnectorPhase): string {
    return phase;
  }

  newTransactionId(): undefined {
    return undefined;
  }

  async bootNotification(): Promise<BootAnswer> {
    const s = this.station;
    const answer = await s.call('BootNotification', {
      chargePointVendor: s.options.vendor,
      chargePointModel: s.options.model,
      chargePointSerialNumber: `SN-${s.id}`.slice(0, 25),
      chargeBoxSerialNumber: `CB-${s.id}`.slice(0, 25),
      firmwareVersion: '1.6.0-sim',
      meterType: s.currentType === 'DC' ? 'DC energy meter' : 'AC energy meter',
      meterSerialNumber: `M-${s.id}`.slice(0, 25),
    });
    return { status: answer.status, intervalS: answer.interval };
  }

  async heartbeat(): Promise<void> {
    await this.station.call('Heartbeat', {});
  }

  async statusNotification(connector: ConnectorState | 0, word: string): Promise<void> {
    const fault = connector === 0 ? undefined : connector.fault;
    const payload: Record<string, unknown> = {
      connectorId: connector === 0 ? 0 : connector.id,
      errorCode: fault ? fault.errorCode16 : 'NoError',
      status: word,
      timestamp: new Date().toISOString(),
    };
    if (fault) {
      // MREC convention: the ChargeX code in vendorErrorCode, ChargeX as the vendor, a short text in info.
      payload.vendorId = CHARGEX_VENDOR_ID;
      payload.vendorErrorCode = fault.code;
      payload.info = fault.info.slice(0, 50);
    }
    await this.station.call('StatusNotification', payload);
  }

  async authorize(idTag: string): Promise<AuthorizeAnswer> {
    const answer = await this.station.call('Authorize', { idTag });
    const status: string = answer.idTagInfo.status;
    return { status, accepted: status === 'Accepted', raw: answer };
  }

  async startTransaction(connector: ConnectorState, idTag: string, reading: MeterReading): Promise<StartAnswer> {
    const payload: Record<string, unknown> = {
      connectorId: connector.id,
      idTag,
      meterStart: reading.energyWh,
      timestamp: new Date().toISOString(),
    };
    if (connector.reservationId !== undefined) payload.reservationId = connector.reservationId;
    const answer = await this.station.call('StartTransaction', payload);
    return { transactionId: String(answer.transactionId), accepted: answer.idTagInfo.status === 'Accepted' };
  }

  private sampledValues(reading: MeterReading, context: string): Record<string, unknown>[] {
    const values: Record<string, unknown>[] = [
      {
        value: String(reading.energyWh),
        context,
        measurand: 'Energy.Active.Import.Register',
        location: 'Outlet',
        unit: 'Wh',
      },
      { value: String(reading.powerW), context, measurand: 'Power.Active.Import', location: 'Outlet', unit: 'W' },
    ];
    if (reading.socPercent !== undefined) {
      values.push({ value: String(reading.socPercent), context, measurand: 'SoC', location: 'EV', unit: 'Percent' });
    }
    return values;
  }

  async meterValues(connector: ConnectorState, reading: MeterReading, context: string): Promise<void> {
    const payload: Record<string, unknown> = {
      connectorId: connector.id,
      meterValue: [{ timestamp: new Date().toISOString(), sampledValue: this.sampledValues(reading, context) }],
    };
    if (connector.transaction?.id) payload.transactionId = Number(connector.transaction.id);
    await this.station.call('MeterValues', payload);
  }

  async stopTransaction(connector: ConnectorState, reason: StopReason, reading: MeterReading): Promise<void> {
    const transaction = connector.transaction;
    if (!transaction) return;
    await this.station.call('StopTransaction', {
      idTag: transaction.idTag,
      meterStop: reading.energyWh,
      timestamp: new Date().toISOString(),
      transactionId: Number(transaction.id),
      reason: STOP_REASONS_16[reason],
      transactionData: [
        {
          timestamp: transaction.startedAt.toISOString(),
          sampledValue: [
            {
              value: String(transaction.meterStartWh),
              context: 'Transaction.Begin',
              measurand: 'Energy.Active.Import.Register',
              unit: 'Wh',
            },
          ],
        },
        { timestamp: new Date().toISOString(), sampledValue: this.sampledValues(reading, 'Transaction.End') },
      ],
    });
  }

  /** 1.6 carries the fault in the Faulted StatusNotification itself; nothing else to send. */
  async faultEvent(_connector: ConnectorState, _fault: ChargeXFault, _cleared: boolean): Promise<void> {}

  handleCall(action: string, p: any): unknown {
    const s = this.station;
    switch (action) {
      case 'RemoteStartTransaction': {
        const connector = s.freeConnector(p.connectorId);
        if (!connector) return { status: 'Rejected' };
        const authorizeFirst = this.config.get('AuthorizeRemoteTxRequests')?.value === 'true';
        s.later(() => s.remoteStart(connector.id, p.idTag, authorizeFirst));
        return { status: 'Accepted' };
      }
      case 'RemoteStopTransaction': {
        const connector = s.transactionById(String(p.transactionId));
        if (!connector) return { status: 'Rejected' };
        s.later(() => s.stopTransaction(connector.id, 'Remote'));
        return { status: 'Accepted' };
      }
      case 'Reset':
        s.requestReset(p.type === 'Hard' ? 'HardReset' : 'SoftReset', false);
        return { status: 'Accepted' };
      case 'UnlockConnector':
        if (p.connectorId < 1 || p.connectorId > s.connectors.length) return { status: 'NotSupported' };
        // Unlocking ends a transaction on that connector, as the specification requires.
        if (s.connector(p.connectorId).transaction) s.later(() => s.stopTransaction(p.connectorId, 'UnlockCommand'));
        return { status: 'Unlocked' };
      case 'ChangeAvailability':
        if (p.connectorId > s.connectors.length) return { status: 'Rejected' };
        return { status: s.requestAvailability(p.connectorId, p.type === 'Operative') };
      case 'GetConfiguration':
        return this.getConfiguration(p.key);
      case 'ChangeConfiguration':
        return { status: this.changeConfiguration(p.key, p.value) };
      case 'ClearCache':
        return { status: 'Accepted' };
      case 'TriggerMessage':
      case 'ExtendedTriggerMessage':
        return { status: this.trigger(p.requestedMessage, p.connectorId) };
      case 'DataTransfer':
        return { status: 'UnknownVendorId' };
      case 'GetDiagnostics':
        s.later(() => this.progress('DiagnosticsStatusNotification', ['Uploading', 'Uploaded']));
        return { fileName: `diagnostics-${s.id}.zip` };
      case 'UpdateFirmware':
        s.later(() =>
          this.progress('FirmwareStatusNotification', ['Downloading', 'Downloaded', 'Installing', 'Installed']),
        );
        return {};
      case 'SignedUpdateFirmware':
        s.later(() =>
          this.progress(
            'SignedFirmwareStatusNotification',
            ['Downloading', 'Downloaded', 'SignatureVerified', 'Installing', 'Installed'],
            p.requestId,
          ),
        );
        return { status: 'Accepted' };
      case 'GetLog':
        s.later(() => this.progress('LogStatusNotification', ['Uploading', 'Uploaded'], p.requestId));
        return {
          status: 'Accepted',
          filename: `${p.logType === 'SecurityLog' ? 'security' : 'diagnostics'}-${s.id}.log`,
        };
      case 'GetLocalListVersion':
        return { listVersion: this.localListVersion };
      case 'SendLocalList':
        if (p.updateType === 'Differential' && p.listVersion <= this.localListVersion)
          return { status: 'VersionMismatch' };
        this.localListVersion = p.listVersion;
        return { status: 'Accepted' };
      case 'ReserveNow': {
        const connector = p.connectorId === 0 ? s.freeConnector() : s.connectors[p.connectorId - 1];
        if (!connector) return { status: 'Rejected' };
        if (connector.fault) return { status: 'Faulted' };
        if (!connector.operative) return { status: 'Unavailable' };
        if (connector.transaction || connector.plugged) return { status: 'Occupied' };
        connector.reservationId = p.reservationId;
        s.later(() => s.reportStatus(connector.id));
        return { status: 'Accepted' };
      }
      case 'CancelReservation': {
        const connector = s.connectors.find((c) => c.reservationId === p.reservationId);
        if (!connector) return { status: 'Rejected' };
        connector.reservationId = undefined;
        s.later(() => s.reportStatus(connector.id));
        return { status: 'Accepted' };
      }
      case 'SetChargingProfile':
        return { status: p.connectorId <= s.connectors.length ? 'Accepted' : 'Rejected' };
      case 'ClearChargingProfile':
        return { status: 'Accepted' };
      case 'GetCompositeSchedule':
        return this.compositeSchedule(p.connectorId, p.duration, p.chargingRateUnit);
      case 'CertificateSigned':
        return { status: 'Accepted' };
      case 'InstallCertificate':
        return { status: 'Accepted' };
      case 'DeleteCertificate':
        return { status: 'NotFound' };
      case 'GetInstalledCertificateIds':
        return { status: 'NotFound' };
      default:
        throw new RpcError('NotImplemented', `${action} is not implemented by the simulator`);
    }
  }

  private getConfiguration(keys: string[] | undefined): unknown {
    const wanted = keys && keys.length > 0 ? keys : [...this.config.keys()];
    const configurationKey: { key: string; readonly: boolean; value?: string }[] = [];
    const unknownKey: string[] = [];
    for (const key of wanted) {
      const entry = this.config.get(key);
      if (!entry) unknownKey.push(key);
      else if (entry.writeOnly) continue;
      else configurationKey.push({ key, readonly: entry.readonly, value: entry.value });
    }
    return unknownKey.length > 0 ? { configurationKey, unknownKey } : { configurationKey };
  }

  private changeConfiguration(key: string, value: string): string {
    const entry = this.config.get(key);
    if (!entry) return 'NotSupported';
    if (entry.readonly) return 'Rejected';
    if (entry.integer && !/^\d+$/.test(value)) return 'Rejected';
    entry.value = value;
    if (key === 'HeartbeatInterval') this.station.setHeartbeatInterval(Number(value));
    if (key === 'MeterValueSampleInterval') this.station.setMeterInterval(Number(value));
    return 'Accepted';
  }

  private trigger(message: string, connectorId: number | undefined): string {
    const s = this.station;
    if (connectorId !== undefined && (connectorId < 0 || connectorId > s.connectors.length)) return 'Rejected';
    const targets = connectorId ? [s.connector(connectorId)] : s.connectors;
    switch (message) {
      case 'BootNotification':
        s.later(() => this.bootNotification());
        return 'Accepted';
      case 'Heartbeat':
        s.later(() => s.heartbeat());
        return 'Accepted';
      case 'StatusNotification':
        s.later(async () => {
          for (const connector of targets) await s.reportStatus(connector.id, true);
        });
        return 'Accepted';
      case 'MeterValues':
        s.later(async () => {
          for (const connector of targets) await s.sendMeterValues(connector.id, 'Trigger');
        });
        return 'Accepted';
      case 'DiagnosticsStatusNotification':
        s.later(() => s.call('DiagnosticsStatusNotification', { status: 'Idle' }));
        return 'Accepted';
      case 'FirmwareStatusNotification':
        s.later(() => s.call('FirmwareStatusNotification', { status: 'Idle' }));
        return 'Accepted';
      case 'LogStatusNotification':
        s.later(() => s.call('LogStatusNotification', { status: 'Idle' }));
        return 'Accepted';
      default:
        // SignChargePointCertificate would need a real key pair and CSR.
        return 'NotImplemented';
    }
  }

  /** Sends one status notification per step, a protocol second apart, as an upload or install progresses. */
  private async progress(action: string, steps: string[], requestId?: number): Promise<void> {
    for (const [i, status] of steps.entries()) {
      if (i > 0) await new Promise<void>((resolve) => this.station.later(resolve, 1));
      await this.station.call(action, requestId === undefined ? { status } : { status, requestId });
    }
  }

  private compositeSchedule(connectorId: number, duration: number, unit: string | undefined): unknown {
    const s = this.station;
    if (connectorId > s.connectors.length) return { status: 'Rejected' };
    const rateUnit = unit === 'W' ? 'W' : 'A';
    const maxPowerW = s.currentType === 'DC' ? 150_000 : 7_400;
    return {
      status: 'Accepted',
      connectorId,
      scheduleStart: new Date().toISOString(),
      chargingSchedule: {
        duration,
        chargingRateUnit: rateUnit,
        chargingSchedulePeriod: [{ startPeriod: 0, limit: rateUnit === 'W' ? maxPowerW : 32 }],
      },
    };
  }
}
