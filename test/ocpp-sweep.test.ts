// Every charger-initiated action of both versions, with schema-valid payloads generated from the official
// schemas (seeded, so runs repeat), gets a CALLRESULT whose payload validates against the official answer
// schema, on both storage backends. Generated payloads reference transactions, EVSEs and tokens that do not
// exist: the server must still answer correctly.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { validRequests } from './support/generated-payloads.ts';
import { validatePayload } from '../src/ocpp/rpc/schemas.ts';
import { v16Handlers } from '../src/ocpp/v16/handlers.ts';
import { v201Handlers } from '../src/ocpp/v201/handlers.ts';
import type { OcppProtocol } from '../src/ocpp/rpc/protocols.ts';

const HANDLED: Record<OcppProtocol, string[]> = {
  'ocpp1.6': Object.keys(v16Handlers),
  'ocpp2.0.1': Object.keys(v201Handlers),
};

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
