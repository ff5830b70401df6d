// OCPP 2.0.1 wording of the simulated station: BootNotification, StatusNotification (Occupied for any
// plugged-in state), TransactionEvent with a charger-generated transaction id and increasing seqNo,
// NotifyEvent for ChargeX faults, and answers to every CSMS-initiated action of 2.0.1.
//
// Transactions start when the driver is authorized (TxStartPoint Authorized) so that Started always carries
// the idToken; plugging in alone only changes the connector to Occupied.
import { RpcError } from '../ocpp/rpc/protocols.ts';
import { DeviceModel, type DeviceVariable } from './device-model.ts';
import type {
  AuthorizeAnswer,
  BootAnswer,
  ConnectorPhase,
  ConnectorState,
  Dialect,
  StartAnswer,
  StopReason,
} from './dialect.ts';
import type { ChargeXFault } from './faults.ts';
import type { MeterReading } from './meter.ts';
import type { SimulatedStation } from './station.ts';

const STOPPED_REASONS: Record<StopReason, string> = {
  Local: 'Local',
  Remote: 'Remote',
  EVDisconnected: 'EVDisconnected',
  DeAuthorized: 'DeAuthorized',
  EmergencyStop: 'EmergencyStop',
  PowerLoss: 'PowerLoss',
  Reboot: 'Reboot',
  HardReset: 'ImmediateReset',
  SoftReset: 'ImmediateReset',
  GroundFault: 'GroundFault',
  OvercurrentFault: 'OvercurrentFault',
  UnlockCommand: 'Other',
  Other: 'Other',
};

/** What caused the Ended event, in TransactionEvent triggerReason words. */
const END_TRIGGERS: Record<StopReason, string> = {
  Local: 'StopAuthorized',
  Remote: 'RemoteStop',
  EVDisconnected: 'EVCommunicationLost',
  DeAuthorized: 'Deauthorized',
  EmergencyStop: 'AbnormalCondition',
  PowerLoss: 'AbnormalCondition',
  Reboot: 'ResetCommand',
  HardReset: 'ResetCommand',
  SoftReset: 'ResetCommand',
  GroundFault: 'AbnormalCondition',
  OvercurrentFault: 'AbnormalCondition',
  UnlockCommand: 'UnlockCommand',
  Other: 'AbnormalCondition',
};

type ReadingContext = 'Transaction.Begin' | 'Sample.Periodic' | 'Trigger' | 'Transaction.End';

export class Dialect201 implements Dialect {
  readonly deviceModel: DeviceModel;
  private localListVersion = 0;
  private nextEventId = 1;

  constructor(private readonly station: SimulatedStation) {
    this.deviceModel = new DeviceModel(this.buildVariables());
  }

