// Charger clocks on both backends, with an injected clock: a timestamp far in the future or the past is stored at
// its receipt time and opens one clock-fault episode per station (not one event per message); and the energy of
// a transaction comes from its meter readings in the order the charger sent them, whatever their timestamps say,
// so the transaction, its CDR and EV-ChART agree.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { TestClock } from './support/clock.ts';
import { isoAt, MINUTE } from './support/ocpp-time.ts';
import { pricedSite } from './support/priced-site.ts';
import { EvChartReports } from '../src/uptime/evchart.ts';
import type { OcppProtocol } from '../src/ocpp/rpc/protocols.ts';

// Raw chargers here answer no CSMS calls: no CostUpdated.
process.env.OPENCPO_COST_UPDATE_INTERVAL_S = 'off';

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
      server = await startTestServer(backend, { acceptUnknownStations: true }, { clock });
      await pricedSite(server.app, ['CLOCK-BILLED'], 'DRIVER-1');
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

        const firstReceipt = new Date(clock.now());
        assert.equal((await c.call('StatusNotification', status(protocol, 'Faulted', FAR_FUTURE)))[0], 3);
        assert.equal((await connector()).status_at.toISOString(), firstReceipt.toISOString(), 'stored at receipt');
        clock.advance(MINUTE);
        // Still wrong: the same episode, no second clock fault.
        assert.equal((await c.call('StatusNotification', status(protocol, 'Faulted', FAR_FUTURE)))[0], 3);
        clock.advance(MINUTE);
        // The clock is right again: this report applies (the far-future one did not freeze the connector).
        assert.equal((await c.call('StatusNotification', status(protocol, 'Available', isoAt(clock))))[0], 3);
        assert.equal((await connector()).status, 'available', 'a later report is not ignored');
        assert.equal((await clockFaults()).length, 1, 'one clock fault for the first episode');

        clock.advance(MINUTE);
        const pastReceipt = new Date(clock.now());
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

    it('1.6: a stop stamped before its start: the energy of the readings as sent, in the transaction, the CDR and EV-ChART', async () => {
      const c = await openRaw(`${server.wsBase}/CLOCK-BILLED`, 'ocpp1.6');
      const startedAt = isoAt(clock);
      const start = await c.call('StartTransaction', {
        connectorId: 1,
        idTag: 'DRIVER-1',
        meterStart: 1000,
        timestamp: startedAt,
      });
      const transactionId = (start[2] as { transactionId: number }).transactionId;
      await server.app.billing.settled();
      clock.advance(10 * MINUTE);
      // The charger's clock jumped back: a reading stamped before the start, and one far in the future.
      await c.call('MeterValues', {
        connectorId: 1,
        transactionId,
        meterValue: [{ timestamp: isoAt(clock, -15 * MINUTE), sampledValue: [{ value: '6000' }] }],
      });
      clock.advance(10 * MINUTE);
      const futureReceipt = new Date(clock.now());
      await c.call('MeterValues', {
        connectorId: 1,
        transactionId,
        meterValue: [{ timestamp: FAR_FUTURE, sampledValue: [{ value: '12000' }] }],
      });
      clock.advance(10 * MINUTE);
      const stopReceipt = new Date(clock.now());
      await c.call('StopTransaction', {
        transactionId,
        meterStop: 20_000,
        timestamp: isoAt(clock, -40 * MINUTE), // ten minutes before the start
        reason: 'Local',
      });
      await server.app.billing.settled();

      const tx = await db()
        .selectFrom('transactions')
        .selectAll()
        .where('station_id', '=', 'CLOCK-BILLED')
        .executeTakeFirstOrThrow();
      assert.equal(tx.meter_start_wh, 1000, 'meterStart as the charger sent it');
      assert.equal(tx.meter_stop_wh, 20_000, 'meterStop as the charger sent it');
      assert.equal(tx.energy_wh, 19_000);
      assert.equal(tx.started_at?.toISOString(), startedAt);
      assert.equal(
        tx.stopped_at?.toISOString(),
        stopReceipt.toISOString(),
        'an end before the start takes its receipt',
      );
      const future = await db()
        .selectFrom('meter_samples')
        .select('sampled_at')
        .where('transaction_id', '=', tx.id)
        .where('value', '=', 12_000)
        .executeTakeFirstOrThrow();
      assert.equal(future.sampled_at.toISOString(), futureReceipt.toISOString());

      const cdr = await server.app.billing.getCdr(tx.id);
      assert.ok(cdr, 'the session is billed');
      assert.equal(Number(cdr.totalEnergyKwh), 19, 'the CDR says what the transaction says');
      assert.equal((cdr.body as { total_energy: number }).total_energy, 19);
      // 19 kWh × 0.30 + 0.50 flat.
      assert.equal(cdr.totalExclVat, 620);

      const reports = new EvChartReports(db(), server.app.uptime, {
        networkProvider: 'test',
        stationIds: ['CLOCK-BILLED'],
      });
      const [row] = await reports.module2('2030Q1');
      assert.ok(row);
      assert.equal(row.energy_kwh, '19.00');
      assert.ok(row.session_end! >= row.session_start!, `${row.session_start} → ${row.session_end}`);
      await c.close();
    });
  });
}
