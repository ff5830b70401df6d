// The live event stream on both backends: it lives only as long as its credential (a revoked key, a disabled
// user: the stream ends within the re-check interval), open streams are capped per key and in all, and every
// type it offers is published (a charger's socket closing is station.disconnected).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { apiClient } from './support/api-client.ts';
import { openSse } from './support/sse.ts';
import { openRaw } from './support/raw-charger.ts';
import { until } from './support/until.ts';

const SETTINGS = {
  OPENCPO_EVENT_STREAM_RECHECK_MS: '50',
  OPENCPO_EVENT_STREAMS_PER_KEY: '2',
  OPENCPO_EVENT_STREAMS_MAX: '3',
};

for (const backend of BACKENDS) {
  describe(`live event stream on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;
    let adminKey: string;
    const events = (secret: string, query = '') => openSse(`${server.url}/api/v1/events${query}`, secret);
    const keyFor = async (name: string) =>
      (await admin.post('/api/v1/api-keys', { name, role: 'read_only' })).body as { id: string; key: string };

    before(async () => {
      Object.assign(process.env, SETTINGS);
      try {
        server = await startTestServer(backend, { acceptUnknownStations: true });
      } finally {
        for (const name of Object.keys(SETTINGS)) delete process.env[name];
      }
      adminKey = (await server.app.access.createApiKey({ name: 'events admin', role: 'admin' })).key;
      admin = apiClient(server.url, adminKey);
    });
    after(async () => server.stop());

    it('ends a stream once its key is revoked, or its user disabled', async () => {
      const key = await keyFor('watcher');
      const keyed = await events(key.key);
      assert.equal(keyed.status, 200);
      assert.equal(keyed.ended, false);
      assert.equal((await admin.delete(`/api/v1/api-keys/${key.id}`)).status, 204);
      await until('the revoked key’s stream to end', () => keyed.ended, 5000);
      await keyed.close();

      const user = await admin.post('/api/v1/users', {
        email: 'watcher@example.com',
        name: 'Watcher',
        password: 'a long password',
        role: 'read_only',
      });
      const login = await apiClient(server.url).post('/api/v1/auth/login', {
        email: 'watcher@example.com',
        password: 'a long password',
      });
      const session = await events(login.body.token);
      assert.equal(session.status, 200);
      assert.equal((await admin.post(`/api/v1/users/${user.body.id}/disable`)).status, 204);
      await until('the disabled user’s stream to end', () => session.ended, 5000);
      await session.close();
    });

    it('caps open streams per key and in all', async () => {
      const [a, b, c] = [await keyFor('a'), await keyFor('b'), await keyFor('c')];
      const first = [await events(a.key), await events(a.key)];
      assert.deepEqual(
        first.map((s) => s.status),
        [200, 200],
      );
      const third = await events(a.key);
      assert.equal(third.status, 429);
      await third.close();
      const other = await events(b.key);
      assert.equal(other.status, 200);
      const beyond = await events(c.key);
      assert.equal(beyond.status, 429, 'three are open in all');
      await beyond.close();
      // A stream the client closes frees its place.
      await first[0]!.close();
      const again = await until('a place for key a', async () => {
        const s = await events(a.key);
        if (s.status === 200) return s;
        await s.close();
        return undefined;
      });
      for (const s of [first[1]!, other, again]) await s.close();
    });

    it("publishes station.disconnected when a charger's socket closes", async () => {
      const stream = await events(adminKey, '?types=station.connected,station.disconnected');
      try {
        const charger = await openRaw(`${server.wsBase}/EVENTS-1`, 'ocpp1.6');
        await until('station.connected', () => stream.messages.some((m) => m.event === 'station.connected'));
        await charger.close();
        const gone = await until('station.disconnected', () =>
          stream.messages.find((m) => m.event === 'station.disconnected'),
        );
        assert.equal(gone.data.stationId, 'EVENTS-1');
        assert.match(gone.data.reason, /socket closed/);
      } finally {
        await stream.close();
      }
      const doc = await apiClient(server.url).get('/api/v1/openapi.json');
      assert.match(doc.body.paths['/api/v1/events'].get.description, /station\.disconnected/);
    });
  });
}
