// The API keeps its documented contract, on both backends: every route is called, and every real answer
// (success and error) is validated against the schema /api/v1/openapi.json documents for that route and
// status. Then bad input: wrong types, unknown fields, oversized bodies and injection strings in every text
// field of every request body get a 4xx naming the field, and change nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import type { SimulatedStation } from '../src/simulator/station.ts';
import { bootedStation } from './support/stations.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const INJECTIONS = [
  "'; DROP TABLE stations; --",
  '<script>alert(1)</script>',
  '{{7*7}}${7*7}',
  '../../etc/passwd\u0000',
  'x\r\nSet-Cookie: session=stolen',
];

/**
 * Fields exempt from the injection check, and why: passwords are only hashed, never stored or shown;
 * data-transfer data and configuration values are opaque payloads forwarded verbatim to the charger
 * (vendor JSON, URLs), never interpreted or rendered by OpenCPO.
 */
const OPAQUE = new Set(['password', 'data', 'value']);

const OPERATOR_API_TAGS = new Set(['stations', 'assets', 'transactions', 'id tokens', 'commands', 'events', 'access']);

interface Operation {
  method: string;
  template: string;
  regex: RegExp;
  tags: string[];
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

for (const backend of BACKENDS) {
  describe(`API contract on ${backend}`, () => {
    let server: TestServer;
    let adminKey: string;
    let operations: Operation[];
    let ajv: Ajv;
    const validators = new Map<string, ValidateFunction>();
    const covered = new Set<string>();
    const sims: SimulatedStation[] = [];
    /** Valid bodies per operation, reused as the base of the bad-input checks. */
    const validBodies = new Map<string, { path: string; body: Record<string, unknown> }>();

    const operationOf = (method: string, path: string) => {
      const bare = path.split('?')[0]!;
      const op = operations.find((o) => o.method === method && o.regex.test(bare));
      assert.ok(op, `${method} ${bare} is not documented`);
      return op;
    };

    /** Calls the API and checks the answer against the documented schema for its status. */
    const call = async (method: string, path: string, body?: unknown, key = adminKey, contentType?: string) => {
      const res = await fetch(server.url + path, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body !== undefined ? { 'content-type': contentType ?? 'application/json' } : {}),
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      const op = operationOf(method, path);
      const id = `${method} ${op.template}`;
      covered.add(id);
      const documented = op.responses[String(res.status)];
      assert.ok(documented, `${id} answered ${res.status}, which is not documented: ${text.slice(0, 300)}`);
      const media = Object.keys(documented.content ?? {})[0];
      if (!media) {
        assert.equal(text, '', `${id} ${res.status} documents no body`);
        return { status: res.status, body: undefined as any };
      }
      assert.ok((res.headers.get('content-type') ?? '').startsWith(media), `${id} content type`);
      if (media !== 'application/json') return { status: res.status, body: text as any };
      const parsed = JSON.parse(text);
      const key2 = `${id} ${res.status}`;
      let validate = validators.get(key2);
      if (!validate) {
        const pointer = [
          'paths',
          op.template,
          method.toLowerCase(),
          'responses',
          String(res.status),
          'content',
          media,
          'schema',
        ]
          .map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1'))
          .join('/');
        validate = ajv.compile({ $ref: `openapi.json#/${pointer}` });
        validators.set(key2, validate);
      }
      assert.ok(
        validate(parsed),
        `${key2} does not match its schema: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 500)}`,
      );
      return { status: res.status, body: parsed };
    };
    const valid = async (method: string, path: string, body: Record<string, unknown>, expected: number) => {
      const r = await call(method, path, body);
      assert.equal(r.status, expected, `${method} ${path}: ${JSON.stringify(r.body)}`);
      validBodies.set(`${method} ${operationOf(method, path).template}`, { path, body });
      return r;
    };

    before(async () => {
      // Hundreds of deliberately bad requests, logins among them: lift the login limit for this server.
      process.env.OPENCPO_LOGIN_RATE_LIMIT = '1000';
      try {
        server = await startTestServer(backend, { acceptUnknownStations: true });
      } finally {
        delete process.env.OPENCPO_LOGIN_RATE_LIMIT;
      }
      adminKey = (await server.app.access.createApiKey({ name: 'contract admin', role: 'admin' })).key;
      const doc = await (await fetch(`${server.url}/api/v1/openapi.json`)).json();
      ajv = new Ajv({ strict: false, allErrors: true });
      addFormats(ajv);
      ajv.addSchema(doc, 'openapi.json');
      operations = [];
      for (const [template, ops] of Object.entries<any>(doc.paths)) {
        for (const [method, op] of Object.entries<any>(ops)) {
          const regex = new RegExp(`^${template.replace(/\./g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`);
          operations.push({
            method: method.toUpperCase(),
            template,
            regex,
            tags: op.tags ?? [],
            responses: op.responses,
          });
        }
      }
      for (const [id, protocol] of [
        ['CT-16', 'ocpp1.6'],
        ['CT-201', 'ocpp2.0.1'],
      ] as const) {
        sims.push(await bootedStation(server.wsBase, id, protocol));
      }
    });
    after(async () => {
      for (const s of sims) await s.close();
      await server.stop();
    });

    it('every route answers what its OpenAPI schema documents', async () => {
      // Assets.
      const org = await valid(
        'POST',
        '/api/v1/organisations',
        { name: "Harbour's Hotel", kind: 'site_host', contactEmail: 'ops@harbour.example' },
        201,
      );
      const orgId = org.body.id;
      await valid('PATCH', `/api/v1/organisations/${orgId}`, { name: 'Harbour Hotel & Spa' }, 200);
      await call('GET', '/api/v1/organisations');
      await call('GET', `/api/v1/organisations/${orgId}`);
      const location = await valid(
        'POST',
        '/api/v1/locations',
        {
          organisationId: orgId,
          name: 'Hotel garage, level -1',
          address: "Rue de l'Église 4",
          city: 'Liège',
          postalCode: '4000',
          country: 'BE',
          latitude: 50.64,
          longitude: 5.57,
          timeZone: 'Europe/Brussels',
          openingHours: { twentyFourSeven: false, regular: [{ weekday: 1, from: '07:00', to: '23:00' }] },
          parkingRestrictions: ['CUSTOMERS'],
        },
        201,
      );
      const locationId = location.body.id;
      await valid('PATCH', `/api/v1/locations/${locationId}`, { name: 'Hotel garage', timeZone: 'Europe/Paris' }, 200);
      await call('GET', '/api/v1/locations');
      await call('GET', `/api/v1/locations/${locationId}`);
      await valid(
        'POST',
        '/api/v1/stations',
        {
          id: 'CT-NEW',
          name: 'Garage charger 1',
          password: 'a-long-station-password',
          admission: 'allowed',
          locationId,
          connectors: [
            { evseId: 1, connectorId: 1, standard: 'IEC_62196_T2', powerType: 'AC_3_PHASE', maxPowerW: 11000 },
          ],
        },
        201,
      );
      await valid('PATCH', '/api/v1/stations/CT-16', { name: 'Sixteen', locationId }, 200);
      await valid(
        'PUT',
        '/api/v1/stations/CT-16/connectors',
        {
          connectors: [
            { evseId: 1, connectorId: 1, standard: 'IEC_62196_T2_COMBO', powerType: 'DC', maxPowerW: 50000 },
          ],
        },
        200,
      );
      // Reads.
      await call('GET', '/api/v1/stations?online=true&limit=10');
      await call('GET', '/api/v1/stations/CT-201');
      await call('GET', '/api/v1/stations/NOT-THERE');
      await call('GET', '/api/v1/stations/CT-16/status-timeline?evseId=1');
      await call('GET', '/api/v1/stations/CT-16/events');
      await call('GET', '/api/v1/faults');
      await call('GET', '/api/v1/stations/CT-201/device-model');
      await call('GET', '/api/v1/stations/CT-16/configuration');
      await call('GET', '/api/v1/stations/CT-16/local-list');

      // Tokens.
      await valid(
        'POST',
        '/api/v1/id-tokens',
        {
          idToken: 'CT-CARD',
          type: 'ISO14443',
          status: 'accepted',
          expiresAt: '2031-01-01T00:00:00Z',
          groupId: 'CT-GROUP',
        },
        201,
      );
      await valid('PATCH', '/api/v1/id-tokens/CT-CARD', { groupId: 'CT-GROUP-2' }, 200);
      await call('GET', '/api/v1/id-tokens');
      await call('GET', '/api/v1/id-tokens/CT-CARD');
      await call('POST', '/api/v1/id-tokens/import', 'idToken,status\nCT-CARD-2,accepted', adminKey, 'text/csv');
      await call('POST', '/api/v1/id-tokens/import', 'idToken\nX', adminKey, 'application/xml');

      // Commands, on both versions, then their logs and the transactions they made.
      for (const station of ['CT-16', 'CT-201']) {
        const cmd = (name: string, body: Record<string, unknown>) =>
          valid('POST', `/api/v1/stations/${station}/commands/${name}`, body, 200);
        await cmd('trigger-message', { message: 'StatusNotification', evseId: 1 });
        await cmd('get-configuration', { keys: [{ component: 'OCPPCommCtrlr', variable: 'HeartbeatInterval' }] });
        await cmd('get-variables', { keys: [{ component: 'OCPPCommCtrlr', variable: 'HeartbeatInterval' }] });
        await cmd('set-configuration', {
          settings: [{ component: 'OCPPCommCtrlr', variable: 'HeartbeatInterval', value: '300' }],
        });
        await cmd('set-variables', {
          settings: [{ component: 'OCPPCommCtrlr', variable: 'HeartbeatInterval', value: '300' }],
        });
        await cmd('data-transfer', { vendorId: 'com.example', messageId: 'hello', data: '{"a":1}' });
        await cmd('clear-cache', {});
        await cmd('change-availability', { operative: true, evseId: 1, connectorId: 1 });
        await cmd('unlock', { evseId: 2, connectorId: 1 });
        await cmd('update-firmware', {
          location: 'https://fw.example.com/fw.bin',
          retrieveAt: new Date().toISOString(),
          retries: 1,
          retryIntervalS: 60,
        });
        await cmd('get-diagnostics', { location: 'https://logs.example.com/up', logType: 'diagnostics' });
        await cmd('get-log', {
          location: 'https://logs.example.com/up',
          from: '2026-01-01T00:00:00Z',
          to: '2026-12-01T00:00:00Z',
        });
        await cmd('send-local-list', { updateType: 'full' });
        await cmd('get-local-list-version', {});
        const reserved = await cmd('reserve-now', {
          idToken: 'CT-CARD',
          idTokenType: 'ISO14443',
          evseId: 1,
          groupId: 'CT-GROUP-2',
          expiresAt: new Date(Date.now() + 600_000).toISOString(),
        });
        await cmd('cancel-reservation', { reservationId: reserved.body.data.reservationId });
        const report = await call('POST', `/api/v1/stations/${station}/commands/get-base-report`, {
          report: 'full_inventory',
        });
        if (station === 'CT-201')
          validBodies.set('POST /api/v1/stations/{stationId}/commands/get-base-report', {
            path: `/api/v1/stations/${station}/commands/get-base-report`,
            body: { report: 'full_inventory' },
          });
        assert.equal(report.status, station === 'CT-201' ? 200 : 422);
        await cmd('remote-start', { idToken: 'CT-CARD', idTokenType: 'ISO14443', evseId: 1 });
        let tx: any;
        for (let i = 0; i < 100 && !tx; i++) {
          const list = await call('GET', `/api/v1/transactions?stationId=${station}&status=active`);
          tx = list.body.items[0];
          if (!tx) await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(tx, 'the remote start made a transaction');
        await call('GET', `/api/v1/transactions/${tx.id}`);
        await cmd('remote-stop', { transactionId: tx.id });
        validBodies.set('POST /api/v1/stations/{stationId}/commands/reset', {
          path: `/api/v1/stations/${station}/commands/reset`,
          body: { type: 'hard' },
        });
      }
      await call('POST', '/api/v1/stations/CT-NEW/commands/reset', { type: 'hard' }); // offline: 409
      await call('GET', '/api/v1/commands?stationId=CT-16');
      await call('GET', '/api/v1/transactions?status=ended&from=2020-01-01T00:00:00Z');
      const csv = await call('GET', '/api/v1/transactions.csv');
      assert.match(csv.body, /^id,stationId,/);

      // Access.
      const user = await valid(
        'POST',
        '/api/v1/users',
        { email: 'reader@example.com', name: 'Rea Der', password: 'a long enough password', role: 'read_only' },
        201,
      );
      await call('GET', '/api/v1/users');
      await valid(
        'PATCH',
        `/api/v1/users/${user.body.id}`,
        { name: 'Rea D. Er', role: 'read_only', organisationId: null },
        200,
      );
      const login = await call('POST', '/api/v1/auth/login', {
        email: 'reader@example.com',
        password: 'a long enough password',
      });
      validBodies.set('POST /api/v1/auth/login', {
        path: '/api/v1/auth/login',
        body: { email: 'reader@example.com', password: 'a long enough password' },
      });
      await call('GET', '/api/v1/auth/me', undefined, login.body.token);
      await call('GET', '/api/v1/users', undefined, login.body.token); // 403
      await call('POST', '/api/v1/auth/logout', undefined, login.body.token);
      await call('POST', `/api/v1/users/${user.body.id}/disable`);
      const key = await valid(
        'POST',
        '/api/v1/api-keys',
        { name: 'contract key', role: 'operator', expiresAt: '2999-01-01T00:00:00Z' },
        201,
      );
      await call('GET', '/api/v1/api-keys');
      await call('DELETE', `/api/v1/api-keys/${key.body.id}`);
      await call('GET', '/api/v1/audit-log?limit=5');
      await call('GET', '/api/v1/stations', undefined, 'not-a-key'); // 401

      // Retirement last.
      await call('POST', '/api/v1/stations/CT-NEW/retire');
      await call('POST', `/api/v1/locations/${locationId}/retire`); // 409: CT-16 still stands there
      await call('PATCH', '/api/v1/stations/CT-16', { locationId: null });
      await call('POST', `/api/v1/locations/${locationId}/retire`);
      await call('POST', `/api/v1/organisations/${orgId}/retire`);

      // The event stream is text/event-stream: documented, and served as such.
      const abort = new AbortController();
      const sse = await fetch(`${server.url}/api/v1/events`, {
        headers: { authorization: `Bearer ${adminKey}` },
        signal: abort.signal,
      });
      assert.equal(sse.status, 200);
      assert.match(sse.headers.get('content-type') ?? '', /^text\/event-stream/);
      covered.add('GET /api/v1/events');
      abort.abort();

      // The operator API's own routes; other features (billing, uptime, ...) test theirs.
      const missed = operations
        .filter((o) => o.tags.some((t) => OPERATOR_API_TAGS.has(t)))
        .map((o) => `${o.method} ${o.template}`)
        .filter((id) => !covered.has(id));
      assert.deepEqual(missed, [], 'every documented route was called');
    });

    it('bad input gets a 4xx naming the field and changes nothing', async () => {
      const db = server.app.database.db;
      const tables = [
        'organisations',
        'locations',
        'stations',
        'station_assets',
        'connector_specs',
        'id_tokens',
        'users',
        'api_keys',
        'command_log',
        'local_list_versions',
      ] as const;
      // What the API could have changed; the chargers' own liveness columns move on by themselves.
      const snapshot = async () => {
        const out: Record<string, string[]> = {};
        for (const t of tables) {
          const rows = await db.selectFrom(t).selectAll().execute();
          out[t] = rows
            .map((row: Record<string, unknown>) => {
              const { last_seen_at: _seen, updated_at: _updated, ...rest } = row;
              return JSON.stringify(t === 'stations' ? rest : row);
            })
            .sort();
        }
        return out;
      };
      const before = await snapshot();
      let checked = 0;

      const expectNamed = async (method: string, path: string, body: unknown, field: string) => {
        const r = await call(method, path, body);
        assert.ok(r.status >= 400 && r.status < 500, `${method} ${path} ${field}: answered ${r.status}`);
        assert.ok(
          String(r.body?.message).includes(field),
          `${method} ${path}: the error names ${field}: ${JSON.stringify(r.body)}`,
        );
        checked++;
      };

      for (const [id, { path, body }] of validBodies) {
        const method = id.split(' ')[0]!;
        // Every text field, however deep, with every injection string.
        const leaves: { at: (string | number)[]; value: string }[] = [];
        const walk = (value: unknown, at: (string | number)[]) => {
          if (typeof value === 'string') leaves.push({ at, value });
          else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...at, i]));
          else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...at, k]);
        };
        walk(body, []);
        for (const leaf of leaves) {
          if (OPAQUE.has(String(leaf.at[leaf.at.length - 1]))) continue;
          for (const injection of INJECTIONS) {
            const bad = structuredClone(body);
            let target: any = bad;
            for (const k of leaf.at.slice(0, -1)) target = target[k];
            target[leaf.at[leaf.at.length - 1]!] = injection;
            await expectNamed(method, path, bad, `body.${leaf.at.join('.')}`);
          }
        }
        // Unknown fields and wrong types.
        await expectNamed(method, path, { ...body, unexpected: 1 }, 'body.unexpected');
        const firstKey = Object.keys(body)[0];
        if (firstKey) await expectNamed(method, path, { ...body, [firstKey]: [{ nested: true }] }, `body.${firstKey}`);
      }

      // Path and query text too.
      await expectNamed(
        'GET',
        `/api/v1/stations/${encodeURIComponent("'; DROP TABLE stations; --")}`,
        undefined,
        'params.stationId',
      );
      await expectNamed(
        'POST',
        `/api/v1/stations/${encodeURIComponent('<script>')}/commands/reset`,
        { type: 'soft' },
        'params.stationId',
      );
      await expectNamed(
        'GET',
        `/api/v1/transactions?stationId=${encodeURIComponent("x' OR '1'='1")}`,
        undefined,
        'querystring.stationId',
      );
      await expectNamed('GET', '/api/v1/stations?limit=ten', undefined, 'querystring.limit');
      await expectNamed('GET', '/api/v1/audit-log?sort=evil', undefined, 'querystring.sort');

      // Oversized bodies.
      const huge = await call('POST', '/api/v1/organisations', { name: 'x'.repeat(1_100_000), kind: 'site_host' });
      assert.equal(huge.status, 413);
      const hugeCsv = await call(
        'POST',
        '/api/v1/id-tokens/import',
        `idToken\n${'A'.repeat(2_200_000)}`,
        adminKey,
        'text/csv',
      );
      assert.equal(hugeCsv.status, 413);

      assert.ok(checked > 200, `checked ${checked} bad requests`);
      const afterwards = await snapshot();
      for (const t of tables) assert.deepEqual(afterwards[t], before[t], `nothing changed in ${t}`);
    });
  });
}
