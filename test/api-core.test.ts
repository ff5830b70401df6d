// The API's foundations on both backends: authentication (keys, the bootstrap key, user sessions), roles,
// the error shape, size limits, unknown routes, and the audit log's immutability.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { apiClient } from './support/api-client.ts';

const BOOTSTRAP = 'bootstrap-key-for-tests-0123456789abcdef';

for (const backend of BACKENDS) {
  describe(`API core on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;

    before(async () => {
      process.env.OPENCPO_BOOTSTRAP_API_KEY = BOOTSTRAP;
      try {
        server = await startTestServer(backend);
      } finally {
        delete process.env.OPENCPO_BOOTSTRAP_API_KEY;
      }
      admin = apiClient(server.url, BOOTSTRAP);
    });
    after(async () => server.stop());

    it('refuses requests without a valid credential and accepts the bootstrap admin key', async () => {
      const anonymous = await apiClient(server.url).get('/api/v1/stations');
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.body.error, 'unauthenticated');
      assert.equal((await apiClient(server.url, 'ocpo_not-a-key').get('/api/v1/stations')).status, 401);
      const me = await admin.get('/api/v1/auth/me');
      assert.equal(me.status, 200);
      assert.equal(me.body.role, 'admin');
      assert.equal(me.body.kind, 'api_key');
      const stations = await admin.get('/api/v1/stations');
      assert.equal(stations.status, 200);
      assert.deepEqual(stations.body, { items: [], total: 0, limit: 100, offset: 0 });
    });

    it('users log in with a password, use the session, and log out', async () => {
      const created = await admin.post('/api/v1/users', {
        email: 'Ops@Example.com',
        name: 'Ops person',
        password: 'correct horse battery',
        role: 'operator',
      });
      assert.equal(created.status, 201);
      const stored = await server.app.database.db
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', created.body.id)
        .executeTakeFirstOrThrow();
      assert.match(stored.password_hash, /^scrypt\$/);
      assert.ok(!stored.password_hash.includes('correct horse'));

      const wrong = await apiClient(server.url).post('/api/v1/auth/login', {
        email: 'ops@example.com',
        password: 'wrong password!',
      });
      assert.equal(wrong.status, 401);
      const login = await apiClient(server.url).post('/api/v1/auth/login', {
        email: 'ops@example.com',
        password: 'correct horse battery',
      });
      assert.equal(login.status, 200);
      const ops = apiClient(server.url, login.body.token);
      assert.equal((await ops.get('/api/v1/auth/me')).body.role, 'operator');
      // An operator does not manage users.
      const forbidden = await ops.get('/api/v1/users');
      assert.equal(forbidden.status, 403);
      assert.equal(forbidden.body.error, 'forbidden');
      assert.equal((await ops.post('/api/v1/auth/logout')).status, 204);
      assert.equal((await ops.get('/api/v1/auth/me')).status, 401);

      // A role change takes effect at once: open sessions end.
      const again = await apiClient(server.url).post('/api/v1/auth/login', {
        email: 'ops@example.com',
        password: 'correct horse battery',
      });
      const session = apiClient(server.url, again.body.token);
      assert.equal((await session.get('/api/v1/auth/me')).status, 200);
      const changed = await admin.patch(`/api/v1/users/${created.body.id}`, { role: 'read_only' });
      assert.equal(changed.status, 200);
      assert.equal(changed.body.role, 'read_only');
      assert.equal((await session.get('/api/v1/auth/me')).status, 401);
      const siteHostWithoutOrg = await admin.patch(`/api/v1/users/${created.body.id}`, { role: 'site_host' });
      assert.equal(siteHostWithoutOrg.status, 422);
      assert.match(siteHostWithoutOrg.body.message, /organisationId/);
    });

    it('API keys are shown once, stored hashed and revocable', async () => {
      const created = await admin.post('/api/v1/api-keys', { name: 'integration', role: 'read_only' });
      assert.equal(created.status, 201);
      const key: string = created.body.key;
      const stored = await server.app.database.db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', created.body.id)
        .executeTakeFirstOrThrow();
      assert.notEqual(stored.key_hash, key);
      assert.ok(!JSON.stringify(stored).includes(key));
      const listed = await admin.get('/api/v1/api-keys');
      assert.ok(!JSON.stringify(listed.body).includes(key), 'the secret is never listed');
      const reader = apiClient(server.url, key);
      assert.equal((await reader.get('/api/v1/stations')).status, 200);
      assert.equal((await reader.post('/api/v1/api-keys', { name: 'x', role: 'admin' })).status, 403);
      assert.equal((await admin.delete(`/api/v1/api-keys/${created.body.id}`)).status, 204);
      assert.equal((await reader.get('/api/v1/stations')).status, 401);
    });

    it('errors are JSON naming the problem: validation, unknown routes, oversized and malformed bodies', async () => {
      const badQuery = await admin.get('/api/v1/transactions?limit=abc');
      assert.equal(badQuery.status, 400);
      assert.equal(badQuery.body.error, 'validation_failed');
      assert.match(badQuery.body.message, /querystring\.limit/);
      const unknownField = await admin.post('/api/v1/api-keys', { name: 'k', role: 'admin', color: 'red' });
      assert.equal(unknownField.status, 400);
      assert.match(unknownField.body.message, /body\.color/);
      const wrongType = await admin.post('/api/v1/api-keys', { name: 42, role: 'admin' });
      assert.equal(wrongType.status, 400);
      assert.match(wrongType.body.message, /body\.name/);
      const missing = await admin.get('/api/v1/no-such-thing');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error, 'not_found');
      const huge = await admin.post('/api/v1/api-keys', { name: 'x'.repeat(2 * 1024 * 1024), role: 'admin' });
      assert.equal(huge.status, 413);
      assert.equal(huge.body.error, 'body_too_large');
      const malformed = await admin.call('POST', '/api/v1/api-keys', '{"name": ', {});
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error, 'invalid_json');
      const keys = await server.app.database.db.selectFrom('api_keys').select('name').execute();
      assert.ok(!keys.some((k) => k.name === 'k' || k.name.startsWith('xxx')), 'nothing was created');
    });

    it('the audit log records changes and cannot be edited, not even in the database', async () => {
      const log = await admin.get('/api/v1/audit-log?action=api_key.create');
      assert.equal(log.status, 200);
      assert.ok(log.body.total >= 1);
      assert.equal(log.body.items[0].actorKind, 'api_key');
      assert.equal(log.body.items[0].actorName, 'bootstrap');
      const db = server.app.database.db;
      await assert.rejects(db.updateTable('audit_log').set({ outcome: 'forged' }).execute(), /append-only/);
      await assert.rejects(db.deleteFrom('audit_log').execute(), /append-only/);
      assert.equal((await admin.call('DELETE', '/api/v1/audit-log')).status, 404);
    });

    it('serves the OpenAPI document and the browsable documentation without a credential', async () => {
      const doc = await apiClient(server.url).get('/api/v1/openapi.json');
      assert.equal(doc.status, 200);
      assert.equal(doc.body.openapi, '3.1.0');
      assert.ok(doc.body.paths['/api/v1/stations']);
      const page = await fetch(`${server.url}/api/v1/docs`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /html/);
    });

    it('API answers are not cached or sniffed', async () => {
      const res = await fetch(`${server.url}/api/v1/stations`, { headers: { authorization: `Bearer ${BOOTSTRAP}` } });
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    });

    it('CORS is closed by default', async () => {
      const res = await fetch(`${server.url}/api/v1/stations`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
      });
      assert.equal(res.headers.get('access-control-allow-origin'), null);
    });
  });
}

// Rate limits live in memory per node, not in storage: one backend suffices.
describe('API rate limits', () => {
  let server: TestServer;
  before(async () => {
    process.env.OPENCPO_LOGIN_RATE_LIMIT = '3';
    process.env.OPENCPO_API_RATE_LIMIT = '20';
    try {
      server = await startTestServer('pglite');
    } finally {
      delete process.env.OPENCPO_LOGIN_RATE_LIMIT;
      delete process.env.OPENCPO_API_RATE_LIMIT;
    }
  });
  after(async () => server.stop());

  it('limits login attempts per address', async () => {
    const anonymous = apiClient(server.url);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await anonymous.post('/api/v1/auth/login', { email: 'x@example.com', password: 'guess' })).status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
    const limited = await anonymous.post('/api/v1/auth/login', { email: 'x@example.com', password: 'guess' });
    assert.equal(limited.body.error, 'rate_limited');
  });

  it('limits requests per key, each key on its own', async () => {
    const busy = apiClient(server.url, (await server.app.access.createApiKey({ name: 'busy', role: 'read_only' })).key);
    const calm = apiClient(server.url, (await server.app.access.createApiKey({ name: 'calm', role: 'read_only' })).key);
    // A key's first request proves it valid (counted per address); from then on it has its own budget.
    assert.equal((await busy.get('/api/v1/auth/me')).status, 200);
    const statuses: number[] = [];
    for (let i = 0; i < 22; i++) statuses.push((await busy.get('/api/v1/stations')).status);
    assert.deepEqual(statuses.slice(0, 20), new Array(20).fill(200));
    assert.deepEqual(statuses.slice(20), [429, 429]);
    assert.equal((await calm.get('/api/v1/stations')).status, 200);
  });

  it('counts made-up keys per address, so rotating them does not escape the limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 22; i++) {
      statuses.push((await apiClient(server.url, `ocpo_made-up-${i}`).get('/api/v1/stations')).status);
    }
    assert.ok(statuses.includes(429), `rotating keys were limited: ${statuses.join(',')}`);
  });
});
