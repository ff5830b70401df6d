// What the API stores, on both backends: text PostgreSQL cannot store is refused before anything is written.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { apiClient } from './support/api-client.ts';

const LONE_SURROGATE = '\ud800';
const NUL = '\u0000';

for (const backend of BACKENDS) {
  describe(`API integrity on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;
    let accountId: string;

    const count = async (table: 'api_keys' | 'audit_log' | 'work_orders' | 'users' | 'organisations') =>
      Number(
        (
          await server.app.database.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const balance = async () => (await admin.get(`/api/v1/accounts/${accountId}`)).body.walletBalance as string;

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true });
      admin = apiClient(server.url, (await server.app.access.createApiKey({ name: 'integrity', role: 'admin' })).key);
      const account = await admin.post('/api/v1/accounts', {
        kind: 'driver',
        name: 'Wallet driver',
        currency: 'EUR',
        paymentMethod: 'wallet',
      });
      assert.equal(account.status, 201);
      accountId = account.body.id;
      assert.equal((await admin.post('/api/v1/stations', { id: 'INTEGRITY-1' })).status, 201);
    });
    after(async () => server.stop());

    it('refuses text that cannot be stored with a 400 naming the field, and changes nothing', async () => {
      const [keys, orgs, audits, users] = [
        await count('api_keys'),
        await count('organisations'),
        await count('audit_log'),
        await count('users'),
      ];
      const refused = [
        ['/api/v1/api-keys', { name: `admin ${LONE_SURROGATE}`, role: 'admin' }, 'body.name'],
        ['/api/v1/organisations', { name: `Mall ${LONE_SURROGATE}`, kind: 'site_host' }, 'body.name'],
        [
          '/api/v1/users',
          { email: 'nul@example.com', name: 'Nul', password: `long password ${NUL}`, role: 'read_only' },
          'body.password',
        ],
        [
          `/api/v1/accounts/${accountId}/wallet/top-ups`,
          { amount: '5.00', reference: `ref ${LONE_SURROGATE}` },
          'body.reference',
        ],
        ['/api/v1/work-orders', { stationId: 'INTEGRITY-1', symptom: `broken \udc00 screen` }, 'body.symptom'],
        [
          '/api/v1/stations/INTEGRITY-1/commands/set-configuration',
          { settings: [{ variable: 'CpoName', value: `x${LONE_SURROGATE}` }] },
          'body.settings.0.value',
        ],
      ] as const;
      const before = await balance();
      for (const [path, body, field] of refused) {
        const answer = await admin.post(path, body);
        assert.equal(answer.status, 400, `${path}: ${JSON.stringify(answer.body)}`);
        assert.equal(answer.body.error, 'validation_failed');
        assert.equal(
          answer.body.message,
          `${field} contains a character that cannot be stored (U+0000 or an unpaired surrogate)`,
        );
      }
      const csv = await admin.call('POST', '/api/v1/id-tokens/import', `idToken,status\nNUL-1${NUL},accepted\n`, {
        'content-type': 'text/csv',
      });
      assert.equal(csv.status, 400);
      assert.match(csv.body.message, /^body contains a character that cannot be stored/);
      assert.deepEqual(
        [await count('api_keys'), await count('organisations'), await count('audit_log'), await count('users')],
        [keys, orgs, audits, users],
      );
      assert.equal(await balance(), before, 'the wallet was not credited');
      // A pair of surrogates is one character (an emoji): stored like any other.
      const emoji = await admin.post('/api/v1/organisations', { name: 'Café 🚗', kind: 'site_host' });
      assert.equal(emoji.status, 201);
      assert.equal((await admin.get(`/api/v1/organisations/${emoji.body.id}`)).body.name, 'Café 🚗');
    });
  });
}
