// What the API stores, on both backends: text PostgreSQL cannot store is refused before anything is written; a
// change and its audit entry commit together (or neither does), and a 500 is logged with its cause but answers
// nothing of it; Idempotency-Key applies a change once, also under concurrent retries; a token changed by CSV
// import counts at the next Authorize.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { sql } from 'kysely';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { apiClient } from './support/api-client.ts';
import { openRaw } from './support/raw-charger.ts';

const LONE_SURROGATE = '\ud800';
const NUL = '\u0000';
const TRIGGER_TEXT = 'audit log refused by the test';

const tariff = { currency: 'EUR', elements: [{ price_components: [{ type: 'ENERGY', price: '0.30', step_size: 1 }] }] };

for (const backend of BACKENDS) {
  describe(`API integrity on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;
    let accountId: string;
    const logged: Record<string, any>[] = [];

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
      const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
      server = await startTestServer(backend, { acceptUnknownStations: true }, { log });
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

    it('writes a change and its audit entry in one transaction: without its entry, no change (a 500 logged, not told)', async () => {
      const db = server.app.database.db;
      await sql`CREATE FUNCTION refuse_audit_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '${sql.raw(TRIGGER_TEXT)}'; END $$`.execute(db);
      await sql`CREATE TRIGGER refuse_audit_for_test BEFORE INSERT ON audit_log
        FOR EACH ROW EXECUTE FUNCTION refuse_audit_for_test()`.execute(db);
      const [keys, orgs, users, workOrders] = [
        await count('api_keys'),
        await count('organisations'),
        await count('users'),
        await count('work_orders'),
      ];
      const before = await balance();
      const changes: [string, string, unknown][] = [
        ['POST', '/api/v1/api-keys', { name: 'atomic key', role: 'admin' }],
        ['POST', '/api/v1/organisations', { name: 'Atomic Org', kind: 'operator' }],
        [
          'POST',
          '/api/v1/users',
          { email: 'atomic@example.com', name: 'A', password: 'a long password', role: 'operator' },
        ],
        ['POST', '/api/v1/id-tokens', { idToken: 'ATOMIC-1' }],
        ['POST', `/api/v1/accounts/${accountId}/wallet/top-ups`, { amount: '10.00', reference: 'atomic' }],
        ['POST', '/api/v1/tariffs', { name: 'Atomic tariff', tariff }],
        ['POST', '/api/v1/work-orders', { stationId: 'INTEGRITY-1', symptom: 'atomic' }],
        ['PUT', '/api/v1/technicians/atomic-tech', { name: 'Atomic Tech', zones: ['z'], skills: [] }],
        [
          'POST',
          '/api/v1/uptime/maintenance-windows',
          { stationId: 'INTEGRITY-1', startsAt: '2030-01-01T00:00:00Z', endsAt: '2030-01-01T02:00:00Z' },
        ],
        [
          'POST',
          '/api/v1/stations',
          {
            id: 'ATOMIC-ST',
            connectors: [
              { evseId: 1, connectorId: 1, standard: 'IEC_62196_T2', powerType: 'AC_3_PHASE', maxPowerW: 11000 },
            ],
          },
        ],
      ];
      try {
        for (const [method, path, body] of changes) {
          const answer = await admin.call(method, path, body);
          assert.equal(answer.status, 500, `${method} ${path}: ${JSON.stringify(answer.body)}`);
          assert.deepEqual(answer.body, { error: 'internal', message: 'internal error' });
        }
      } finally {
        await sql`DROP TRIGGER refuse_audit_for_test ON audit_log`.execute(db);
        await sql`DROP FUNCTION refuse_audit_for_test()`.execute(db);
      }
      assert.deepEqual(
        [await count('api_keys'), await count('organisations'), await count('users'), await count('work_orders')],
        [keys, orgs, users, workOrders],
      );
      assert.equal(await balance(), before, 'the wallet was not credited');
      const leftovers = [
        await db.selectFrom('id_tokens').select('id_token').where('id_token', '=', 'ATOMIC-1').execute(),
        await db.selectFrom('tariffs').select('id').where('name', '=', 'Atomic tariff').execute(),
        await db.selectFrom('technicians').select('id').where('id', '=', 'atomic-tech').execute(),
        await db
          .selectFrom('uptime_maintenance_windows')
          .select('id')
          .where('station_id', '=', 'INTEGRITY-1')
          .execute(),
        await db.selectFrom('stations').select('id').where('id', '=', 'ATOMIC-ST').execute(),
      ];
      assert.deepEqual(leftovers, [[], [], [], [], []]);
      // Each 500 was logged with its cause.
      const errors = logged.filter((l) => l.msg === 'unhandled API error');
      assert.equal(errors.length, changes.length);
      assert.ok(errors.every((l) => String(l.err?.message).includes(TRIGGER_TEXT) && l.route && l.method));

      // A database failure inside the change itself is a 500 as well, never a 400 in the database's words.
      await sql`CREATE FUNCTION refuse_uptime_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'uptime tables refused by the test'; END $$`.execute(db);
      for (const table of ['uptime_station_locations', 'uptime_opening_hours']) {
        await sql`CREATE TRIGGER refuse_uptime_for_test BEFORE INSERT OR UPDATE ON ${sql.table(table)}
          FOR EACH ROW EXECUTE FUNCTION refuse_uptime_for_test()`.execute(db);
      }
      try {
        const failing: [string, unknown][] = [
          ['/api/v1/uptime/stations/INTEGRITY-1/location', { timeZone: 'Europe/Amsterdam' }],
          [
            '/api/v1/uptime/opening-hours',
            {
              stationId: 'INTEGRITY-1',
              timeZone: 'Europe/Amsterdam',
              spans: [{ day: 1, open: '08:00', close: '20:00' }],
            },
          ],
        ];
        for (const [path, body] of failing) {
          const answer = await admin.call('PUT', path, body);
          assert.equal(answer.status, 500, `${path}: ${JSON.stringify(answer.body)}`);
          assert.deepEqual(answer.body, { error: 'internal', message: 'internal error' });
        }
      } finally {
        for (const table of ['uptime_station_locations', 'uptime_opening_hours']) {
          await sql`DROP TRIGGER refuse_uptime_for_test ON ${sql.table(table)}`.execute(db);
        }
        await sql`DROP FUNCTION refuse_uptime_for_test()`.execute(db);
      }
      const bad = await admin.call('PUT', '/api/v1/uptime/stations/INTEGRITY-1/location', { timeZone: 'Mars/Olympus' });
      assert.equal(bad.status, 400, 'an unknown time zone is still the caller’s mistake');
      assert.match(bad.body.message, /unknown time zone Mars\/Olympus/);

      // With the audit log writable again, the same change lands with its entry.
      const key = await admin.post('/api/v1/api-keys', { name: 'atomic key', role: 'admin' });
      assert.equal(key.status, 201);
      const entries = await admin.get(`/api/v1/audit-log?action=api_key.create&target=${key.body.id}`);
      assert.equal(entries.body.total, 1);
    });

    it('applies a change once per Idempotency-Key, also when the retries arrive at once', async () => {
      const open = (client: ReturnType<typeof apiClient>, symptom: string) =>
        client.call(
          'POST',
          '/api/v1/work-orders',
          { stationId: 'INTEGRITY-1', symptom },
          { 'idempotency-key': 'wo-create-0001' },
        );
      const first = await open(admin, 'screen dark');
      assert.equal(first.status, 201);
      const retry = await open(admin, 'screen dark');
      assert.equal(retry.status, 201);
      assert.equal(retry.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(retry.body, first.body);
      const listed = await admin.get('/api/v1/work-orders?stationId=INTEGRITY-1');
      assert.equal(listed.body.items.filter((w: any) => w.symptom === 'screen dark').length, 1);
      const reused = await open(admin, 'another thing');
      assert.equal(reused.status, 422);
      assert.match(reused.body.message, /headers\.idempotency-key/);
      // Keys are the sender's own: another key holder's same key is another request.
      const other = apiClient(
        server.url,
        (await server.app.access.createApiKey({ name: 'other', role: 'operator' })).key,
      );
      const theirs = await open(other, 'screen dark');
      assert.equal(theirs.status, 201);
      assert.notEqual(theirs.body.id, first.body.id);

      const patches = await Promise.all(
        Array.from({ length: 10 }, () =>
          admin.call(
            'PATCH',
            `/api/v1/work-orders/${first.body.id}`,
            { note: 'checked the fuse' },
            {
              'idempotency-key': 'wo-note-0001',
            },
          ),
        ),
      );
      assert.deepEqual(
        patches.map((p) => p.status),
        Array(10).fill(200),
      );
      assert.equal(patches.filter((p) => p.headers.get('idempotent-replayed') === 'true').length, 9);
      for (const p of patches) assert.deepEqual(p.body, patches[0]!.body);
      const detail = await admin.get(`/api/v1/work-orders/${first.body.id}`);
      assert.equal(detail.body.workOrder.notes.length, 1, 'the note was added once');

      const before = await balance();
      for (let i = 0; i < 3; i++) {
        const topUp = await admin.call(
          'POST',
          `/api/v1/accounts/${accountId}/wallet/top-ups`,
          { amount: '7.50', reference: 'card 1234' },
          { 'idempotency-key': 'top-up-0001' },
        );
        assert.equal(topUp.status, 200);
      }
      assert.equal(Number(await balance()) - Number(before), 7.5, 'credited once');

      // A route that would not apply the key once refuses it rather than ignore it.
      const ignored = await admin.call(
        'POST',
        '/api/v1/organisations',
        { name: 'Keyed', kind: 'site_host' },
        { 'idempotency-key': 'org-create-0001' },
      );
      assert.equal(ignored.status, 400);
      assert.match(ignored.body.message, /^headers\.idempotency-key/);
    });

    it('a token blocked by CSV import is refused at the next Authorize', async () => {
      assert.equal((await admin.post('/api/v1/id-tokens', { idToken: 'CSV-CACHED' })).status, 201);
      const charger = await openRaw(`${server.wsBase}/INTEGRITY-AUTH`, 'ocpp1.6');
      try {
        const authorize = async () => ((await charger.call('Authorize', { idTag: 'CSV-CACHED' }))[2] as any).idTagInfo;
        assert.equal((await authorize()).status, 'Accepted');
        const imported = await admin.call('POST', '/api/v1/id-tokens/import', 'idToken,status\nCSV-CACHED,blocked\n', {
          'content-type': 'text/csv',
        });
        assert.equal(imported.status, 200);
        assert.equal((await authorize()).status, 'Blocked');
      } finally {
        await charger.close();
      }
    });
  });
}
