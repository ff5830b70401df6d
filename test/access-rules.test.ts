// Who may use the API, on both backends: an API key cannot be created already expired; disabling a user revokes
// the keys they created (and the keys those keys created); no part of the bootstrap key, which the operator chose,
// is stored or listed; failed logins lock the account whatever address they come from; every successful change
// is audited with the one outcome word `success`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { BACKENDS, type TestServer } from './support/backends.ts';
import { startWithAdminKey } from './support/admin-server.ts';
import { apiClient } from './support/api-client.ts';
import { FailedLogins } from '../src/access/failed-logins.ts';

const BOOTSTRAP = 'access-rules-bootstrap-key-0123456789abcdef';
const LOGIN_LIMIT = 3;

/** POSTs a login from a given loopback address (the per-address limit counts each address apart). */
function loginFrom(baseUrl: string, localAddress: string, email: string, password: string) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = http.request(
      `${baseUrl}/api/v1/auth/login`,
      { method: 'POST', localAddress, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ email, password }));
  });
}

for (const backend of BACKENDS) {
  describe(`access rules on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;

    before(async () => {
      ({ server, admin } = await startWithAdminKey(backend, BOOTSTRAP, {
        OPENCPO_LOGIN_RATE_LIMIT: String(LOGIN_LIMIT),
      }));
    });
    after(async () => server.stop());

    const createAdmin = async (email: string) => {
      const password = 'a-long-enough-password';
      const user = await admin.post('/api/v1/users', { email, name: email, password, role: 'admin' });
      assert.equal(user.status, 201, JSON.stringify(user.body));
      return { id: user.body.id as string, email, password };
    };

    it('refuses an API key that has already expired, naming body.expiresAt, and stores nothing', async () => {
      const before_ = (await admin.get('/api/v1/api-keys')).body.total;
      const past = await admin.post('/api/v1/api-keys', {
        name: 'expired',
        role: 'read_only',
        expiresAt: '2001-01-01T00:00:00Z',
      });
      assert.equal(past.status, 400, JSON.stringify(past.body));
      assert.match(past.body.message, /^body\.expiresAt /);
      assert.equal((await admin.get('/api/v1/api-keys')).body.total, before_, 'no key was created');
      const future = await admin.post('/api/v1/api-keys', {
        name: 'later',
        role: 'read_only',
        expiresAt: '2999-01-01T00:00:00Z',
      });
      assert.equal(future.status, 201);
    });

    it('revokes the keys a user created, and the keys those created, when the user is disabled', async () => {
      const person = await createAdmin('leaver@example.com');
      const login = await apiClient(server.url).post('/api/v1/auth/login', {
        email: person.email,
        password: person.password,
      });
      assert.equal(login.status, 200);
      const own = apiClient(server.url, login.body.token);
      const key = await own.post('/api/v1/api-keys', { name: 'leaver integration', role: 'admin' });
      assert.equal(key.status, 201);
      const byKey = await apiClient(server.url, key.body.key).post('/api/v1/api-keys', {
        name: 'made by the leaver key',
        role: 'read_only',
      });
      assert.equal(byKey.status, 201);
      const unrelated = await admin.post('/api/v1/api-keys', { name: 'unrelated', role: 'read_only' });
      for (const k of [key.body.key, byKey.body.key, unrelated.body.key])
        assert.equal((await apiClient(server.url, k).get('/api/v1/auth/me')).status, 200);

      assert.equal((await admin.post(`/api/v1/users/${person.id}/disable`)).status, 204);
      assert.equal((await apiClient(server.url, key.body.key).get('/api/v1/auth/me')).status, 401);
      assert.equal((await apiClient(server.url, byKey.body.key).get('/api/v1/auth/me')).status, 401);
      assert.equal((await apiClient(server.url, unrelated.body.key).get('/api/v1/auth/me')).status, 200);
      const listed = await admin.get('/api/v1/api-keys?limit=1000');
      const revoked = listed.body.items.filter((k: { revokedAt: string | null }) => k.revokedAt !== null);
      assert.deepEqual(revoked.map((k: { id: string }) => k.id).sort(), [key.body.id, byKey.body.id].sort());
    });

    it('stores and lists no part of the bootstrap key', async () => {
      const rows = await server.app.database.db.selectFrom('api_keys').selectAll().execute();
      const bootstrap = rows.find((r) => r.created_by === 'OPENCPO_BOOTSTRAP_API_KEY');
      assert.ok(bootstrap);
      assert.equal(bootstrap.prefix, '');
      for (const r of rows) assert.ok(!JSON.stringify(r).includes(BOOTSTRAP.slice(0, 6)), JSON.stringify(r));
      const listed = await admin.get('/api/v1/api-keys?limit=1000');
      assert.ok(!JSON.stringify(listed.body).includes(BOOTSTRAP.slice(0, 6)));
      // A key OpenCPO generated still shows its first characters, which tell it apart and give nothing away.
      const made = await admin.post('/api/v1/api-keys', { name: 'generated', role: 'read_only' });
      const again = await admin.get('/api/v1/api-keys?limit=1000');
      const generated = again.body.items.find((k: { id: string }) => k.id === made.body.id);
      assert.equal(generated.prefix, made.body.key.slice(0, 12));
    });

    it('locks an account after the failed-login limit, whatever address the attempts come from', async () => {
      const target = await createAdmin('target@example.com');
      const bystander = await createAdmin('bystander@example.com');
      for (let i = 0; i < LOGIN_LIMIT; i++) {
        const wrong = await loginFrom(server.url, `127.0.0.${10 + i}`, target.email, 'not the password!');
        assert.equal(wrong.status, 401, JSON.stringify(wrong.body));
      }
      // A new address, and the right password: the account is locked for the rest of the window.
      const locked = await loginFrom(server.url, '127.0.0.20', target.email.toUpperCase(), target.password);
      assert.equal(locked.status, 429, JSON.stringify(locked.body));
      assert.match(locked.body.message, /failed logins/);
      // The lock is the account's: another account logs in from the same address.
      const other = await loginFrom(server.url, '127.0.0.20', bystander.email, bystander.password);
      assert.equal(other.status, 200, JSON.stringify(other.body));
      const audit = await admin.get('/api/v1/audit-log?action=auth.login&target=TARGET@EXAMPLE.COM');
      assert.equal(audit.body.items[0]?.outcome, 'locked');
    });

    it('audits successful changes as success on every route, so filtering by outcome finds them all', async () => {
      await server.app.stations.register({ id: 'AUDIT-1' });
      const window = await admin.post('/api/v1/uptime/maintenance-windows', {
        stationId: 'AUDIT-1',
        startsAt: '2026-06-01T00:00:00Z',
        endsAt: '2026-06-01T02:00:00Z',
      });
      assert.equal(window.status, 201, JSON.stringify(window.body));
      const order = await admin.post('/api/v1/work-orders', { stationId: 'AUDIT-1', symptom: 'screen dark' });
      assert.equal(order.status, 201, JSON.stringify(order.body));
      const tariff = await admin.post('/api/v1/tariffs', {
        name: 'Audited',
        tariff: { currency: 'EUR', elements: [{ price_components: [{ type: 'FLAT', price: 1, step_size: 0 }] }] },
      });
      assert.equal(tariff.status, 201);
      const found = await admin.get('/api/v1/audit-log?outcome=success&limit=1000');
      const actions = new Set(found.body.items.map((e: { action: string }) => e.action));
      for (const action of ['uptime.maintenance_window.created', 'work_order.created', 'tariff.create'])
        assert.ok(actions.has(action), `${action} is audited as success`);
      assert.equal((await admin.get('/api/v1/audit-log?outcome=ok')).body.total, 0);
    });
  });
}

describe('failed logins per account (the window, by an injected clock)', () => {
  it('locks after the limit for the rest of the window, counts any case of the e-mail, and a success clears it', () => {
    let now = Date.parse('2026-03-01T10:00:00Z');
    const logins = new FailedLogins({ limit: 2, windowMs: 60_000, now: () => now });
    assert.equal(logins.attempt('a@example.com'), 0);
    now += 10_000;
    assert.equal(logins.attempt('A@Example.com'), 0);
    now += 5_000;
    assert.equal(logins.attempt('a@example.com'), 45_000, 'locked until the first attempt leaves the window');
    assert.equal(logins.attempt('b@example.com'), 0, 'another account is not locked');
    now += 45_000;
    assert.equal(logins.attempt('a@example.com'), 0, 'the first attempt left the window');
    assert.ok(logins.attempt('a@example.com') > 0);
    logins.succeeded('a@example.com');
    assert.equal(logins.attempt('a@example.com'), 0, 'a success starts the count again');
  });

  it('forgets the oldest accounts beyond its bound', () => {
    const logins = new FailedLogins({ limit: 1, maxAccounts: 2, now: () => 0 });
    for (const e of ['1@x.io', '2@x.io', '3@x.io']) assert.equal(logins.attempt(e), 0);
    assert.equal(logins.attempt('1@x.io'), 0, 'the oldest was forgotten');
    assert.ok(logins.attempt('3@x.io') > 0);
  });
});
