// A charger's Basic-auth password set through the API (1.6 AuthorizationKey, 2.0.1 SecurityCtrlr.BasicAuthPassword),
// on both backends: never stored or shown in clear (command log, audit log, configuration keys, device model, to
// any role), and once the charger has taken it, the station's password is the new one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type WebSocket from 'ws';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { apiClient } from './support/api-client.ts';
import { bootedStation } from './support/stations.ts';
import { openRaw } from './support/raw-charger.ts';
import type { SimulatedStation } from '../src/simulator/station.ts';

const basic = (user: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

for (const backend of BACKENDS) {
  describe(`station passwords through the API on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;
    const readers: ReturnType<typeof apiClient>[] = [];
    const stations: SimulatedStation[] = [];

    before(async () => {
      server = await startTestServer(backend);
      admin = apiClient(server.url, (await server.app.access.createApiKey({ name: 'secrets', role: 'admin' })).key);
      for (const role of ['read_only', 'technician', 'operator'] as const) {
        readers.push(apiClient(server.url, (await server.app.access.createApiKey({ name: role, role })).key));
      }
    });
    after(async () => {
      for (const s of stations) await s.close();
      await server.stop();
    });

    /** Fails when the secret appears anywhere the API or the database keeps what was sent and answered. */
    async function assertNowhere(stationId: string, secret: string): Promise<void> {
      const db = server.app.database.db;
      const stored = {
        commands: await db.selectFrom('command_log').selectAll().where('station_id', '=', stationId).execute(),
        audit: await db.selectFrom('audit_log').selectAll().execute(),
        keys: await db.selectFrom('configuration_keys').selectAll().where('station_id', '=', stationId).execute(),
        variables: await db
          .selectFrom('device_model_variables')
          .selectAll()
          .where('station_id', '=', stationId)
          .execute(),
      };
      assert.ok(stored.commands.length > 0 && stored.audit.length > 0);
      assert.ok(!JSON.stringify(stored).includes(secret), 'not in the database');
      for (const client of [admin, ...readers]) {
        for (const path of [
          `/api/v1/commands?stationId=${stationId}`,
          `/api/v1/stations/${stationId}/configuration`,
          `/api/v1/stations/${stationId}/device-model`,
          '/api/v1/audit-log?limit=1000',
        ]) {
          const answer = await client.get(path);
          assert.ok(!JSON.stringify(answer.body).includes(secret), `not in ${path}`);
        }
      }
    }

    const cases = [
      {
        protocol: 'ocpp1.6' as const,
        command: 'set-configuration',
        settings: (secret: string) => [{ variable: 'AuthorizationKey', value: secret }],
        status: 'accepted',
      },
      {
        protocol: 'ocpp2.0.1' as const,
        command: 'set-variables',
        // The read-only variable is refused (so the answer is 'rejected'), the password is taken.
        settings: (secret: string) => [
          { component: 'SecurityCtrlr', variable: 'BasicAuthPassword', value: secret },
          { component: 'SecurityCtrlr', variable: 'SecurityProfile', value: '2' },
        ],
        status: 'rejected',
      },
    ];
    for (const c of cases) {
      it(`${c.protocol}: a password the charger takes is redacted everywhere and becomes the station's`, async () => {
        const id = `SECRET-${c.protocol === 'ocpp1.6' ? '16' : '201'}`;
        const first = `first-password-${id}`;
        const next = `next-password-${id}-0123`;
        assert.equal((await admin.post('/api/v1/stations', { id, password: first })).status, 201);
        const station = await bootedStation(server.wsBase, id, c.protocol, { password: first });
        stations.push(station);
        const sent = await admin.post(`/api/v1/stations/${id}/commands/${c.command}`, { settings: c.settings(next) });
        assert.equal(sent.status, 200, JSON.stringify(sent.body));
        assert.equal(sent.body.status, c.status);
        await assertNowhere(id, next);
        assert.deepEqual(await server.app.stations.admit(id, first), { admitted: false, reason: 'bad password' });
        assert.equal((await server.app.stations.admit(id, next)).admitted, true);
        // The charger comes back with the password it took.
        await station.close();
        stations.push(await bootedStation(server.wsBase, id, c.protocol, { password: next }));
      });
    }

    it('ocpp1.6: a password the charger rejects changes nothing and is not kept either', async () => {
      const id = 'SECRET-RAW';
      const first = 'first-password-raw-0123';
      const refused = 'refused-password-raw-0123';
      assert.equal((await admin.post('/api/v1/stations', { id, password: first })).status, 201);
      const charger = await openRaw(`${server.wsBase}/${id}`, 'ocpp1.6', basic(id, first));
      try {
        const ws: WebSocket = charger.ws;
        ws.on('message', (data) => {
          const [type, messageId, action] = JSON.parse(data.toString()) as [number, string, string];
          if (type === 2 && action === 'ChangeConfiguration')
            ws.send(JSON.stringify([3, messageId, { status: 'Rejected' }]));
        });
        const sent = await admin.post(`/api/v1/stations/${id}/commands/set-configuration`, {
          settings: [{ variable: 'AuthorizationKey', value: refused }],
        });
        assert.equal(sent.status, 200);
        assert.equal(sent.body.status, 'rejected');
        await assertNowhere(id, refused);
        assert.equal((await server.app.stations.admit(id, first)).admitted, true);
      } finally {
        await charger.close();
      }
    });
  });
}
