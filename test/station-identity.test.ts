// One identity rule for the OCPP edge and the API: ids the API could not address (markup, spaces, "..", a
// slash) are refused at the charger's door even when unknown chargers are accepted, and refused by the
// API; ids with colons pass Basic auth, whose credentials are "<identity>:<password>".
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { apiClient } from './support/api-client.ts';
import { upgradeStatus } from './support/upgrade.ts';
import { InvalidStationIdError } from '../src/stations/identity.ts';

const basic = (user: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

/** Path segments as a charger would send them, and the id each decodes to. */
const UNADDRESSABLE: [segment: string, id: string][] = [
  ['%3Cscript%3E', '<script>'],
  ['CP%2001', 'CP 01'],
  ['%2e%2e', '..'],
  ['.', '.'],
  ['NEW%2F01', 'NEW/01'],
  ['CP%2501', 'CP%01'],
  ['X'.repeat(49), 'X'.repeat(49)],
];

for (const backend of BACKENDS) {
  describe(`station identities on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true });
      admin = apiClient(server.url, (await server.app.access.createApiKey({ name: 'ids', role: 'admin' })).key);
    });
    after(() => server.stop());

    it('refuses identities outside the rule at the OCPP door, even with unknown chargers accepted', async () => {
      for (const [segment, id] of UNADDRESSABLE) {
        const answer = await upgradeStatus(server.app.port, `/ocpp/${segment}`);
        assert.equal(answer.status, 400, `${segment} refused`);
        const row = await server.app.database.db
          .selectFrom('stations')
          .select('id')
          .where('id', '=', id)
          .executeTakeFirst();
        assert.equal(row, undefined, `${JSON.stringify(id)} was not registered`);
      }
      // The rule's whole alphabet, at its longest, is admitted.
      const longest = `Az09*-_=:+|@.${'x'.repeat(35)}`;
      const ok = await openRaw(`${server.wsBase}/${encodeURIComponent(longest)}`, 'ocpp1.6');
      await ok.close();
      assert.equal((await admin.get(`/api/v1/stations/${encodeURIComponent(longest)}`)).status, 200);
    });

    it('the API refuses the same identities, naming the field', async () => {
      for (const [, id] of UNADDRESSABLE) {
        const created = await admin.post('/api/v1/stations', { id });
        assert.equal(created.status, 400, `${JSON.stringify(id)}: ${JSON.stringify(created.body)}`);
        assert.match(created.body.message, /body\/id|body\.id/);
      }
      await assert.rejects(server.app.stations.register({ id: '<script>' }), InvalidStationIdError);
    });

    it('an identity with colons passes Basic auth with its password, and only with it', async () => {
      const id = 'ACME:SITE:7';
      const created = await admin.post('/api/v1/stations', { id, password: 'colon-station-secret' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const c = await openRaw(`${server.wsBase}/${id}`, 'ocpp1.6', basic(id, 'colon-station-secret'));
      const [type] = await c.call('Heartbeat', {});
      assert.equal(type, 3);
      await c.close();
      await assert.rejects(
        openRaw(`${server.wsBase}/${id}`, 'ocpp1.6', basic(id, 'SITE:7:colon-station-secret')),
        /HTTP 401/,
      );
      await assert.rejects(
        openRaw(`${server.wsBase}/${id}`, 'ocpp1.6', basic('ACME:SITE:70', 'colon-station-secret')),
        /HTTP 401/,
      );
      assert.equal((await admin.get(`/api/v1/stations/${id}`)).body.id, id);
    });
  });
}
