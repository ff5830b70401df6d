// Every remote command through the API on simulated 1.6 and 2.0.1 chargers, id tokens (create, block,
// expire, group, CSV import) and local authorization lists, on both backends.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { apiClient } from './support/api-client.ts';
import type { SimulatedStation } from '../src/simulator/station.ts';
import { bootedStation } from './support/stations.ts';

for (const backend of BACKENDS) {
  describe(`remote commands and id tokens on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;
    const sims: SimulatedStation[] = [];

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true });
      admin = apiClient(server.url, (await server.app.access.createApiKey({ name: 'cmd admin', role: 'admin' })).key);
      for (const [id, protocol] of [
        ['CMD-16', 'ocpp1.6'],
        ['CMD-201', 'ocpp2.0.1'],
      ] as const) {
        sims.push(await bootedStation(server.wsBase, id, protocol));
      }
    });
    after(async () => {
      for (const s of sims) await s.close();
      await server.stop();
    });

    it('id tokens: create, block, expire, group, and refuse bad rows', async () => {
      const created = await admin.post('/api/v1/id-tokens', {
        idToken: 'CARD-1',
        type: 'ISO14443',
        groupId: 'FLEET-A',
      });
      assert.equal(created.status, 201);
      assert.equal(created.body.status, 'accepted');
      assert.equal(created.body.groupId, 'FLEET-A');
      assert.equal((await admin.post('/api/v1/id-tokens', { idToken: 'CARD-1' })).status, 409);
      const authorize = () => server.app.sessions.authorize('CMD-16', { idToken: 'CARD-1', type: 'ISO14443' });
      assert.equal((await authorize()).status, 'accepted');
      assert.equal((await admin.patch('/api/v1/id-tokens/CARD-1', { status: 'blocked' })).body.status, 'blocked');
      assert.equal((await authorize()).status, 'blocked');
      await admin.patch('/api/v1/id-tokens/CARD-1', { status: 'accepted', expiresAt: '2020-01-01T00:00:00Z' });
      assert.equal((await authorize()).status, 'expired');
      const unexpired = await admin.patch('/api/v1/id-tokens/CARD-1', { expiresAt: null });
      assert.equal(unexpired.body.expiresAt, null);
      assert.equal(unexpired.body.groupId, 'FLEET-A', 'unchanged fields stay');
      assert.equal((await admin.get('/api/v1/id-tokens?groupId=FLEET-A')).body.total, 1);
      assert.equal((await admin.patch('/api/v1/id-tokens/NOPE', { status: 'blocked' })).status, 404);
    });

    it('id tokens: bulk import from CSV, all rows or none', async () => {
      const csv = [
        'idToken,type,status,expiresAt,groupId',
        'BULK-1,ISO14443,accepted,,FLEET-B',
        'BULK-2,ISO14443,blocked,,FLEET-B',
        '"BULK-3",eMAID,accepted,2030-01-01T00:00:00Z,',
      ].join('\r\n');
      const imported = await admin.call('POST', '/api/v1/id-tokens/import', csv, { 'content-type': 'text/csv' });
      assert.equal(imported.status, 200, JSON.stringify(imported.body));
      assert.equal(imported.body.imported, 3);
      const b2 = await admin.get('/api/v1/id-tokens/BULK-2');
      assert.equal(b2.body.status, 'blocked');
      assert.equal(b2.body.groupId, 'FLEET-B');
      assert.equal((await admin.get('/api/v1/id-tokens/BULK-3')).body.type, 'eMAID');

      const bad = ['idToken,status', 'BULK-9,accepted', 'BULK-10,sometimes'].join('\n');
      const refused = await admin.call('POST', '/api/v1/id-tokens/import', bad, { 'content-type': 'text/csv' });
      assert.equal(refused.status, 400);
      assert.match(refused.body.message, /row 3: status/);
      assert.equal((await admin.get('/api/v1/id-tokens/BULK-9')).status, 404, 'nothing imported');
      const unknownColumn = await admin.call('POST', '/api/v1/id-tokens/import', 'idToken,colour\nX1,red', {
        'content-type': 'text/csv',
      });
      assert.equal(unknownColumn.status, 400);
      assert.match(unknownColumn.body.message, /colour/);
    });

    for (const id of ['CMD-16', 'CMD-201']) {
      it(`${id}: local authorization lists, full then differential, with the version the charger holds`, async () => {
        const full = await admin.post(`/api/v1/stations/${id}/commands/send-local-list`, { updateType: 'full' });
        assert.equal(full.status, 200, JSON.stringify(full.body));
        assert.equal(full.body.status, 'accepted');
        assert.equal(full.body.data.version, 1);
        const stored = await admin.get(`/api/v1/stations/${id}/local-list`);
        assert.equal(stored.body.version, 1);
        assert.ok(stored.body.entries >= 4);
        const diff = await admin.post(`/api/v1/stations/${id}/commands/send-local-list`, {
          updateType: 'differential',
          idTokens: ['BULK-1'],
          remove: ['BULK-2'],
        });
        assert.equal(diff.body.status, 'accepted');
        assert.equal(diff.body.data.version, 2);
        const version = await admin.post(`/api/v1/stations/${id}/commands/get-local-list-version`, {});
        assert.equal(version.body.data.version, 2, 'the charger holds what we sent');
        const unknown = await admin.post(`/api/v1/stations/${id}/commands/send-local-list`, {
          updateType: 'differential',
          idTokens: ['NOBODY-X'],
        });
        assert.equal(unknown.status, 422);
        assert.match(unknown.body.message, /body\.idTokens/);
      });

      it(`${id}: every other command answers with the charger's response`, async () => {
        const send = (command: string, body: object) => admin.post(`/api/v1/stations/${id}/commands/${command}`, body);
        const expectStatus = async (command: string, body: object, status: string) => {
          const r = await send(command, body);
          assert.equal(r.status, 200, `${command}: ${JSON.stringify(r.body)}`);
          assert.equal(r.body.status, status, command);
          return r.body;
        };
        await expectStatus('unlock', { evseId: 1 }, 'unlocked');
        await expectStatus('change-availability', { operative: false, evseId: 2 }, 'accepted');
        await expectStatus('change-availability', { operative: true, evseId: 2 }, 'accepted');
        await expectStatus('trigger-message', { message: 'Heartbeat' }, 'accepted');
        await expectStatus('clear-cache', {}, 'accepted');
        await expectStatus('data-transfer', { vendorId: 'com.example' }, 'unknown_vendor_id');
        const config = await expectStatus(
          'get-configuration',
          { keys: [{ variable: 'HeartbeatInterval' }] },
          'accepted',
        );
        assert.ok(Array.isArray(config.data.settings));
        await expectStatus(
          'update-firmware',
          { location: 'https://fw.example.com/f.bin', retrieveAt: new Date().toISOString() },
          'accepted',
        );
        await expectStatus('get-diagnostics', { location: 'https://logs.example.com/upload' }, 'accepted');
        const reserved = await expectStatus(
          'reserve-now',
          { idToken: 'BULK-1', evseId: 1, expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
          'accepted',
        );
        assert.equal(typeof reserved.data.reservationId, 'number');
        await expectStatus('cancel-reservation', { reservationId: reserved.data.reservationId }, 'accepted');
        const report = await send('get-base-report', {});
        if (id === 'CMD-201') assert.equal(report.body.status, 'accepted');
        else assert.equal(report.status, 422);
        // Last: a reset makes the simulated charger reboot.
        await expectStatus('reset', { type: 'soft' }, 'accepted');
        const log = await admin.get(`/api/v1/commands?stationId=${id}&limit=50`);
        assert.ok(log.body.items.some((c: any) => c.command === 'reserveNow' && c.status === 'accepted'));
      });
    }
  });
}
