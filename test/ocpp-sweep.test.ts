// Every charger-initiated action of both versions, with schema-valid payloads generated from the official
// schemas (seeded, so runs repeat), gets a CALLRESULT whose payload validates against the official answer
// schema, on both storage backends. Generated payloads reference transactions, EVSEs and tokens that do not
// exist: the server must still answer correctly.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { generate } from 'json-schema-faker';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { validatePayload } from '../src/ocpp/rpc/schemas.ts';
import { v16Handlers } from '../src/ocpp/v16/handlers.ts';
import { v201Handlers } from '../src/ocpp/v201/handlers.ts';
import type { OcppProtocol } from '../src/ocpp/rpc/protocols.ts';

const require = createRequire(import.meta.url);
const schemaDir = join(dirname(require.resolve('ocpp-rpc/package.json')), 'lib', 'schemas');
const FILES: Record<OcppProtocol, string> = { 'ocpp1.6': 'ocpp1_6.json', 'ocpp2.0.1': 'ocpp2_0_1.json' };
const HANDLED: Record<OcppProtocol, string[]> = {
  'ocpp1.6': Object.keys(v16Handlers),
  'ocpp2.0.1': Object.keys(v201Handlers),
};

/** The generator trips over one nested enum of this schema; a hand-written valid request stands in. */
const HAND_WRITTEN: Record<string, unknown> = {
  'ocpp2.0.1 ReportChargingProfiles': {
    requestId: 1,
    chargingLimitSource: 'CSO',
    evseId: 1,
    chargingProfile: [
      {
        id: 1,
        stackLevel: 0,
        chargingProfilePurpose: 'TxDefaultProfile',
        chargingProfileKind: 'Absolute',
        chargingSchedule: [{ id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] }],
      },
    ],
  },
};

/** Up to `count` distinct schema-valid requests for an action. */
async function validRequests(protocol: OcppProtocol, action: string, count: number): Promise<unknown[]> {
  const docs = JSON.parse(readFileSync(join(schemaDir, FILES[protocol]), 'utf8')) as { $id: string }[];
  const {
    $id: _id,
    $schema: _schema,
    ...schema
  } = docs.find((d) => d.$id === `urn:${action}.req`) as Record<string, unknown>;
  const found: unknown[] = [];
  for (let seed = 1; seed <= 40 && found.length < count; seed++) {
    const payload = await generate(schema as never, { seed, optionalsProbability: seed % 2 ? 0 : 0.6, maxItems: 2 });
    try {
      validatePayload(protocol, action, 'req', payload);
      found.push(payload);
    } catch {
      // the generator produced something the schema rejects: try the next seed
    }
  }
  const hand = HAND_WRITTEN[`${protocol} ${action}`];
  if (hand) found.push(hand);
  return found;
}

for (const backend of BACKENDS) {
  describe(`every charger-initiated action on ${backend}`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true });
    });
    after(() => server.stop());

    for (const protocol of ['ocpp1.6', 'ocpp2.0.1'] as const) {
      it(`${protocol}: ${HANDLED[protocol].length} actions answered with schema-valid CALLRESULTs`, async () => {
        const c = await openRaw(`${server.wsBase}/SWEEP-${protocol}`, protocol);
        for (const action of HANDLED[protocol]) {
          const requests = await validRequests(protocol, action, 3);
          assert.ok(requests.length > 0, `a valid ${action} request could be built`);
          for (const request of requests) {
            const frame = await c.call(action, request);
            assert.equal(frame[0], 3, `${action} answered with a CALLRESULT: ${JSON.stringify(frame).slice(0, 300)}`);
            assert.doesNotThrow(() => validatePayload(protocol, action, 'conf', frame[2]), `${action} answer is valid`);
          }
        }
        await c.close();
      });
    }
  });
}
