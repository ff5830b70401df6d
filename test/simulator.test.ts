// The charger simulator against a small in-test CSMS built from the project's own RpcConnection, so every
// message either side sends is validated against the official schemas on the way out and in.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { RpcConnection } from '../src/ocpp/rpc/connection.ts';
import type { OcppProtocol } from '../src/ocpp/rpc/protocols.ts';
import { schemasFor } from '../src/ocpp/rpc/schemas.ts';
import { chargerInitiatedActions, csmsInitiatedActions } from '../src/simulator/actions.ts';
import { AutonomousDriver } from '../src/simulator/autonomous.ts';
import { Fleet, formatTotals, LiveStatus } from '../src/simulator/fleet.ts';
import { SimulatedStation } from '../src/simulator/station.ts';

interface Received {
  station: string;
  action: string;
  payload: any;
}

/** A minimal CSMS: accepts every station, records what it receives, answers with schema-valid payloads. */
class TestCsms {
  readonly received: Received[] = [];
  readonly connections = new Map<string, RpcConnection>();
  readonly authHeaders = new Map<string, string | undefined>();
  /** Registration answers to give a station before Accepted (e.g. ['Pending']). */
  readonly bootAnswers = new Map<string, string[]>();
  private nextTransactionId = 100;
  private readonly wss: WebSocketServer;
  url = '';

