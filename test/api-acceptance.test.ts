// Issue 3's acceptance on both backends, through real HTTP against a running server with simulated
// chargers: remote start on 1.6 and 2.0.1 with the transaction then in the API and on the SSE stream;
// site-host isolation with its audit entry; a command to an offline charger (409) and to one that never
// answers (504).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { apiClient } from './support/api-client.ts';
import { openSse } from './support/sse.ts';
import { openRaw } from './support/raw-charger.ts';
import type { SimulatedStation } from '../src/simulator/station.ts';
import { bootedStation } from './support/stations.ts';
import type { OcppProtocol } from '../src/ocpp/rpc/protocols.ts';

const CALL_TIMEOUT_MS = 1500;

const until = async <T>(what: string, check: () => Promise<T | undefined | false>, ms = 8000): Promise<T> => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
};

for (const backend of BACKENDS) {
  describe(`operator API acceptance on ${backend}`, () => {
    let server: TestServer;
    let adminKey: string;
    let admin: ReturnType<typeof apiClient>;
    const stations: SimulatedStation[] = [];

    const simulated = async (id: string, protocol: OcppProtocol) => {
      const s = await bootedStation(server.wsBase, id, protocol);
      stations.push(s);
      return s;
    };

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true, callTimeoutMs: CALL_TIMEOUT_MS });
      adminKey = (await server.app.access.createApiKey({ name: 'acceptance admin', role: 'admin' })).key;
      admin = apiClient(server.url, adminKey);
      await server.app.sessions.upsertIdToken({ idToken: 'GOOD' });
    });
    after(async () => {
      for (const s of stations) await s.close();
      await server.stop();
    });

    for (const protocol of ['ocpp1.6', 'ocpp2.0.1'] as const) {
      it(`${protocol}: a remote start through the API starts a transaction, listed by the API and streamed`, async () => {
        const id = `API-REMOTE-${protocol === 'ocpp1.6' ? '16' : '201'}`;
        const station = await simulated(id, protocol);
        const sse = await openSse(`${server.url}/api/v1/events?stationId=${id}`, adminKey);
        assert.equal(sse.status, 200);
        assert.match(sse.contentType ?? '', /text\/event-stream/);
        try {
          const listed = await admin.get(`/api/v1/stations/${id}`);
          assert.equal(listed.status, 200);
          assert.equal(listed.body.online, true);
          assert.equal(listed.body.protocol, protocol);

          const started = await admin.post(`/api/v1/stations/${id}/commands/remote-start`, {
            idToken: 'GOOD',
            evseId: 1,
          });
          assert.equal(started.status, 200, JSON.stringify(started.body));
          assert.equal(started.body.status, 'accepted');

          const tx = await until('the transaction in the API', async () => {
            const r = await admin.get(`/api/v1/transactions?stationId=${id}&status=active`);
            return r.body.total === 1 ? r.body.items[0] : undefined;
          });
          assert.equal(tx.idToken, 'GOOD');
          assert.equal(tx.evseId, 1);
          await station.sendMeterValues(1);
          const detail = await until('meter samples', async () => {
            const r = await admin.get(`/api/v1/transactions/${tx.id}`);
            return r.body.meterSamples.length > 0 ? r.body : undefined;
          });
          assert.equal(detail.id, tx.id);

          const stopped = await admin.post(`/api/v1/stations/${id}/commands/remote-stop`, { transactionId: tx.id });
          assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
          await until('the transaction to end', async () => {
            const r = await admin.get(`/api/v1/transactions/${tx.id}`);
            return r.body.status === 'ended';
          });

          await until('SSE events', async () => {
            const kinds = sse.messages.map((m) => m.event);
            return kinds.includes('transaction.started') && kinds.includes('transaction.ended');
          });
          const startedEvent = sse.messages.find((m) => m.event === 'transaction.started')!;
          assert.equal(startedEvent.data.transactionId, tx.id);
          assert.equal(startedEvent.data.stationId, id);
          assert.ok(sse.messages.some((m) => m.event === 'command.completed' && m.data.command === 'remoteStart'));
          assert.ok(sse.messages.some((m) => m.event === 'connector.status' && m.data.status === 'charging'));
          assert.ok(
            sse.messages.every((m) => m.data.stationId === id),
            'filtered to the station asked for',
          );

          const commands = await admin.get(`/api/v1/commands?stationId=${id}`);
          assert.deepEqual(
            commands.body.items.map((c: any) => c.command),
            ['remoteStop', 'remoteStart'],
          );
          const audited = await admin.get(`/api/v1/audit-log?action=command.remote-start&target=${id}`);
          assert.equal(audited.body.total, 1);
          assert.equal(audited.body.items[0].outcome, 'accepted');
          assert.equal(audited.body.items[0].actorName, 'acceptance admin');
        } finally {
          await sse.close();
        }
      });
    }

    it("a site host sees only its organisation's stations; another's answers 404 and a command to it is refused and audited", async () => {
      const mall = await admin.post('/api/v1/organisations', { name: 'Mall of the North', kind: 'site_host' });
      const hotel = await admin.post('/api/v1/organisations', { name: 'Hotel Harbour', kind: 'site_host' });
      assert.equal(mall.status, 201);
      const place = (organisationId: string, name: string) =>
        admin.post('/api/v1/locations', {
          organisationId,
          name,
          address: 'Main Street 1',
          city: 'Utrecht',
          country: 'NL',
          latitude: 52.09,
          longitude: 5.12,
          timeZone: 'Europe/Amsterdam',
          openingHours: { twentyFourSeven: false, regular: [{ weekday: 1, from: '08:00', to: '22:00' }] },
          parkingRestrictions: ['CUSTOMERS'],
        });
      const mallSite = await place(mall.body.id, 'Mall car park');
      const hotelSite = await place(hotel.body.id, 'Hotel garage');
      assert.equal(mallSite.status, 201, JSON.stringify(mallSite.body));
      const mallStation = await admin.post('/api/v1/stations', {
        id: 'MALL-1',
        locationId: mallSite.body.id,
        password: 'mall-station-secret-1',
        connectors: [
          { evseId: 1, connectorId: 1, standard: 'IEC_62196_T2', powerType: 'AC_3_PHASE', maxPowerW: 22000 },
        ],
      });
      assert.equal(mallStation.status, 201, JSON.stringify(mallStation.body));
      assert.equal(mallStation.body.connectors[0].maxPowerW, 22000);
      assert.equal(
        (
          await admin.post('/api/v1/stations', {
            id: 'HOTEL-1',
            locationId: hotelSite.body.id,
            allowUnauthenticated: true,
          })
        ).status,
        201,
      );
      const hash = await server.app.database.db
        .selectFrom('stations')
        .select('password_hash')
        .where('id', '=', 'MALL-1')
        .executeTakeFirstOrThrow();
      assert.match(hash.password_hash ?? '', /^scrypt\$/);

      const keyed = await admin.post('/api/v1/api-keys', {
        name: 'mall',
        role: 'site_host',
        organisationId: mall.body.id,
      });
      assert.equal(keyed.status, 201);
      const mallKey = apiClient(server.url, keyed.body.key);

      const visible = await mallKey.get('/api/v1/stations');
      assert.deepEqual(
        visible.body.items.map((s: any) => s.id),
        ['MALL-1'],
      );
      assert.equal(visible.body.total, 1);
      assert.equal((await mallKey.get('/api/v1/stations/MALL-1')).status, 200);
      const other = await mallKey.get('/api/v1/stations/HOTEL-1');
      assert.equal(other.status, 404);
      assert.equal(other.body.error, 'not_found');
      assert.equal((await mallKey.get('/api/v1/stations/API-REMOTE-16')).status, 404, 'unplaced stations too');
      assert.equal((await mallKey.get('/api/v1/transactions?stationId=API-REMOTE-16')).body.total, 0);
      assert.equal((await mallKey.get(`/api/v1/locations/${hotelSite.body.id}`)).status, 404);

      const refused = await mallKey.post('/api/v1/stations/HOTEL-1/commands/reset', { type: 'hard' });
      assert.equal(refused.status, 404);
      const audit = await admin.get('/api/v1/audit-log?action=command.reset&target=HOTEL-1');
      assert.equal(audit.body.total, 1);
      assert.equal(audit.body.items[0].outcome, 'refused_out_of_scope');
      assert.equal(audit.body.items[0].actorKind, 'api_key');
      assert.equal(audit.body.items[0].actorId, keyed.body.id);
      assert.equal(audit.body.items[0].actorRole, 'site_host');
      const logged = await server.app.database.db
        .selectFrom('command_log')
        .select('id')
        .where('station_id', '=', 'HOTEL-1')
        .execute();
      assert.equal(logged.length, 0, 'nothing was sent');
      // Firmware is the operator's business, even on the site host's own station.
      const firmware = await mallKey.post('/api/v1/stations/MALL-1/commands/update-firmware', {
        location: 'https://fw.example.com/x.bin',
        retrieveAt: new Date().toISOString(),
      });
      assert.equal(firmware.status, 403);
      // Its own station is offline: the command is allowed and answers 409.
      assert.equal((await mallKey.post('/api/v1/stations/MALL-1/commands/reset', { type: 'soft' })).status, 409);

      // The live stream carries the site host's stations only; an admin's carries both.
      const mallStream = await openSse(`${server.url}/api/v1/events`, keyed.body.key);
      const adminStream = await openSse(`${server.url}/api/v1/events`, adminKey);
      try {
        const mallCharger = await bootedStation(server.wsBase, 'MALL-1', 'ocpp2.0.1', {
          password: 'mall-station-secret-1',
          secondMs: 1000,
        });
        stations.push(mallCharger);
        await simulated('HOTEL-1', 'ocpp1.6');
        await until('both stations in the admin stream', async () => {
          const ids = new Set(adminStream.messages.map((m) => m.data.stationId));
          return ids.has('MALL-1') && ids.has('HOTEL-1');
        });
        await until('the mall station in the mall stream', async () =>
          mallStream.messages.some((m) => m.event === 'connector.status' && m.data.stationId === 'MALL-1'),
        );
        assert.deepEqual([...new Set(mallStream.messages.map((m) => m.data.stationId))], ['MALL-1']);
        // Lists filter by site: the hotel's organisation and location have only the hotel's station.
        const byOrg = await admin.get(`/api/v1/stations?organisationId=${hotel.body.id}`);
        assert.deepEqual(
          byOrg.body.items.map((s: any) => s.id),
          ['HOTEL-1'],
        );
        const byLocation = await admin.get(`/api/v1/stations?locationId=${mallSite.body.id}&online=true`);
        assert.deepEqual(
          byLocation.body.items.map((s: any) => s.id),
          ['MALL-1'],
        );
        assert.equal((await admin.get(`/api/v1/transactions?organisationId=${hotel.body.id}`)).body.total, 0);
      } finally {
        await mallStream.close();
        await adminStream.close();
      }
    });

    it('a technician may reset and unlock but not start charging; a read-only key changes nothing', async () => {
      const tech = apiClient(
        server.url,
        (await server.app.access.createApiKey({ name: 'tech', role: 'technician' })).key,
      );
      const reader = apiClient(
        server.url,
        (await server.app.access.createApiKey({ name: 'ro', role: 'read_only' })).key,
      );
      const denied = await tech.post('/api/v1/stations/API-REMOTE-16/commands/remote-start', { idToken: 'GOOD' });
      assert.equal(denied.status, 403);
      const reset = await tech.post('/api/v1/stations/API-REMOTE-16/commands/reset', { type: 'soft' });
      assert.equal(reset.status, 200);
      assert.equal((await tech.get('/api/v1/faults')).status, 200);
      assert.equal((await tech.get('/api/v1/transactions')).status, 403);
      assert.equal((await reader.post('/api/v1/stations/API-REMOTE-16/commands/reset', { type: 'soft' })).status, 403);
      assert.equal((await reader.post('/api/v1/organisations', { name: 'X', kind: 'site_host' })).status, 403);
      const refusedChange = await admin.get('/api/v1/audit-log?action=access.refused&limit=1');
      assert.equal(refusedChange.body.items[0].target, '/api/v1/organisations');
      assert.equal(refusedChange.body.items[0].details.method, 'POST');
      assert.equal(refusedChange.body.items[0].actorName, 'ro');
      const audit = await admin.get('/api/v1/audit-log?action=command.remote-start&outcome=forbidden');
      assert.equal(audit.body.total, 1);
    });

    it('a command to an offline charger answers 409 at once; one the charger never answers returns 504', async () => {
      await admin.post('/api/v1/stations', { id: 'GONE-1' });
      const before = Date.now();
      const offline = await admin.post('/api/v1/stations/GONE-1/commands/clear-cache', {});
      assert.equal(offline.status, 409);
      assert.equal(offline.body.error, 'station_offline');
      assert.ok(Date.now() - before < CALL_TIMEOUT_MS, 'answered without waiting for a timeout');

      const silent = await openRaw(`${server.wsBase}/SILENT-1`, 'ocpp1.6');
      try {
        await until('the silent charger to be connected', async () => server.app.ocpp.isConnected('SILENT-1'));
        const started = Date.now();
        const timedOut = await admin.post('/api/v1/stations/SILENT-1/commands/reset', { type: 'hard' });
        assert.equal(timedOut.status, 504);
        assert.equal(timedOut.body.error, 'station_timeout');
        assert.ok(Date.now() - started >= CALL_TIMEOUT_MS - 50, 'waited for the call timeout');
        const log = await admin.get('/api/v1/commands?stationId=SILENT-1');
        assert.equal(log.body.items[0].status, 'timeout');
        const audit = await admin.get('/api/v1/audit-log?target=SILENT-1');
        assert.equal(audit.body.items[0].outcome, 'timeout');
      } finally {
        await silent.close();
      }
    });
  });
}
