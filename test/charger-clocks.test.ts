// Charger clocks on both backends, with an injected clock: a timestamp far in the future or the past is stored at
// its receipt time and opens one clock-fault episode per station (not one event per message).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { MINUTE, TestClock } from './support/clock.ts';
import type { OcppProtocol } from '../src/ocpp/rpc/protocols.ts';

const FAR_FUTURE = '9999-12-31T23:59:59.000Z';
const FAR_PAST = '1970-01-01T00:00:00.000Z';

function status(protocol: OcppProtocol, value: 'Available' | 'Charging' | 'Faulted', timestamp: string) {
  return protocol === 'ocpp1.6'
    ? { connectorId: 1, errorCode: 'NoError', status: value, timestamp }
    : {
        evseId: 1,
        connectorId: 1,
        connectorStatus: value === 'Charging' ? 'Occupied' : value,
        timestamp,
      };
}

for (const backend of BACKENDS) {
  describe(`charger clocks on ${backend}`, () => {
    let server: TestServer;
    const clock = new TestClock('2030-01-01T00:00:00.000Z');
    const db = () => server.app.database.db;

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true }, { clock: clock.now });
    });
    after(() => server.stop());

    for (const protocol of ['ocpp1.6', 'ocpp2.0.1'] as const) {
      it(`${protocol}: a status stamped in the far future or past is stored at its receipt time, once per clock episode`, async () => {
        const id = `CLOCK-STATUS-${protocol}`;
        const c = await openRaw(`${server.wsBase}/${id}`, protocol);
        const connector = () =>
          db()
            .selectFrom('connectors')
            .select(['status', 'status_at'])
            .where('station_id', '=', id)
            .where('evse_id', '=', 1)
            .executeTakeFirstOrThrow();
        const clockFaults = () =>
          db()
            .selectFrom('station_events')
            .select(['kind', 'info', 'occurred_at'])
            .where('station_id', '=', id)
            .where('kind', '=', 'clock_fault')
            .orderBy('id')
            .execute();

        const firstReceipt = clock.now();
        assert.equal((await c.call('StatusNotification', status(protocol, 'Faulted', FAR_FUTURE)))[0], 3);
        assert.equal((await connector()).status_at.toISOString(), firstReceipt.toISOString(), 'stored at receipt');
        clock.advance(MINUTE);
        // Still wrong: the same episode, no second clock fault.
        assert.equal((await c.call('StatusNotification', status(protocol, 'Faulted', FAR_FUTURE)))[0], 3);
        clock.advance(MINUTE);
        // The clock is right again: this report applies (the far-future one did not freeze the connector).
        assert.equal((await c.call('StatusNotification', status(protocol, 'Available', clock.iso())))[0], 3);
        assert.equal((await connector()).status, 'available', 'a later report is not ignored');
        assert.equal((await clockFaults()).length, 1, 'one clock fault for the first episode');

        clock.advance(MINUTE);
        const pastReceipt = clock.now();
        assert.equal((await c.call('StatusNotification', status(protocol, 'Faulted', FAR_PAST)))[0], 3);
        const row = await connector();
        assert.equal(row.status, 'faulted');
        assert.equal(row.status_at.toISOString(), pastReceipt.toISOString());
        const faults = await clockFaults();
        assert.equal(faults.length, 2, 'a new episode, a new clock fault');
        assert.deepEqual(
          faults.map((f) => f.occurred_at.toISOString()),
          [firstReceipt.toISOString(), pastReceipt.toISOString()],
        );
        assert.match(faults[0]!.info ?? '', /9999-12-31/);
        const timeline = await db()
          .selectFrom('connector_status')
          .select('occurred_at')
          .where('station_id', '=', id)
          .where('evse_id', '=', 1)
          .execute();
        for (const t of timeline) assert.ok(t.occurred_at.getFullYear() === 2030, t.occurred_at.toISOString());
        await c.close();
      });
    }
  });
}
