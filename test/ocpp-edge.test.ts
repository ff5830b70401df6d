// The OCPP edge on both storage backends: admission (unknown chargers, Basic auth, subprotocols),
// answers that validate against the official schemas, and malformed input answered with the CALLERROR
// each version prescribes while the socket stays open and other chargers keep being served.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { validatePayload } from '../src/ocpp/rpc/schemas.ts';
import type { OcppProtocol } from '../src/ocpp/rpc/protocols.ts';

const basic = (user: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

const BOOT: Record<OcppProtocol, unknown> = {
  'ocpp1.6': { chargePointVendor: 'Acme', chargePointModel: 'AC22' },
  'ocpp2.0.1': { reason: 'PowerUp', chargingStation: { vendorName: 'Acme', model: 'AC22' } },
};

/** The CALLERROR codes each version spells for the same situations. */
const CODES: Record<OcppProtocol, Record<string, string>> = {
  'ocpp1.6': {
    notJson: 'FormationViolation',
    badFrame: 'FormationViolation',
    unknownAction: 'NotImplemented',
    wrongType: 'TypeConstraintViolation',
    missing: 'OccurenceConstraintViolation',
    tooBig: 'FormationViolation',
    unknownType: 'GenericError',
    wrongDirection: 'NotSupported',
  },
  'ocpp2.0.1': {
    notJson: 'RpcFrameworkError',
    badFrame: 'RpcFrameworkError',
    unknownAction: 'NotImplemented',
    wrongType: 'TypeConstraintViolation',
    missing: 'OccurrenceConstraintViolation',
    tooBig: 'FormatViolation',
    unknownType: 'MessageTypeNotSupported',
    wrongDirection: 'NotSupported',
  },
};

for (const backend of BACKENDS) {
  describe(`OCPP edge on ${backend}`, () => {
    let server: TestServer;

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: false, maxFrameBytes: 4096 });
      await server.app.stations.register({ id: 'CP-16', allowUnauthenticated: true });
      await server.app.stations.register({ id: 'CP-201', allowUnauthenticated: true });
      await server.app.stations.register({ id: 'CP-PW', password: 'correct-horse-battery' });
      await server.app.stations.register({ id: 'CP-BLOCKED', admission: 'blocked' });
      await server.app.stations.register({ id: 'CP-OTHER', allowUnauthenticated: true });
    });
    after(() => server.stop());

    it('refuses an unknown charger, a blocked one, a wrong password, a missing one and no common subprotocol', async () => {
      await assert.rejects(openRaw(`${server.wsBase}/NOBODY`, 'ocpp1.6'), /HTTP 404/);
      await assert.rejects(openRaw(`${server.wsBase}/CP-BLOCKED`, 'ocpp1.6'), /HTTP 403/);
      await assert.rejects(
        openRaw(`${server.wsBase}/CP-PW`, 'ocpp1.6', basic('CP-PW', 'wrong-password!!')),
        /HTTP 401/,
      );
      await assert.rejects(openRaw(`${server.wsBase}/CP-PW`, 'ocpp1.6'), /HTTP 401/);
      await assert.rejects(openRaw(`${server.wsBase}/CP-16`, 'ocpp1.5'), /HTTP 400/);
      const refused = await server.app.metrics.refusedConnections.get();
      const reasons = refused.values.map((v) => v.labels.reason);
      for (const r of ['unknown station', 'station blocked', 'bad password', 'password required']) {
        assert.ok(reasons.includes(r), `refusal "${r}" is counted`);
      }
    });

    it('accepts the right password, tolerates a trailing slash and picks the newest common version', async () => {
      const c = await openRaw(
        `${server.wsBase}/CP-PW/`,
        ['ocpp1.6', 'ocpp2.0.1'],
        basic('CP-PW', 'correct-horse-battery'),
      );
      assert.equal(c.ws.protocol, 'ocpp2.0.1');
      const [type, , answer] = await c.call('BootNotification', BOOT['ocpp2.0.1']);
      assert.equal(type, 3);
      assert.equal((answer as { status: string }).status, 'Accepted');
      await c.close();
    });

    for (const protocol of ['ocpp1.6', 'ocpp2.0.1'] as const) {
      it(`${protocol}: answers validate and malformed input gets the prescribed CALLERROR`, async () => {
        const id = protocol === 'ocpp1.6' ? 'CP-16' : 'CP-201';
        const c = await openRaw(`${server.wsBase}/${id}`, protocol);
        const other = await openRaw(`${server.wsBase}/CP-OTHER`, 'ocpp1.6');
        const codes = CODES[protocol];

        const boot = await c.call('BootNotification', BOOT[protocol]);
        assert.equal(boot[0], 3);
        validatePayload(protocol, 'BootNotification', 'conf', boot[2]);
        const hb = await c.call('Heartbeat', {});
        validatePayload(protocol, 'Heartbeat', 'conf', hb[2]);

        const cases: [string, string, string][] = [
          ['notJson', '{this is not json', '-1'],
          ['badFrame', '[2, "m1", "Heartbeat"]', 'm1'],
          ['unknownAction', '[2, "m2", "FlyToTheMoon", {}]', 'm2'],
          [
            'wrongType',
            protocol === 'ocpp1.6'
              ? '[2, "m3", "StatusNotification", {"connectorId": "one", "errorCode": "NoError", "status": "Available"}]'
              : '[2, "m3", "StatusNotification", {"timestamp": "2026-01-01T00:00:00Z", "connectorStatus": "Available", "evseId": "one", "connectorId": 1}]',
            'm3',
          ],
          ['missing', '[2, "m4", "Authorize", {}]', 'm4'],
          ['tooBig', `[2, "m5", "DataTransfer", {"vendorId": "x", "data": "${'x'.repeat(5000)}"}]`, 'm5'],
          ['unknownType', '[7, "m6", "Heartbeat", {}]', 'm6'],
          ['wrongDirection', '[2, "m7", "Reset", {"type": "Soft"}]', 'm7'],
        ];
        for (const [name, text, expectedId] of cases) {
          const frame = await c.exchange(text);
          assert.equal(frame[0], 4, `${name}: a CALLERROR`);
          assert.equal(frame[1], expectedId, `${name}: answered with the message id`);
          assert.equal(frame[2], codes[name], `${name}: error code`);
          assert.equal(typeof frame[3], 'string');
          assert.equal(typeof frame[4], 'object');
          assert.equal(c.ws.readyState, c.ws.OPEN, `${name}: socket stays open`);
        }
        // Still serving this charger and the other one.
        assert.equal((await c.call('Heartbeat', {}))[0], 3);
        assert.equal((await other.call('Heartbeat', {}))[0], 3);
        await c.close();
        await other.close();
      });
    }

    it('a charger that reconnects replaces its old socket', async () => {
      const first = await openRaw(`${server.wsBase}/CP-OTHER`, 'ocpp1.6');
      const closed = new Promise<number>((resolve) => first.ws.once('close', (code) => resolve(code)));
      const second = await openRaw(`${server.wsBase}/CP-OTHER`, 'ocpp1.6');
      assert.equal(await closed, 4000);
      assert.equal((await second.call('Heartbeat', {}))[0], 3);
      assert.ok(server.app.ocpp.isConnected('CP-OTHER'));
      await second.close();
    });
  });
}

describe('unknown chargers with --accept-unknown-stations', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer('pglite', { acceptUnknownStations: true });
  });
  after(() => server.stop());

  it('registers a charger on first contact', async () => {
    const c = await openRaw(`${server.wsBase}/NEW-01`, 'ocpp1.6');
    const [type] = await c.call('BootNotification', BOOT['ocpp1.6']);
    assert.equal(type, 3);
    await c.close();
    const row = await server.app.database.db
      .selectFrom('stations')
      .selectAll()
      .where('id', '=', 'NEW-01')
      .executeTakeFirstOrThrow();
    assert.equal(row.vendor, 'Acme');
    assert.equal(row.registration_status, 'accepted');
  });
});