  constructor() {
    this.wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      handleProtocols: (offered) => [...offered].find((p) => p === 'ocpp1.6' || p === 'ocpp2.0.1') ?? false,
    });
    this.wss.on('connection', (ws: WebSocket, req) => {
      const station = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
      const protocol = ws.protocol as OcppProtocol;
      this.authHeaders.set(station, req.headers.authorization);
      const conn = new RpcConnection(ws, {
        protocol,
        acceptsAction: (action) => chargerInitiatedActions(protocol).has(action),
        handleCall: (action, payload) => {
          this.received.push({ station, action, payload });
          return this.answer(station, protocol, action, payload);
        },
      });
      this.connections.set(station, conn);
    });
  }

  async start(): Promise<void> {
    // The server starts listening on construction; it may have done so before start() is called.
    if (!this.wss.address()) await once(this.wss, 'listening');
    this.url = `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/ocpp`;
  }

  async stop(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  actionsOf(station: string): string[] {
    return this.received.filter((r) => r.station === station).map((r) => r.action);
  }

  messagesOf(station: string, action: string): any[] {
    return this.received.filter((r) => r.station === station && r.action === action).map((r) => r.payload);
  }

  /** Resolves when `predicate` holds for the recorded messages (polling, bounded). */
  async waitFor(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private answer(station: string, protocol: OcppProtocol, action: string, payload: any): unknown {
    const now = new Date().toISOString();
    const v16 = protocol === 'ocpp1.6';
    switch (action) {
      case 'BootNotification':
        return { status: this.bootAnswers.get(station)?.shift() ?? 'Accepted', currentTime: now, interval: 300 };
      case 'Heartbeat':
        return { currentTime: now };
      case 'Authorize': {
        const token = v16 ? payload.idTag : payload.idToken.idToken;
        const status = token === 'BLOCKED' ? 'Blocked' : 'Accepted';
        return v16 ? { idTagInfo: { status } } : { idTokenInfo: { status } };
      }
      case 'StartTransaction':
        return { idTagInfo: { status: 'Accepted' }, transactionId: this.nextTransactionId++ };
      case 'TransactionEvent':
        return payload.idToken ? { idTokenInfo: { status: 'Accepted' } } : {};
      case 'DataTransfer':
        return { status: 'Accepted' };
      default:
        return {};
    }
  }
}

const fast = { secondMs: 5, reconnectBaseMs: 20, reconnectMaxMs: 100, meterIntervalS: 0, callTimeoutMs: 3000 };

describe('action tables', () => {
  for (const protocol of ['ocpp1.6', 'ocpp2.0.1'] as const) {
    it(`cover every ${protocol} action exactly once (DataTransfer both ways)`, () => {
      const csms = csmsInitiatedActions(protocol);
      const charger = chargerInitiatedActions(protocol);
      const union = new Set([...csms, ...charger]);
      assert.deepEqual([...union].sort(), [...schemasFor(protocol).actions].sort());
      assert.deepEqual(
        [...csms].filter((a) => charger.has(a)),
        ['DataTransfer'],
      );
    });
  }
});

describe('simulated stations', () => {
  const csms = new TestCsms();
  const stations: SimulatedStation[] = [];
  const station = (
    id: string,
    protocol: OcppProtocol,
    extra: Partial<ConstructorParameters<typeof SimulatedStation>[0]> = {},
  ) => {
    const s = new SimulatedStation({ url: csms.url, id, protocol, ...fast, ...extra });
    stations.push(s);
    return s;
  };

  before(() => csms.start());
  after(async () => {
    await Promise.all(stations.map((s) => s.close()));
    await csms.stop();
  });

  it('1.6: boots, plugs in, authorizes, charges and stops', async () => {
    const s = station('CP-16 A', 'ocpp1.6', { password: 's3cret', currentType: 'DC' });
    await s.connect();
    assert.equal(await s.boot(), 'Accepted');
    assert.equal(csms.authHeaders.get('CP-16 A'), `Basic ${Buffer.from('CP-16 A:s3cret').toString('base64')}`);
    await s.plugIn(1);
    const auth = await s.authorize('TAG-1');
    assert.equal(auth.status, 'Accepted');
    const started = await s.startTransaction(1, 'TAG-1');
    assert.equal(started.transactionId, '100');
    await new Promise((resolve) => setTimeout(resolve, 30)); // 6 simulated seconds of DC charging
    await s.sendMeterValues(1);
    await s.stopTransaction(1, 'Local');

    assert.deepEqual(csms.actionsOf('CP-16 A'), [
      'BootNotification',
      'StatusNotification', // connector 0
      'StatusNotification',
      'StatusNotification',
      'StatusNotification', // Preparing
      'Authorize',
      'StartTransaction',
      'StatusNotification', // Charging
      'MeterValues',
      'StopTransaction',
      'StatusNotification', // Finishing
    ]);
    const statuses = csms.messagesOf('CP-16 A', 'StatusNotification').map((m) => `${m.connectorId}:${m.status}`);
    assert.deepEqual(statuses, [
      '0:Available',
      '1:Available',
      '2:Available',
      '1:Preparing',
      '1:Charging',
      '1:Finishing',
    ]);
    const [start] = csms.messagesOf('CP-16 A', 'StartTransaction');
    const [meter] = csms.messagesOf('CP-16 A', 'MeterValues');
    const [stop] = csms.messagesOf('CP-16 A', 'StopTransaction');
    assert.equal(meter.transactionId, 100);
    const measurands = meter.meterValue[0].sampledValue.map((v: any) => v.measurand);
    assert.deepEqual(measurands, ['Energy.Active.Import.Register', 'Power.Active.Import', 'SoC']);
    assert.ok(Number(meter.meterValue[0].sampledValue[1].value) >= 49_000, 'DC power is at least ~50 kW');
    assert.ok(stop.meterStop > start.meterStart, 'energy register grew while charging');
    assert.equal(stop.transactionId, 100);
    assert.equal(stop.reason, 'Local');
    assert.ok(Number.isInteger(stop.meterStop));
    assert.equal(s.counters.transactionsStarted, 1);
    assert.equal(s.counters.transactionsStopped, 1);
    assert.equal(s.counters.errors, 0);
  });

  it('2.0.1: boots, plugs in, authorizes, charges and stops', async () => {
    const s = station('CS-201-A', 'ocpp2.0.1');
    await s.connect();
    await s.boot();
    await s.plugIn(2);
    assert.equal((await s.authorize('TAG-2')).status, 'Accepted');
    const started = await s.startTransaction(2, 'TAG-2');
    await new Promise((resolve) => setTimeout(resolve, 20));
    await s.sendMeterValues(2);
    await s.stopTransaction(2, 'Local');
    await s.unplug(2);

    assert.deepEqual(csms.actionsOf('CS-201-A'), [
      'BootNotification',
      'StatusNotification',
      'StatusNotification',
      'StatusNotification', // Occupied
      'Authorize',
      'TransactionEvent',
      'TransactionEvent',
      'TransactionEvent',
      'StatusNotification', // Available
    ]);
    const events = csms.messagesOf('CS-201-A', 'TransactionEvent');
    assert.deepEqual(
      events.map((e) => [e.eventType, e.triggerReason, e.seqNo]),
      [
        ['Started', 'Authorized', 0],
        ['Updated', 'MeterValuePeriodic', 1],
        ['Ended', 'StopAuthorized', 2],
      ],
    );
    for (const e of events) assert.equal(e.transactionInfo.transactionId, started.transactionId);
    assert.equal(events[0].idToken.idToken, 'TAG-2');
    assert.equal(events[2].transactionInfo.stoppedReason, 'Local');
    const end = events[2].meterValue[0].sampledValue[0];
    assert.equal(end.context, 'Transaction.End');
    assert.equal(end.measurand, 'Energy.Active.Import.Register');
    assert.ok(end.value > events[0].meterValue[0].sampledValue[0].value);
    const statuses = csms.messagesOf('CS-201-A', 'StatusNotification').map((m) => `${m.evseId}:${m.connectorStatus}`);
    assert.deepEqual(statuses, ['1:Available', '2:Available', '2:Occupied', '2:Available']);
  });

  it('1.6: RemoteStartTransaction starts and RemoteStopTransaction stops a transaction', async () => {
    const s = station('CP-16-REMOTE', 'ocpp1.6');
    await s.connect();
    await s.boot();
    const conn = csms.connections.get('CP-16-REMOTE')!;
    assert.deepEqual(await conn.call('RemoteStartTransaction', { idTag: 'REMOTE-1', connectorId: 2 }), {
      status: 'Accepted',
    });
    await csms.waitFor(() => csms.messagesOf('CP-16-REMOTE', 'StartTransaction').length === 1, 'StartTransaction');
    const [start] = csms.messagesOf('CP-16-REMOTE', 'StartTransaction');
    assert.equal(start.connectorId, 2);
    assert.equal(start.idTag, 'REMOTE-1');
    // The transaction id comes with the CSMS's StartTransaction answer.
    await csms.waitFor(() => Boolean(s.connector(2).transaction?.id), 'transaction id');
    const transactionId = Number(s.connector(2).transaction!.id);
    assert.deepEqual(await conn.call('RemoteStopTransaction', { transactionId }), { status: 'Accepted' });
    await csms.waitFor(() => csms.messagesOf('CP-16-REMOTE', 'StopTransaction').length === 1, 'StopTransaction');
    assert.equal(csms.messagesOf('CP-16-REMOTE', 'StopTransaction')[0].reason, 'Remote');
    assert.deepEqual(await conn.call('RemoteStopTransaction', { transactionId: 999 }), { status: 'Rejected' });
  });

  it('2.0.1: RequestStartTransaction starts a transaction with RemoteStart and remoteStartId', async () => {
    const s = station('CS-201-REMOTE', 'ocpp2.0.1');
    await s.connect();
    await s.boot();
    const conn = csms.connections.get('CS-201-REMOTE')!;
    const answer = await conn.call('RequestStartTransaction', {
      remoteStartId: 42,
      idToken: { idToken: 'REMOTE-2', type: 'Central' },
    });
    assert.equal(answer.status, 'Accepted');
    await csms.waitFor(() => csms.messagesOf('CS-201-REMOTE', 'TransactionEvent').length === 1, 'TransactionEvent');
    const [started] = csms.messagesOf('CS-201-REMOTE', 'TransactionEvent');
    assert.equal(started.eventType, 'Started');
    assert.equal(started.triggerReason, 'RemoteStart');
    assert.equal(started.transactionInfo.remoteStartId, 42);
    assert.equal(started.evse.id, 1);
    const stop = await conn.call('RequestStopTransaction', { transactionId: started.transactionInfo.transactionId });
    assert.equal(stop.status, 'Accepted');
    await csms.waitFor(() => csms.messagesOf('CS-201-REMOTE', 'TransactionEvent').length === 2, 'Ended');
    const ended = csms.messagesOf('CS-201-REMOTE', 'TransactionEvent')[1];
    assert.equal(ended.eventType, 'Ended');
    assert.equal(ended.triggerReason, 'RemoteStop');
    assert.equal(ended.transactionInfo.stoppedReason, 'Remote');
  });

  it('faults carry the ChargeX code: 1.6 StatusNotification, 2.0.1 NotifyEvent', async () => {
    const a = station('CP-16-FAULT', 'ocpp1.6');
    const b = station('CS-201-FAULT', 'ocpp2.0.1');
    await Promise.all([a.connect(), b.connect()]);
    await Promise.all([a.boot(), b.boot()]);
    await a.sendFault(1, 'CX002');
    await b.sendFault(1, 'CX002');

    const faulted = csms.messagesOf('CP-16-FAULT', 'StatusNotification').at(-1);
    assert.equal(faulted.status, 'Faulted');
    assert.equal(faulted.errorCode, 'GroundFailure');
    assert.equal(faulted.vendorId, 'https://chargex.inl.gov');
    assert.equal(faulted.vendorErrorCode, 'CX002');
    assert.ok(faulted.info.length > 0 && faulted.info.length <= 50);

    const [event] = csms.messagesOf('CS-201-FAULT', 'NotifyEvent');
    const data = event.eventData[0];
    assert.equal(data.techCode, 'CX002');
    assert.equal(data.trigger, 'Alerting');
    assert.equal(data.eventNotificationType, 'HardWiredNotification');
    assert.equal(data.actualValue, 'true');
    assert.equal(data.cleared, false);
    assert.equal(data.component.name, 'EVSE');
    assert.equal(data.component.evse.id, 1);
    assert.equal(data.variable.name, 'Problem');
    assert.equal(csms.messagesOf('CS-201-FAULT', 'StatusNotification').at(-1).connectorStatus, 'Faulted');

    await a.sendFault(2, 'CX015');
    const other = csms.messagesOf('CP-16-FAULT', 'StatusNotification').at(-1);
    assert.equal(other.errorCode, 'OtherError');
    assert.equal(other.vendorErrorCode, 'CX015');

    await a.clearFault(1);
    await b.clearFault(1);
    const cleared16 = csms.messagesOf('CP-16-FAULT', 'StatusNotification').at(-1);
    assert.deepEqual([cleared16.connectorId, cleared16.status, cleared16.errorCode], [1, 'Available', 'NoError']);
    const cleared201 = csms.messagesOf('CS-201-FAULT', 'NotifyEvent')[1].eventData[0];
    assert.deepEqual([cleared201.techCode, cleared201.cleared, cleared201.actualValue], ['CX002', true, 'false']);
  });

  it('1.6: ChangeAvailability Inoperative while charging is Scheduled until the transaction ends', async () => {
    const s = station('CP-16-AVAIL', 'ocpp1.6');
    await s.connect();
    await s.boot();
    await s.startTransaction(1, 'TAG-A');
    const conn = csms.connections.get('CP-16-AVAIL')!;
    assert.deepEqual(await conn.call('ChangeAvailability', { connectorId: 0, type: 'Inoperative' }), {
      status: 'Scheduled',
    });
    const statusOf = (connectorId: number) =>
      csms
        .messagesOf('CP-16-AVAIL', 'StatusNotification')
        .filter((m) => m.connectorId === connectorId)
        .at(-1)?.status;
    await csms.waitFor(() => statusOf(2) === 'Unavailable', 'idle connector unavailable at once');
    assert.equal(statusOf(1), 'Charging');
    await s.stopTransaction(1);
    assert.equal(statusOf(1), 'Unavailable');
  });

  it('reconnects and boots again after the CSMS drops the socket', async () => {
    const s = station('CP-RECONNECT', 'ocpp1.6');
    await s.connect();
    await s.boot();
    const reconnected = once(s, 'reconnected');
    csms.connections.get('CP-RECONNECT')!.ws.terminate();
    await reconnected;
    assert.equal(s.connected, true);
    assert.equal(s.counters.reconnects, 1);
    assert.deepEqual(
      csms.actionsOf('CP-RECONNECT').filter((a) => a === 'BootNotification'),
      ['BootNotification', 'BootNotification'],
    );
  });
});

const NOW = new Date().toISOString();
const HASH = { hashAlgorithm: 'SHA256', issuerNameHash: 'a1b2', issuerKeyHash: 'c3d4', serialNumber: '01' };

/** One schema-valid request for every CSMS-initiated action (Reset is exercised on its own). */
const REQUESTS: Record<OcppProtocol, Record<string, unknown>> = {
  'ocpp1.6': {
    CancelReservation: { reservationId: 7 },
    CertificateSigned: { certificateChain: '-----BEGIN CERTIFICATE-----' },
    ChangeAvailability: { connectorId: 2, type: 'Inoperative' },
    ChangeConfiguration: { key: 'HeartbeatInterval', value: '120' },
    ClearCache: {},
    ClearChargingProfile: {},
    DataTransfer: { vendorId: 'com.example' },
    DeleteCertificate: { certificateHashData: HASH },
    ExtendedTriggerMessage: { requestedMessage: 'Heartbeat' },
    GetCompositeSchedule: { connectorId: 1, duration: 3600, chargingRateUnit: 'W' },
    GetConfiguration: { key: ['HeartbeatInterval', 'NoSuchKey'] },
    GetDiagnostics: { location: 'ftp://example.com/diag' },
    GetInstalledCertificateIds: { certificateType: 'CentralSystemRootCertificate' },
    GetLocalListVersion: {},
    GetLog: { logType: 'DiagnosticsLog', requestId: 3, log: { remoteLocation: 'https://example.com/logs' } },
    InstallCertificate: { certificateType: 'CentralSystemRootCertificate', certificate: '-----BEGIN CERTIFICATE-----' },
    RemoteStartTransaction: { idTag: 'SWEEP', connectorId: 1 },
    RemoteStopTransaction: { transactionId: 424242 },
    ReserveNow: { connectorId: 1, expiryDate: NOW, idTag: 'RES', reservationId: 7 },
    SendLocalList: { listVersion: 2, updateType: 'Full', localAuthorizationList: [{ idTag: 'A' }] },
    SetChargingProfile: {
      connectorId: 1,
      csChargingProfiles: {
        chargingProfileId: 1,
        stackLevel: 0,
        chargingProfilePurpose: 'TxDefaultProfile',
        chargingProfileKind: 'Absolute',
        chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] },
      },
    },
    SignedUpdateFirmware: {
      requestId: 5,
      firmware: {
        location: 'https://example.com/fw.bin',
        retrieveDateTime: NOW,
        signingCertificate: 'cert',
        signature: 'sig',
      },
    },
    TriggerMessage: { requestedMessage: 'StatusNotification', connectorId: 1 },
    UnlockConnector: { connectorId: 2 },
    UpdateFirmware: { location: 'https://example.com/fw.bin', retrieveDate: NOW },
  },
  'ocpp2.0.1': {
    CancelReservation: { reservationId: 9 },
    CertificateSigned: { certificateChain: '-----BEGIN CERTIFICATE-----' },
    ChangeAvailability: { operationalStatus: 'Inoperative', evse: { id: 2 } },
    ClearCache: {},
    ClearChargingProfile: {},
    ClearDisplayMessage: { id: 1 },
    ClearVariableMonitoring: { id: [1, 2] },
    CostUpdated: { totalCost: 1.5, transactionId: 'abc' },
    CustomerInformation: { requestId: 4, report: true, clear: false, customerIdentifier: 'driver-1' },
    DataTransfer: { vendorId: 'com.example' },
    DeleteCertificate: { certificateHashData: HASH },
    GetBaseReport: { requestId: 11, reportBase: 'FullInventory' },
    GetChargingProfiles: { requestId: 2, chargingProfile: {} },
    GetCompositeSchedule: { duration: 3600, evseId: 1 },
    GetDisplayMessages: { requestId: 3 },
    GetInstalledCertificateIds: {},
    GetLocalListVersion: {},
    GetLog: { logType: 'SecurityLog', requestId: 6, log: { remoteLocation: 'https://example.com/logs' } },
    GetMonitoringReport: { requestId: 7 },
    GetReport: { requestId: 12, componentVariable: [{ component: { name: 'OCPPCommCtrlr' } }] },
    GetTransactionStatus: { transactionId: 'unknown' },
    GetVariables: {
      getVariableData: [
        { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' } },
        { component: { name: 'NoSuchCtrlr' }, variable: { name: 'X' } },
      ],
    },
    InstallCertificate: { certificateType: 'CSMSRootCertificate', certificate: '-----BEGIN CERTIFICATE-----' },
    PublishFirmware: { location: 'https://example.com/fw.bin', checksum: 'abc', requestId: 8 },
    RequestStartTransaction: { remoteStartId: 77, idToken: { idToken: 'SWEEP', type: 'Central' }, evseId: 1 },
    RequestStopTransaction: { transactionId: 'not-running' },
    ReserveNow: { id: 9, expiryDateTime: NOW, idToken: { idToken: 'RES', type: 'ISO14443' }, evseId: 2 },
    SendLocalList: { versionNumber: 3, updateType: 'Full' },
    SetChargingProfile: {
      evseId: 1,
      chargingProfile: {
        id: 1,
        stackLevel: 0,
        chargingProfilePurpose: 'TxDefaultProfile',
        chargingProfileKind: 'Absolute',
        chargingSchedule: [{ id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] }],
      },
    },
    SetDisplayMessage: { message: { id: 1, priority: 'NormalCycle', message: { format: 'UTF8', content: 'Hello' } } },
    SetMonitoringBase: { monitoringBase: 'All' },
    SetMonitoringLevel: { severity: 5 },
    SetNetworkProfile: {
      configurationSlot: 1,
      connectionData: {
        ocppVersion: 'OCPP20',
        ocppTransport: 'JSON',
        ocppCsmsUrl: 'wss://example.com/ocpp',
        messageTimeout: 30,
        securityProfile: 1,
        ocppInterface: 'Wired0',
      },
    },
    SetVariableMonitoring: {
      setMonitoringData: [
        {
          value: 10,
          type: 'Delta',
          severity: 5,
          component: { name: 'EVSE', evse: { id: 1 } },
          variable: { name: 'Power' },
        },
      ],
    },
    SetVariables: {
      setVariableData: [
        { attributeValue: '120', component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' } },
      ],
    },
    TriggerMessage: { requestedMessage: 'StatusNotification', evse: { id: 1, connectorId: 1 } },
    UnlockConnector: { evseId: 2, connectorId: 1 },
    UnpublishFirmware: { checksum: 'abc' },
    UpdateFirmware: { requestId: 10, firmware: { location: 'https://example.com/fw.bin', retrieveDateTime: NOW } },
  },
};

