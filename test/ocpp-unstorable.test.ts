// Values the schemas accept but the database cannot hold: for every charger-initiated action of both versions,
// a schema-valid request (generated from the official schemas) gets U+0000, a lone surrogate, or 2^31 put into
// each of its string and integer fields in turn. Each answer is a proper CALLERROR of the version (or a
// CALLRESULT, where the field is stored wide enough), never InternalError; and a bystander charger sending
// valid messages all the while has every one of them acknowledged. On both storage backends.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { validRequests } from './support/generated-payloads.ts';
import { schemaFile, validatePayload } from '../src/ocpp/rpc/schemas.ts';
import { errorCodeFor, type OcppProtocol } from '../src/ocpp/rpc/protocols.ts';
import { v16Handlers } from '../src/ocpp/v16/handlers.ts';
import { v201Handlers } from '../src/ocpp/v201/handlers.ts';

const HANDLED: Record<OcppProtocol, string[]> = {
  'ocpp1.6': Object.keys(v16Handlers),
  'ocpp2.0.1': Object.keys(v201Handlers),
};

interface SchemaNode {
  $ref?: string;
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  definitions?: Record<string, SchemaNode>;
}

type Path = (string | number)[];

/** The paths of a payload's strings, and of its numbers the schema types as integers. */
function fieldsOf(payload: unknown, node: SchemaNode | undefined, definitions: Record<string, SchemaNode>) {
  const strings: Path[] = [];
  const integers: Path[] = [];
  const visit = (value: unknown, n: SchemaNode | undefined, path: Path) => {
    while (n?.$ref) n = definitions[n.$ref.replace('#/definitions/', '')];
    if (typeof value === 'string') strings.push(path);
    else if (typeof value === 'number' && n?.type === 'integer') integers.push(path);
    else if (Array.isArray(value)) value.forEach((v, i) => visit(v, n?.items, [...path, i]));
    else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) visit(v, n?.properties?.[k], [...path, k]);
    }
  };
  visit(payload, node, []);
  return { strings, integers };
}

function withValue(payload: unknown, path: Path, value: unknown): unknown {
  const copy = structuredClone(payload) as Record<string | number, unknown>;
  let at = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path[path.length - 1]!] = value;
  return copy;
}

/** Every request of the sweep: a valid one per action with one field made unstorable. */
async function unstorableRequests(protocol: OcppProtocol) {
  const docs = JSON.parse(readFileSync(schemaFile(protocol), 'utf8')) as ({ $id: string } & SchemaNode)[];
  const out: { action: string; field: string; payload: unknown }[] = [];
  for (const action of HANDLED[protocol]) {
    const doc = docs.find((d) => d.$id === `urn:${action}.req`)!;
    // As many fields as the generator will fill (every optional one), else a plainer request.
    const full = await validRequests(protocol, action, 1, 1);
    const requests = full.length ? full : await validRequests(protocol, action, 1);
    assert.ok(requests.length > 0, `a valid ${action} request could be built`);
    for (const request of requests) {
      const { strings, integers } = fieldsOf(request, doc, doc.definitions ?? {});
      for (const path of strings) {
        const original = path.reduce((x: any, k) => x[k], request) as string;
        const field = path.join('.');
        out.push({ action, field: `${field} (NUL)`, payload: withValue(request, path, `\u0000${original.slice(1)}`) });
        out.push({
          action,
          field: `${field} (lone surrogate)`,
          payload: withValue(request, path, `\ud800${original.slice(1)}`),
        });
      }
      for (const path of integers) {
        out.push({ action, field: `${path.join('.')} (2^31)`, payload: withValue(request, path, 2 ** 31) });
      }
    }
  }
  return out;
}

