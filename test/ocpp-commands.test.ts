// The CSMS side of OCPP-J towards one charger: at most one outstanding CALL (the rest wait in a queue),
// a timeout when the charger never answers, and WebSocket pings that find a dead connection.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { CommandTimeoutError } from '../src/stations/commands.ts';
import { SimulatedStation } from '../src/simulator/station.ts';

/** Waits until `check` holds (the machine may be busy: no fixed sleeps for what must happen). */
async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('CSMS-to-charger calls', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer('pglite', { acceptUnknownStations: true, callTimeoutMs: 1500, pingIntervalS: 1 });
  });
  after(() => server.stop());

  it('sends one CALL at a time, queues the next, and times out a CALL that is never answered', async () => {
    const c = await openRaw(`${server.wsBase}/QUEUE-1`, 'ocpp1.6');
    const received: { at: number; frame: unknown[] }[] = [];
    c.ws.on('message', (data) => received.push({ at: Date.now(), frame: JSON.parse(data.toString()) }));

    const first = server.app.commands.send('QUEUE-1', { name: 'clearCache' });
    const second = server.app.commands.send('QUEUE-1', { name: 'reset', type: 'soft' });
    await until('the first CALL', () => received.length >= 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(received.length, 1, 'only the first CALL is on the wire');
    assert.equal(received[0]!.frame[2], 'ClearCache');

    // Answer the first: the second follows.
    c.ws.send(JSON.stringify([3, received[0]!.frame[1], { status: 'Accepted' }]));
    assert.equal((await first).result.status, 'accepted');
    await until('the second CALL', () => received.length >= 2);
    assert.equal(received[1]!.frame[2], 'Reset');
    // Never answer the second: it times out, and the command log says so.
    await assert.rejects(second, CommandTimeoutError);
    const log = await server.app.database.db
      .selectFrom('command_log')
      .select(['command', 'status'])
      .where('station_id', '=', 'QUEUE-1')
      .orderBy('id')
      .execute();
    assert.deepEqual(
      log.map((r) => [r.command, r.status]),
      [
        ['clearCache', 'accepted'],
        ['reset', 'timeout'],
      ],
    );
    // An answer that breaks the schema is not taken as an answer.
    const third = server.app.commands.send('QUEUE-1', { name: 'clearCache' });
    await until('the third CALL', () => received.length >= 3);
    c.ws.send(JSON.stringify([3, received[2]!.frame[1], { status: 'Maybe' }]));
    await assert.rejects(third);
    await c.close();
  });

  it('terminates a connection that stops answering pings and marks the station offline', async () => {
    const c = await openRaw(`${server.wsBase}/SILENT-1`, 'ocpp1.6');
    await c.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'X' });
    assert.ok(server.app.ocpp.isConnected('SILENT-1'));
    // Stop reading from the socket: no pong goes back, as with a charger that lost its network.
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const deadline = Date.now() + 5000;
    while (server.app.ocpp.isConnected('SILENT-1') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(server.app.ocpp.isConnected('SILENT-1'), false, 'the dead connection was dropped');
    await new Promise((r) => setTimeout(r, 100));
    const row = await server.app.database.db
      .selectFrom('stations')
      .select(['online', 'last_disconnected_at'])
      .where('id', '=', 'SILENT-1')
      .executeTakeFirstOrThrow();
    assert.equal(row.online, false);
    assert.ok(row.last_disconnected_at);
    c.ws.terminate();
  });

  it('keeps the settings a charger reports or accepts: 1.6 configuration keys, 2.0.1 device-model variables', async () => {
    const db = server.app.database.db;
    const s16 = new SimulatedStation({ url: server.wsBase, id: 'CFG-16', protocol: 'ocpp1.6', autoReconnect: false });
    const s201 = new SimulatedStation({
      url: server.wsBase,
      id: 'CFG-201',
      protocol: 'ocpp2.0.1',
      autoReconnect: false,
    });
    for (const s of [s16, s201]) {
      s.on('problem', () => undefined);
      await s.connect();
      await s.boot();
    }
    try {
      const got = await server.app.commands.send('CFG-16', { name: 'getConfiguration' });
      assert.equal(got.result.status, 'accepted');
      const set = await server.app.commands.send('CFG-16', {
        name: 'setConfiguration',
        settings: [{ variable: 'HeartbeatInterval', value: '120' }],
      });
      assert.equal(set.result.status, 'accepted');
      const keys = await db.selectFrom('configuration_keys').selectAll().where('station_id', '=', 'CFG-16').execute();
      assert.ok(keys.length > 3, 'the reported keys are stored');
      assert.equal(keys.find((k) => k.key === 'HeartbeatInterval')?.value, '120', 'the accepted change is stored');

      const vars = await server.app.commands.send('CFG-201', {
        name: 'getConfiguration',
        keys: [{ component: 'OCPPCommCtrlr', variable: 'HeartbeatInterval' }],
      });
      assert.equal(vars.result.status, 'accepted');
      const row = await db
        .selectFrom('device_model_variables')
        .selectAll()
        .where('station_id', '=', 'CFG-201')
        .where('component', '=', 'OCPPCommCtrlr')
        .where('variable', '=', 'HeartbeatInterval')
        .executeTakeFirstOrThrow();
      assert.ok(row.value && Number(row.value) > 0);
    } finally {
      await s16.close();
      await s201.close();
    }
  });

  it('exposes Prometheus metrics and health', async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    for (const name of [
      'opencpo_connected_stations',
      'opencpo_ocpp_messages_total',
      'opencpo_ocpp_handling_seconds',
      'opencpo_db_batch_rows',
    ]) {
      assert.match(metrics, new RegExp(`^# TYPE ${name} `, 'm'));
    }
    assert.match(metrics, /opencpo_ocpp_messages_total\{direction="in",action="BootNotification",outcome="ok"\} \d+/);
    const health = (await (await fetch(`${server.url}/health`)).json()) as { status: string };
    assert.equal(health.status, 'ok');
  });
});