  private buildVariables(): DeviceVariable[] {
    const s = this.station;
    const measurands = ['Energy.Active.Import.Register', 'Power.Active.Import'];
    if (s.currentType === 'DC') measurands.push('SoC');
    const vars: DeviceVariable[] = [
      {
        component: 'ChargingStation',
        variable: 'Model',
        value: s.options.model,
        mutability: 'ReadOnly',
        dataType: 'string',
      },
      {
        component: 'ChargingStation',
        variable: 'VendorName',
        value: s.options.vendor,
        mutability: 'ReadOnly',
        dataType: 'string',
      },
      {
        component: 'ChargingStation',
        variable: 'AvailabilityState',
        value: 'Available',
        mutability: 'ReadOnly',
        dataType: 'OptionList',
      },
      {
        component: 'OCPPCommCtrlr',
        variable: 'HeartbeatInterval',
        value: String(s.heartbeatIntervalS),
        mutability: 'ReadWrite',
        dataType: 'integer',
        unit: 's',
        onChange: (v) => s.setHeartbeatInterval(Number(v)),
      },
      {
        component: 'SampledDataCtrlr',
        variable: 'TxUpdatedInterval',
        value: String(s.meterIntervalS),
        mutability: 'ReadWrite',
        dataType: 'integer',
        unit: 's',
        onChange: (v) => s.setMeterInterval(Number(v)),
      },
      {
        component: 'SampledDataCtrlr',
        variable: 'TxUpdatedMeasurands',
        value: measurands.join(','),
        mutability: 'ReadWrite',
        dataType: 'MemberList',
      },
      {
        component: 'SampledDataCtrlr',
        variable: 'TxEndedMeasurands',
        value: 'Energy.Active.Import.Register',
        mutability: 'ReadWrite',
        dataType: 'MemberList',
      },
      { component: 'AuthCtrlr', variable: 'Enabled', value: 'true', mutability: 'ReadWrite', dataType: 'boolean' },
      {
        component: 'AuthCtrlr',
        variable: 'AuthorizeRemoteStart',
        value: 'false',
        mutability: 'ReadWrite',
        dataType: 'boolean',
      },
      {
        component: 'TxCtrlr',
        variable: 'EVConnectionTimeOut',
        value: '60',
        mutability: 'ReadWrite',
        dataType: 'integer',
        unit: 's',
      },
      {
        component: 'TxCtrlr',
        variable: 'TxStartPoint',
        value: 'Authorized',
        mutability: 'ReadOnly',
        dataType: 'MemberList',
      },
      {
        component: 'TxCtrlr',
        variable: 'TxStopPoint',
        value: 'EVConnected,Authorized',
        mutability: 'ReadOnly',
        dataType: 'MemberList',
      },
      {
        component: 'SecurityCtrlr',
        variable: 'SecurityProfile',
        value: s.options.password !== undefined ? '1' : '0',
        mutability: 'ReadOnly',
        dataType: 'integer',
      },
      {
        component: 'SecurityCtrlr',
        variable: 'BasicAuthPassword',
        value: s.options.password ?? '',
        mutability: 'WriteOnly',
        dataType: 'string',
      },
    ];
    for (const connector of s.connectors) {
      const maxPowerW = s.currentType === 'DC' ? '150000' : '7400';
      vars.push(
        {
          component: 'EVSE',
          evseId: connector.id,
          variable: 'Power',
          value: maxPowerW,
          mutability: 'ReadOnly',
          dataType: 'decimal',
          unit: 'W',
        },
        {
          component: 'EVSE',
          evseId: connector.id,
          variable: 'AvailabilityState',
          value: 'Available',
          mutability: 'ReadOnly',
          dataType: 'OptionList',
        },
        {
          component: 'Connector',
          evseId: connector.id,
          connectorId: 1,
          variable: 'ConnectorType',
          value: s.currentType === 'DC' ? 'cCCS1' : 'cType2',
          mutability: 'ReadOnly',
          dataType: 'OptionList',
        },
      );
    }
    return vars;
  }

  statusWord(phase: ConnectorPhase): string {
    return phase === 'Preparing' || phase === 'Charging' || phase === 'Finishing' ? 'Occupied' : phase;
  }

  newTransactionId(): string {
    return this.station.random.uuid();
  }

  async bootNotification(reason: string): Promise<BootAnswer> {
    const s = this.station;
    const answer = await s.call('BootNotification', {
      reason,
      chargingStation: {
        model: s.options.model.slice(0, 20),
        vendorName: s.options.vendor.slice(0, 50),
        serialNumber: `SN-${s.id}`.slice(0, 25),
        firmwareVersion: '2.0.1-sim',
      },
    });
    return { status: answer.status, intervalS: answer.interval };
  }

  async heartbeat(): Promise<void> {
    await this.station.call('Heartbeat', {});
  }

  async statusNotification(connector: ConnectorState | 0, word: string): Promise<void> {
    if (connector === 0) return; // 2.0.1 has no station-wide StatusNotification
    await this.station.call('StatusNotification', {
      timestamp: new Date().toISOString(),
      connectorStatus: word,
      evseId: connector.id,
      connectorId: 1,
    });
  }

  async authorize(idTag: string): Promise<AuthorizeAnswer> {
    const answer = await this.station.call('Authorize', { idToken: idTokenOf(idTag) });
    const status: string = answer.idTokenInfo.status;
    return { status, accepted: status === 'Accepted', raw: answer };
  }

  private meterValue(reading: MeterReading, context: ReadingContext, energyOnly = false): Record<string, unknown> {
    const sampledValue: Record<string, unknown>[] = [
      {
        value: reading.energyWh,
        context,
        measurand: 'Energy.Active.Import.Register',
        location: 'Outlet',
        unitOfMeasure: { unit: 'Wh' },
      },
    ];
    if (!energyOnly) {
      sampledValue.push({
        value: reading.powerW,
        context,
        measurand: 'Power.Active.Import',
        location: 'Outlet',
        unitOfMeasure: { unit: 'W' },
      });
      if (reading.socPercent !== undefined) {
        sampledValue.push({
          value: reading.socPercent,
          context,
          measurand: 'SoC',
          location: 'EV',
          unitOfMeasure: { unit: 'Percent' },
        });
      }
    }
    return { timestamp: new Date().toISOString(), sampledValue };
  }