for (const backend of BACKENDS) {
  describe(`unstorable values at the OCPP edge on ${backend}`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true });
    });
    after(() => server.stop());

    for (const protocol of ['ocpp1.6', 'ocpp2.0.1'] as const) {
      it(`${protocol}: every action refuses them with its CALLERROR while a bystander is served`, async () => {
        const requests = await unstorableRequests(protocol);
        const refusals = new Set([
          errorCodeFor(protocol, 'PropertyConstraintViolation'),
          errorCodeFor(protocol, 'FormatViolation'),
        ]);
        const bystander = await openRaw(`${server.wsBase}/BYSTANDER-${protocol}`, 'ocpp1.6');
        const sweeper = await openRaw(`${server.wsBase}/UNSTORABLE-${protocol}`, protocol);
        let sweeping = true;
        const bystanderAnswers: unknown[][] = [];
        // The bystander's rows share group commits with whatever the sweep's messages would have written.
        const bystanding = (async () => {
          for (let n = 0; sweeping; n++) {
            bystanderAnswers.push(
              n % 2
                ? await bystander.call('StatusNotification', {
                    connectorId: 1,
                    errorCode: 'NoError',
                    status: n % 4 === 1 ? 'Available' : 'Preparing',
                  })
                : await bystander.call('MeterValues', {
                    connectorId: 1,
                    meterValue: [
                      {
                        timestamp: new Date().toISOString(),
                        sampledValue: [{ value: String(n), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }],
                      },
                    ],
                  }),
            );
          }
        })();
        const wrong: string[] = [];
        try {
          for (const { action, field, payload } of requests) {
            const frame = await sweeper.call(action, payload);
            const ok =
              frame[0] === 3
                ? (() => {
                    try {
                      validatePayload(protocol, action, 'conf', frame[2]);
                      return true;
                    } catch {
                      return false;
                    }
                  })()
                : frame[0] === 4 && refusals.has(frame[2] as string);
            if (!ok) wrong.push(`${action} ${field}: ${JSON.stringify(frame).slice(0, 200)}`);
          }
        } finally {
          sweeping = false;
          await bystanding;
          await bystander.close();
          await sweeper.close();
        }
        assert.ok(requests.length > 100, `a real sweep (${requests.length} requests)`);
        assert.deepEqual(wrong, [], 'every unstorable value got a CALLERROR of the version or a valid CALLRESULT');
        assert.ok(bystanderAnswers.length > 0);
        assert.deepEqual(
          bystanderAnswers.filter((f) => f[0] !== 3),
          [],
          `all ${bystanderAnswers.length} of the bystander's messages were acknowledged`,
        );
      });
    }

    it('refuses a BootNotification whose vendor holds U+0000 by name, and boots the charger once it is clean', async () => {
      const c = await openRaw(`${server.wsBase}/NUL-VENDOR`, 'ocpp1.6');
      const refused = await c.call('BootNotification', { chargePointVendor: 'Ac\u0000me', chargePointModel: 'X' });
      assert.equal(refused[0], 4);
      assert.equal(refused[2], 'PropertyConstraintViolation');
      assert.match(refused[3] as string, /\/chargePointVendor holds U\+0000/);
      const booted = await c.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'X' });
      assert.equal((booted[2] as { status: string }).status, 'Accepted');
      await c.close();
    });

    it('refuses an integer out of range with the field named, and stores a 1.6 meter register beyond 2^31 Wh', async () => {
      const c = await openRaw(`${server.wsBase}/BIG-INT`, 'ocpp1.6');
      const refused = await c.call('StatusNotification', {
        connectorId: 3_000_000_000,
        errorCode: 'NoError',
        status: 'Available',
      });
      assert.equal(refused[2], 'PropertyConstraintViolation');
      assert.match(refused[3] as string, /\/connectorId 3000000000 is outside/);
      const started = await c.call('StartTransaction', {
        connectorId: 1,
        idTag: 'BIG',
        meterStart: 3_000_000_000,
        timestamp: new Date().toISOString(),
      });
      assert.equal(started[0], 3);
      const row = await server.app.database.db
        .selectFrom('transactions')
        .select('meter_start_wh')
        .where('station_id', '=', 'BIG-INT')
        .executeTakeFirstOrThrow();
      assert.equal(row.meter_start_wh, 3_000_000_000);
      await c.close();
    });

    it('looks at the keys of data the schema leaves open (2.0.1 customData)', async () => {
      const c = await openRaw(`${server.wsBase}/NUL-KEY`, 'ocpp2.0.1');
      const refused = await c.call('Heartbeat', { customData: { vendorId: 'Acme', 'no\u0000te': 1 } });
      assert.equal(refused[2], 'PropertyConstraintViolation');
      assert.match(refused[3] as string, /\/customData\/no\\u0000te holds U\+0000/);
      await c.close();
    });

    it("refuses a charger's CALLRESULT holding U+0000 and stores none of it", async () => {
      const c = await openRaw(`${server.wsBase}/NUL-ANSWER`, 'ocpp1.6');
      await c.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'X' });
      c.ws.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as unknown[];
        if (frame[0] !== 2 || frame[2] !== 'GetConfiguration') return;
        c.ws.send(
          JSON.stringify([
            3,
            frame[1],
            { configurationKey: [{ key: 'MeterValueSampleInterval', readonly: false, value: '6\u00000' }] },
          ]),
        );
      });
      await assert.rejects(server.app.commands.send('NUL-ANSWER', { name: 'getConfiguration' }), /U\+0000/);
      const keys = await server.app.database.db
        .selectFrom('configuration_keys')
        .select('key')
        .where('station_id', '=', 'NUL-ANSWER')
        .execute();
      assert.deepEqual(keys, []);
      await c.close();
    });
  });
}
