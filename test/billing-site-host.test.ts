// A site host sees only its own part of billing, on both backends: where a tariff applies lists the assignments
// at its own locations and stations (and those that apply everywhere), never another organisation's station or
// location ids.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, type TestServer } from './support/backends.ts';
import { startWithAdminKey } from './support/admin-server.ts';
import { apiClient } from './support/api-client.ts';

const BOOTSTRAP = 'site-host-bootstrap-key-0123456789abcdef';
const TARIFF = {
  currency: 'EUR',
  elements: [{ price_components: [{ type: 'ENERGY', price: 0.3, vat: 21, step_size: 1 }] }],
};

for (const backend of BACKENDS) {
  describe(`billing as a site host on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;
    let host: ReturnType<typeof apiClient>;
    const places: Record<string, { organisationId: string; locationId: string }> = {};

    before(async () => {
      ({ server, admin } = await startWithAdminKey(backend, BOOTSTRAP));
      for (const name of ['Own', 'Other']) {
        const org = await admin.post('/api/v1/organisations', { name, kind: 'site_host' });
        assert.equal(org.status, 201, JSON.stringify(org.body));
        const location = await admin.post('/api/v1/locations', {
          organisationId: org.body.id,
          name: `${name} car park`,
          address: 'Street 1',
          city: 'Utrecht',
          country: 'NL',
          timeZone: 'Europe/Amsterdam',
        });
        assert.equal(location.status, 201, JSON.stringify(location.body));
        places[name] = { organisationId: org.body.id, locationId: location.body.id };
        const station = await admin.post('/api/v1/stations', {
          id: `${name.toUpperCase()}-1`,
          locationId: location.body.id,
        });
        assert.equal(station.status, 201, JSON.stringify(station.body));
      }
      const key = await admin.post('/api/v1/api-keys', {
        name: 'own host',
        role: 'site_host',
        organisationId: places.Own!.organisationId,
      });
      host = apiClient(server.url, key.body.key);
    });
    after(async () => server.stop());

    it('lists only the assignments at its own stations and locations, and those for everywhere', async () => {
      const tariff = await admin.post('/api/v1/tariffs', { name: 'Shared', tariff: TARIFF });
      const assign = (body: Record<string, unknown>) =>
        admin.post(`/api/v1/tariffs/${tariff.body.id}/assignments`, body);
      for (const body of [
        { stationId: 'OWN-1' },
        { stationId: 'OTHER-1' },
        { stationId: 'OTHER-1', evseId: 2 },
        { locationId: places.Own!.locationId },
        { locationId: places.Other!.locationId },
        {},
      ]) {
        const a = await assign(body);
        assert.equal(a.status, 201, JSON.stringify(a.body));
      }
      const all = await admin.get(`/api/v1/tariffs/${tariff.body.id}/assignments`);
      assert.equal(all.body.length, 6, 'the operator sees every assignment');

      const seen = await host.get(`/api/v1/tariffs/${tariff.body.id}/assignments`);
      assert.equal(seen.status, 200);
      assert.deepEqual(
        seen.body.map((a: { stationId: string | null; locationId: string | null }) => [a.stationId, a.locationId]),
        [
          ['OWN-1', null],
          [null, places.Own!.locationId],
          [null, null],
        ],
      );
      assert.ok(!JSON.stringify(seen.body).includes('OTHER-1'));
      assert.ok(!JSON.stringify(seen.body).includes(places.Other!.locationId));
    });
  });
}