  async startTransaction(
    connector: ConnectorState,
    idTag: string,
    reading: MeterReading,
    remoteStartId?: number,
  ): Promise<StartAnswer> {
    const transaction = connector.transaction;
    if (!transaction) throw new Error(`connector ${connector.id} has no transaction to start`);
    const transactionId = transaction.id;
    const transactionInfo: Record<string, unknown> = { transactionId, chargingState: 'Charging' };
    if (remoteStartId !== undefined) transactionInfo.remoteStartId = remoteStartId;
    const payload: Record<string, unknown> = {
      eventType: 'Started',
      timestamp: new Date().toISOString(),
      triggerReason: remoteStartId !== undefined ? 'RemoteStart' : 'Authorized',
      seqNo: transaction.nextSeqNo++,
      transactionInfo,
      evse: { id: connector.id, connectorId: 1 },
      idToken: idTokenOf(idTag),
      meterValue: [this.meterValue(reading, 'Transaction.Begin', true)],
    };
    if (connector.reservationId !== undefined) payload.reservationId = connector.reservationId;
    const answer = await this.station.call('TransactionEvent', payload);
    const status: string | undefined = answer.idTokenInfo?.status;
    return { transactionId, accepted: status === undefined || status === 'Accepted' };
  }

  async meterValues(
    connector: ConnectorState,
    reading: MeterReading,
    context: 'Sample.Periodic' | 'Trigger',
  ): Promise<void> {
    const transaction = connector.transaction;
    if (!transaction) {
      // Outside a transaction, meter values travel in their own message.
      await this.station.call('MeterValues', { evseId: connector.id, meterValue: [this.meterValue(reading, context)] });
      return;
    }
    await this.station.call('TransactionEvent', {
      eventType: 'Updated',
      timestamp: new Date().toISOString(),
      triggerReason: context === 'Trigger' ? 'Trigger' : 'MeterValuePeriodic',
      seqNo: transaction.nextSeqNo++,
      transactionInfo: { transactionId: transaction.id, chargingState: 'Charging' },
      evse: { id: connector.id, connectorId: 1 },
      meterValue: [this.meterValue(reading, context)],
    });
  }

  async stopTransaction(connector: ConnectorState, reason: StopReason, reading: MeterReading): Promise<void> {
    const transaction = connector.transaction;
    if (!transaction) return;
    await this.station.call('TransactionEvent', {
      eventType: 'Ended',
      timestamp: new Date().toISOString(),
      triggerReason: END_TRIGGERS[reason],
      seqNo: transaction.nextSeqNo++,
      transactionInfo: {
        transactionId: transaction.id,
        chargingState: connector.plugged && reason !== 'EVDisconnected' ? 'EVConnected' : 'Idle',
        stoppedReason: STOPPED_REASONS[reason],
        timeSpentCharging: Math.round((Date.now() - transaction.startedAt.getTime()) / this.station.options.secondMs),
      },
      evse: { id: connector.id, connectorId: 1 },
      idToken: idTokenOf(transaction.idTag),
      meterValue: [this.meterValue(reading, 'Transaction.End')],
    });
  }

  /** ChargeX convention for 2.0.1 (as EVerest): a hard-wired Problem alert on the EVSE, techCode = CX code. */
  async faultEvent(connector: ConnectorState, fault: ChargeXFault, cleared: boolean): Promise<void> {
    const now = new Date().toISOString();
    const eventData: Record<string, unknown> = {
      eventId: this.nextEventId++,
      timestamp: now,
      trigger: 'Alerting',
      actualValue: cleared ? 'false' : 'true',
      techCode: fault.code,
      techInfo: `${fault.name}: ${fault.info}`,
      cleared,
      component: { name: 'EVSE', evse: { id: connector.id, connectorId: 1 } },
      variable: { name: 'Problem' },
      eventNotificationType: 'HardWiredNotification',
    };
    if (connector.transaction) eventData.transactionId = connector.transaction.id;
    await this.station.call('NotifyEvent', { generatedAt: now, seqNo: 0, eventData: [eventData] });
  }