describe('answers to CSMS commands', () => {
  const csms = new TestCsms();
  const stations: SimulatedStation[] = [];
  before(() => csms.start());
  after(async () => {
    await Promise.all(stations.map((s) => s.close()));
    await csms.stop();
  });

  for (const protocol of ['ocpp1.6', 'ocpp2.0.1'] as const) {
    it(`${protocol}: every CSMS-initiated action gets a schema-valid answer, Reset reboots`, async () => {
      const id = `SWEEP-${protocol}`;
      const s = new SimulatedStation({ url: csms.url, id, protocol, ...fast });
      stations.push(s);
      await s.connect();
      await s.boot();
      const conn = csms.connections.get(id)!;
      const requests = REQUESTS[protocol];
      assert.deepEqual(
        [...csmsInitiatedActions(protocol)].filter((a) => a !== 'Reset' && !(a in requests)),
        [],
        'a request for every action',
      );
      const answers: Record<string, any> = {};
      for (const [action, payload] of Object.entries(requests)) {
        // The CSMS-side RpcConnection validates each CALLRESULT; a CALLERROR rejects.
        answers[action] = await conn.call(action, payload);
      }
      assert.equal(s.heartbeatIntervalS, 120, 'configuration change applied');
      if (protocol === 'ocpp1.6') {
        assert.deepEqual(answers.GetConfiguration.unknownKey, ['NoSuchKey']);
        assert.equal(answers.GetConfiguration.configurationKey[0].value, '120');
        assert.equal(answers.RemoteStartTransaction.status, 'Accepted');
        assert.equal(answers.UnlockConnector.status, 'Unlocked');
      } else {
        assert.deepEqual(
          answers.GetVariables.getVariableResult.map((r: any) => r.attributeStatus),
          ['Accepted', 'UnknownComponent'],
        );
        assert.equal(answers.SetVariables.setVariableResult[0].attributeStatus, 'Accepted');
        await csms.waitFor(() => csms.messagesOf(id, 'NotifyReport').length === 2, 'NotifyReport');
        const [base, report] = csms.messagesOf(id, 'NotifyReport');
        assert.equal(base.requestId, 11);
        const names = base.reportData.map((d: any) => `${d.component.name}.${d.variable.name}`);
        assert.ok(names.includes('OCPPCommCtrlr.HeartbeatInterval'));
        assert.equal(report.requestId, 12);
        assert.ok(report.reportData.every((d: any) => d.component.name === 'OCPPCommCtrlr'));
        await csms.waitFor(() => csms.messagesOf(id, 'TransactionEvent').length === 1, 'remote start');
        assert.equal(csms.messagesOf(id, 'TransactionEvent')[0].transactionInfo.remoteStartId, 77);
      }

      const boots = csms.messagesOf(id, 'BootNotification').length;
      const rebooted = once(s, 'rebooted');
      const reset = await conn.call('Reset', { type: protocol === 'ocpp1.6' ? 'Soft' : 'Immediate' });
      assert.equal(reset.status, 'Accepted');
      await rebooted;
      assert.equal(csms.messagesOf(id, 'BootNotification').length, boots + 1);
      if (protocol === 'ocpp2.0.1') assert.equal(csms.messagesOf(id, 'BootNotification').at(-1).reason, 'RemoteReset');
      // The running remote-started transaction ended because of the reset.
      const ends =
        protocol === 'ocpp1.6'
          ? csms.messagesOf(id, 'StopTransaction')
          : csms.messagesOf(id, 'TransactionEvent').filter((e) => e.eventType === 'Ended');
      assert.ok(ends.length >= 1);
    });
  }

  it('retries BootNotification after Pending until Accepted', async () => {
    csms.bootAnswers.set('PENDING-1', ['Pending', 'Rejected']);
    const s = new SimulatedStation({ url: csms.url, id: 'PENDING-1', protocol: 'ocpp2.0.1', ...fast, secondMs: 0.01 });
    stations.push(s);
    await s.connect();
    assert.equal(await s.boot(), 'Accepted');
    assert.equal(csms.messagesOf('PENDING-1', 'BootNotification').length, 3);
    // Nothing but BootNotification before acceptance.
    assert.deepEqual(csms.actionsOf('PENDING-1').slice(0, 3), [
      'BootNotification',
      'BootNotification',
      'BootNotification',
    ]);
  });
});

