// Input the database cannot hold is refused at the API's edge with a 400 naming the field, never a 500, on both
// backends: integers beyond PostgreSQL's integer (ids, offsets), instants Date cannot represent (a leap second),
// prices past the tariff maximum. And a browser page of an allowed origin may send every method the API has.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, type TestServer } from './support/backends.ts';
import { startWithAdminKey } from './support/admin-server.ts';
import { apiClient } from './support/api-client.ts';

const BOOTSTRAP = 'bounds-bootstrap-key-0123456789abcdef';
const ORIGIN = 'https://console.example';
const TARIFF = {
  currency: 'EUR',
  elements: [{ price_components: [{ type: 'ENERGY', price: 0.3, vat: 21, step_size: 1 }] }],
};
const withPrice = (price: number | string) => ({
  ...TARIFF,
  elements: [{ price_components: [{ type: 'ENERGY', price, vat: 21, step_size: 1 }] }],
});

for (const backend of BACKENDS) {
  describe(`API input bounds on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;
    let tariffId: string;

    before(async () => {
      ({ server, admin } = await startWithAdminKey(backend, BOOTSTRAP, { OPENCPO_CORS_ORIGINS: ORIGIN }));
      await server.app.stations.register({ id: 'BOUNDS-1' });
      tariffId = (await admin.post('/api/v1/tariffs', { name: 'Bounds', tariff: TARIFF })).body.id;
    });
    after(async () => server.stop());

    const refusedNaming = async (answer: Promise<{ status: number; body: any }>, field: string) => {
      const a = await answer;
      assert.equal(a.status, 400, JSON.stringify(a.body));
      assert.ok(a.body.message.startsWith(`${field} `), a.body.message);
    };

    it('refuses integers beyond int32 and offsets beyond it, naming the field', async () => {
      await refusedNaming(
        admin.post(`/api/v1/tariffs/${tariffId}/assignments`, { stationId: 'BOUNDS-1', evseId: 2 ** 31 }),
        'body.evseId',
      );
      await refusedNaming(admin.get(`/api/v1/tariffs/${tariffId}?version=2147483648`), 'querystring.version');
      await refusedNaming(
        admin.get('/api/v1/stations/BOUNDS-1/status-timeline?evseId=99999999999'),
        'querystring.evseId',
      );
      await refusedNaming(admin.get('/api/v1/cdrs?offset=1e20'), 'querystring.offset');
      await refusedNaming(admin.get('/api/v1/stations?offset=9223372036854775808'), 'querystring.offset');
      // The largest int32 is fine.
      assert.equal((await admin.get('/api/v1/cdrs?offset=2147483647')).status, 200);
      const assigned = await admin.post(`/api/v1/tariffs/${tariffId}/assignments`, {
        stationId: 'BOUNDS-1',
        evseId: 2 ** 31 - 1,
      });
      assert.equal(assigned.status, 201, JSON.stringify(assigned.body));
    });

    it('refuses a leap second (23:59:60), which Date cannot represent, naming the field', async () => {
      await refusedNaming(admin.get('/api/v1/cdrs?from=2016-12-31T23:59:60Z'), 'querystring.from');
      await refusedNaming(admin.get('/api/v1/audit-log?to=2016-12-31T23:59:60.5Z'), 'querystring.to');
      await refusedNaming(
        admin.post('/api/v1/api-keys', { name: 'leap', role: 'read_only', expiresAt: '2030-06-30T23:59:60Z' }),
        'body.expiresAt',
      );
      await refusedNaming(
        admin.post('/api/v1/tariffs', { name: 'Leap', tariff: { ...TARIFF, end_date_time: '2016-12-31T23:59:60Z' } }),
        'body.tariff.end_date_time',
      );
      assert.equal((await admin.get('/api/v1/cdrs?from=2016-12-31T23:59:59.999Z')).status, 200);
    });

    it('refuses tariff prices above the maximum (10,000,000 per unit), as numbers and as decimal strings', async () => {
      await refusedNaming(
        admin.post('/api/v1/tariffs', { name: 'Huge', tariff: withPrice(1e15) }),
        'body.tariff.elements.0.price_components.0.price',
      );
      await refusedNaming(
        admin.post('/api/v1/tariffs', { name: 'Huge', tariff: withPrice('999999999999.5') }),
        'body.tariff.elements.0.price_components.0.price',
      );
      await refusedNaming(
        admin.post('/api/v1/tariffs', { name: 'Huge', tariff: { ...TARIFF, max_price: { excl_vat: 1e15 } } }),
        'body.tariff.max_price.excl_vat',
      );
      await refusedNaming(
        admin.call('PUT', `/api/v1/tariffs/${tariffId}`, { tariff: withPrice('10000000.000001') }),
        'body.tariff.elements.0.price_components.0.price',
      );
      const largest = await admin.post('/api/v1/tariffs', { name: 'Dear', tariff: withPrice('10000000') });
      assert.equal(largest.status, 201, JSON.stringify(largest.body));
      const versions = await server.app.database.db
        .selectFrom('tariff_versions')
        .select('tariff_id')
        .where('tariff_id', '=', tariffId)
        .execute();
      assert.equal(versions.length, 1, 'the refused edit added no version');
    });

    it('answers a CORS preflight of an allowed origin for PATCH, PUT and DELETE', async () => {
      for (const method of ['PATCH', 'PUT', 'DELETE', 'POST', 'GET']) {
        const res = await fetch(`${server.url}/api/v1/users/00000000-0000-0000-0000-000000000000`, {
          method: 'OPTIONS',
          headers: {
            origin: ORIGIN,
            'access-control-request-method': method,
            'access-control-request-headers': 'authorization, content-type',
          },
        });
        assert.equal(res.status, 204, method);
        assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
        const allowed = (res.headers.get('access-control-allow-methods') ?? '').split(',').map((m) => m.trim());
        assert.ok(allowed.includes(method), `${method} not in ${allowed.join(',')}`);
        assert.match(res.headers.get('access-control-allow-headers') ?? '', /authorization/i);
      }
      const other = await fetch(`${server.url}/api/v1/users`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'DELETE' },
      });
      assert.equal(other.headers.get('access-control-allow-origin'), null, 'other origins stay closed');
    });
  });
}
