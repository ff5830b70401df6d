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
          return this.answer(protocol, action, payload);
        },
      });
      this.connections.set(station, conn);
    });
  }

  async start(): Promise<void> {
    await once(this.wss, 'listening');
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

  private answer(protocol: OcppProtocol, action: string, payload: any): unknown {
    const now = new Date().toISOString();
    const v16 = protocol === 'ocpp1.6';
    switch (action) {
      case 'BootNotification':
        return { status: 'Accepted', currentTime: now, interval: 300 };
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

const fast = { secondMs: 5, reconnectBaseMs: 20, reconnectMaxMs: 100, meterIntervalS: 0 };

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
    await csms.waitFor(() => s.connector(2).transaction !== undefined, 'transaction state');
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