  handleCall(action: string, p: any): unknown {
    const s = this.station;
    switch (action) {
      case 'RequestStartTransaction': {
        const connector = s.freeConnector(p.evseId);
        if (!connector) return { status: 'Rejected' };
        const authorizeFirst = this.deviceModel.get({ name: 'AuthCtrlr' }, 'AuthorizeRemoteStart').value === 'true';
        s.later(() => s.remoteStart(connector.id, p.idToken.idToken, authorizeFirst, p.remoteStartId));
        return { status: 'Accepted' };
      }
      case 'RequestStopTransaction': {
        const connector = s.transactionById(p.transactionId);
        if (!connector) return { status: 'Rejected' };
        s.later(() => s.stopTransaction(connector.id, 'Remote'));
        return { status: 'Accepted' };
      }
      case 'Reset':
        // Resetting a single EVSE is optional in 2.0.1; this station only resets as a whole.
        if (p.evseId !== undefined) return { status: 'Rejected' };
        return { status: s.requestReset('HardReset', p.type === 'OnIdle') };
      case 'UnlockConnector': {
        if (p.evseId < 1 || p.evseId > s.connectors.length || p.connectorId !== 1)
          return { status: 'UnknownConnector' };
        if (s.connector(p.evseId).transaction) return { status: 'OngoingAuthorizedTransaction' };
        return { status: 'Unlocked' };
      }
      case 'ChangeAvailability': {
        const evseId: number = p.evse?.id ?? 0;
        if (evseId > s.connectors.length) return { status: 'Rejected' };
        return { status: s.requestAvailability(evseId, p.operationalStatus === 'Operative') };
      }
      case 'GetVariables':
        return {
          getVariableResult: p.getVariableData.map((d: any) => {
            const got = this.deviceModel.get(d.component, d.variable.name, d.attributeType);
            const result: Record<string, unknown> = {
              attributeStatus: got.status,
              component: d.component,
              variable: d.variable,
            };
            if (d.attributeType) result.attributeType = d.attributeType;
            if (got.value !== undefined) result.attributeValue = got.value;
            return result;
          }),
        };
      case 'SetVariables':
        return {
          setVariableResult: p.setVariableData.map((d: any) => {
            const result: Record<string, unknown> = {
              attributeStatus: this.deviceModel.set(d.component, d.variable.name, d.attributeValue, d.attributeType),
              component: d.component,
              variable: d.variable,
            };
            if (d.attributeType) result.attributeType = d.attributeType;
            return result;
          }),
        };
      case 'GetBaseReport': {
        const all = this.deviceModel.all();
        const selected =
          p.reportBase === 'ConfigurationInventory' ? all.filter((v) => v.mutability !== 'ReadOnly') : all;
        s.later(() => this.notifyReport(p.requestId, selected));
        return { status: 'Accepted' };
      }
      case 'GetReport': {
        const selected = this.deviceModel.select(p.componentVariable);
        if (selected.length === 0) return { status: 'EmptyResultSet' };
        s.later(() => this.notifyReport(p.requestId, selected));
        return { status: 'Accepted' };
      }
      case 'TriggerMessage':
        return { status: this.trigger(p.requestedMessage, p.evse?.id) };
      case 'ClearCache':
        return { status: 'Accepted' };
      case 'DataTransfer':
        return { status: 'UnknownVendorId' };
      case 'GetLog':
        s.later(() => this.progress('LogStatusNotification', ['Uploading', 'Uploaded'], p.requestId));
        return {
          status: 'Accepted',
          filename: `${p.logType === 'SecurityLog' ? 'security' : 'diagnostics'}-${s.id}.log`,
        };
      case 'UpdateFirmware':
        s.later(() =>
          this.progress(
            'FirmwareStatusNotification',
            ['Downloading', 'Downloaded', 'Installing', 'Installed'],
            p.requestId,
          ),
        );
        return { status: 'Accepted' };
      case 'GetTransactionStatus': {
        const answer: Record<string, unknown> = { messagesInQueue: false };
        if (p.transactionId !== undefined) answer.ongoingIndicator = s.transactionById(p.transactionId) !== undefined;
        return answer;
      }
      case 'ReserveNow': {
        const connector = p.evseId !== undefined ? s.connectors[p.evseId - 1] : s.freeConnector();
        if (!connector) return { status: 'Rejected' };
        if (connector.fault) return { status: 'Faulted' };
        if (!connector.operative) return { status: 'Unavailable' };
        if (connector.transaction || connector.plugged) return { status: 'Occupied' };
        connector.reservationId = p.id;
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
      case 'CostUpdated':
        return {};
      case 'SetChargingProfile':
        return { status: p.evseId <= s.connectors.length ? 'Accepted' : 'Rejected' };
      case 'ClearChargingProfile':
        return { status: 'Accepted' };
      case 'GetChargingProfiles':
        return { status: 'NoProfiles' };
      case 'GetCompositeSchedule':
        return this.compositeSchedule(p.evseId, p.duration, p.chargingRateUnit);
      case 'SetDisplayMessage':
        return { status: 'Accepted' };
      case 'GetDisplayMessages':
      case 'ClearDisplayMessage':
        return { status: 'Unknown' };
      case 'SetVariableMonitoring':
        // No monitors on this simulated hardware: every request is refused explicitly, item by item.
        return {
          setMonitoringResult: p.setMonitoringData.map((d: any) => ({
            status: 'Rejected',
            type: d.type,
            severity: d.severity,
            component: d.component,
            variable: d.variable,
          })),
        };
      case 'ClearVariableMonitoring':
        return { clearMonitoringResult: p.id.map((id: number) => ({ status: 'NotFound', id })) };
      case 'SetMonitoringBase':
      case 'SetMonitoringLevel':
        return { status: 'Accepted' };
      case 'GetMonitoringReport':
        return { status: 'EmptyResultSet' };
      case 'CustomerInformation':
        if (p.report) {
          s.later(() =>
            s.call('NotifyCustomerInformation', {
              data: 'No customer data stored on this station',
              seqNo: 0,
              generatedAt: new Date().toISOString(),
              requestId: p.requestId,
            }),
          );
        }
        return { status: 'Accepted' };
      case 'CertificateSigned':
      case 'InstallCertificate':
        return { status: 'Accepted' };
      case 'DeleteCertificate':
      case 'GetInstalledCertificateIds':
        return { status: 'NotFound' };
      case 'GetLocalListVersion':
        return { versionNumber: this.localListVersion };
      case 'SendLocalList':
        if (p.updateType === 'Differential' && p.versionNumber <= this.localListVersion)
          return { status: 'VersionMismatch' };
        this.localListVersion = p.versionNumber;
        return { status: 'Accepted' };
      case 'SetNetworkProfile':
        return { status: 'Accepted' };
      case 'PublishFirmware':
        // Publishing is for Local Controllers; a charging station declines.
        return { status: 'Rejected' };
      case 'UnpublishFirmware':
        return { status: 'NoFirmware' };
      default:
        throw new RpcError('NotImplemented', `${action} is not implemented by the simulator`);
    }
  }

  private async notifyReport(requestId: number, variables: readonly DeviceVariable[]): Promise<void> {
    await this.station.call('NotifyReport', {
      requestId,
      generatedAt: new Date().toISOString(),
      seqNo: 0,
      tbc: false,
      reportData: variables.map((v) => DeviceModel.reportData(v)),
    });
  }

  private trigger(message: string, evseId: number | undefined): string {
    const s = this.station;
    if (evseId !== undefined && (evseId < 1 || evseId > s.connectors.length)) return 'Rejected';
    const targets = evseId ? [s.connector(evseId)] : s.connectors;
    switch (message) {
      case 'BootNotification':
        s.later(() => this.bootNotification('Triggered'));
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
      case 'TransactionEvent':
        s.later(async () => {
          for (const connector of targets) {
            if (message === 'MeterValues' || connector.transaction) await s.sendMeterValues(connector.id, 'Trigger');
          }
        });
        return 'Accepted';
      case 'FirmwareStatusNotification':
        s.later(() => s.call('FirmwareStatusNotification', { status: 'Idle' }));
        return 'Accepted';
      case 'LogStatusNotification':
        s.later(() => s.call('LogStatusNotification', { status: 'Idle' }));
        return 'Accepted';
      default:
        // Certificate signing requests need real key material.
        return 'NotImplemented';
    }
  }

  private async progress(action: string, steps: string[], requestId: number): Promise<void> {
    for (const [i, status] of steps.entries()) {
      if (i > 0) await new Promise<void>((resolve) => this.station.later(resolve, 1));
      await this.station.call(action, { status, requestId });
    }
  }

  private compositeSchedule(evseId: number, duration: number, unit: string | undefined): unknown {
    const s = this.station;
    if (evseId > s.connectors.length) return { status: 'Rejected' };
    const rateUnit = unit === 'W' ? 'W' : 'A';
    const maxPowerW = s.currentType === 'DC' ? 150_000 : 7_400;
    return {
      status: 'Accepted',
      schedule: {
        evseId,
        duration,
        scheduleStart: new Date().toISOString(),
        chargingRateUnit: rateUnit,
        chargingSchedulePeriod: [{ startPeriod: 0, limit: rateUnit === 'W' ? maxPowerW : 32 }],
      },
    };
  }
}

function idTokenOf(idTag: string): { idToken: string; type: string } {
  return { idToken: idTag, type: 'ISO14443' };
}