describe('autonomous stations and fleets', () => {
  const csms = new TestCsms();
  before(() => csms.start());
  after(() => csms.stop());

  const quickLife = {
    idleS: [1, 3] as [number, number],
    chargeS: [20, 40] as [number, number],
    faultS: [5, 10] as [number, number],
  };

  it('an autonomous station charges, sends periodic meter values and stops', async () => {
    const s = new SimulatedStation({
      url: csms.url,
      id: 'AUTO-1',
      protocol: 'ocpp1.6',
      secondMs: 1,
      meterIntervalS: 5,
    });
    const driver = new AutonomousDriver(s, { ...quickLife, faultProbability: 0 });
    try {
      await s.start();
      driver.start();
      await csms.waitFor(() => s.counters.transactionsStopped >= 2, 'two autonomous sessions', 5000);
      assert.ok(csms.messagesOf('AUTO-1', 'MeterValues').length >= 1);
      const stops = csms.messagesOf('AUTO-1', 'StopTransaction');
      assert.ok(stops.every((m) => m.reason === 'Local' || m.reason === 'EVDisconnected'));
    } finally {
      const stopped = driver.stop();
      await s.close();
      await stopped;
    }
  });

  it('a mixed fleet starts, raises faults and reports live totals', async () => {
    const fleet = new Fleet({
      url: csms.url,
      stations: 4,
      protocol: 'mixed',
      prefix: 'FLT',
      seed: 1,
      secondMs: 1,
      meterIntervalS: 5,
      staggerMs: 5,
      callTimeoutMs: 3000,
      autonomous: { ...quickLife, faultProbability: 0.5 },
    });
    const lines: string[] = [];
    const status = new LiveStatus(fleet, { isTTY: false, write: (t: string) => lines.push(t) }, 10, 10);
    try {
      await fleet.start();
      status.start();
      assert.deepEqual(
        fleet.stations.map((s) => [s.id, s.protocol]),
        [
          ['FLT-0001', 'ocpp1.6'],
          ['FLT-0002', 'ocpp2.0.1'],
          ['FLT-0003', 'ocpp1.6'],
          ['FLT-0004', 'ocpp2.0.1'],
        ],
      );
      await csms.waitFor(
        () => {
          const t = fleet.totals();
          return t.booted === 4 && t.transactionsStopped >= 4 && t.faults >= 1;
        },
        'fleet activity',
        5000,
      );
      assert.equal(fleet.totals().errors, 0);
      const carriesChargeXCode = (r: Received) =>
        /^CX0\d\d$/.test(
          r.action === 'NotifyEvent' ? r.payload.eventData[0].techCode : (r.payload.vendorErrorCode ?? ''),
        );
      assert.ok(csms.received.some((r) => r.station.startsWith('FLT') && carriesChargeXCode(r)));
    } finally {
      await fleet.stop();
      status.stop();
    }
    assert.ok(lines.length >= 1 && lines.every((l) => l.endsWith('\n') && !l.includes('\r')));
    assert.match(formatTotals(fleet.totals()), /^stations 0\/4 connected/);
  });
});
