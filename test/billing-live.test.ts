// Live cost on both backends: the price is shown before the start (2.0.1 personalMessage on Authorize), and a
// 2.0.1 charger receives CostUpdated with the running total while the session goes on.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { SimulatedStation } from '../src/simulator/station.ts';

process.env.OPENCPO_COST_UPDATE_INTERVAL_S = '0'; // every progress report, so the test need not wait

for (const backend of BACKENDS) {
  describe(`live cost on ${backend}`, () => {
    let server: TestServer;

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true });
      await server.app.sessions.upsertIdToken({ idToken: 'LIVE-1' });
      const tariff = await server.app.billing.tariffs.create('Everywhere', {
        currency: 'EUR',
        elements: [
          {
            price_components: [
              { type: 'ENERGY', price: 0.3, vat: 21, step_size: 1 },
              { type: 'TIME', price: 1.2, vat: 21, step_size: 1 },
              { type: 'FLAT', price: 0.5, vat: 21, step_size: 0 },
            ],
          },
        ],
      });
      await server.app.billing.tariffs.assign({ tariffId: tariff.id });
    });
    after(async () => server.stop());

    it('2.0.1 Authorize carries the price in idTokenInfo.personalMessage, components in AFIR order, incl. VAT', async () => {
      const c = await openRaw(`${server.wsBase}/LIVE-AUTH`, 'ocpp2.0.1');
      const answer = await c.call('Authorize', { idToken: { idToken: 'LIVE-1', type: 'ISO14443' } });
      const info = (
        answer[2] as { idTokenInfo: { status: string; personalMessage?: { format: string; content: string } } }
      ).idTokenInfo;
      assert.equal(info.status, 'Accepted');
      // 0.30 × 1.21 = 0.363/kWh; 1.20 × 1.21 / 60 = 0.0242/min; 0.50 × 1.21 = 0.605/session.
      assert.deepEqual(info.personalMessage, {
        format: 'UTF8',
        content: '0.363 EUR/kWh, 0.0242 EUR/min, 0.605 EUR/session incl. VAT',
      });
      const unknown = await c.call('Authorize', { idToken: { idToken: 'NOBODY', type: 'ISO14443' } });
      assert.equal((unknown[2] as any).idTokenInfo.personalMessage, undefined, 'no price for a refused token');
      await c.close();
    });

    it('a 2.0.1 charger receives CostUpdated with the running total while charging', async () => {
      const s = new SimulatedStation({
        url: server.wsBase,
        id: 'LIVE-201',
        protocol: 'ocpp2.0.1',
        meterIntervalS: 0,
        secondMs: 1,
        autoReconnect: false,
      });
      s.on('problem', () => undefined);
      try {
        await s.connect();
        await s.boot();
        await s.reportAllStatuses(true);
        await s.startTransaction(1, 'LIVE-1');
        await server.app.billing.settled();
        await new Promise((r) => setTimeout(r, 200));
        await s.sendMeterValues(1);
        await server.app.billing.settled();
        const sent = await server.app.database.db
          .selectFrom('command_log')
          .selectAll()
          .where('station_id', '=', 'LIVE-201')
          .where('command', '=', 'costUpdated')
          .execute();
        assert.ok(sent.length >= 1, 'CostUpdated was sent');
        const last = sent[sent.length - 1]!;
        assert.equal(last.action, 'CostUpdated');
        assert.equal(last.status, 'accepted');
        assert.equal(last.requested_by, 'billing');
        const request = last.request as { chargerTransactionId: string; totalCost: number };
        const tx = await server.app.database.db
          .selectFrom('transactions')
          .select(['id', 'charger_transaction_id'])
          .where('station_id', '=', 'LIVE-201')
          .executeTakeFirstOrThrow();
        assert.equal(request.chargerTransactionId, tx.charger_transaction_id);
        assert.ok(request.totalCost >= 0.61, `at least the flat fee incl. VAT: ${request.totalCost}`);
        await s.stopTransaction(1, 'Local');
        await server.app.billing.settled();
      } finally {
        await s.close();
      }
    });

    it('1.6 chargers get no CostUpdated (1.6 has none): the running cost is for the app, through the API', async () => {
      const s = new SimulatedStation({
        url: server.wsBase,
        id: 'LIVE-16',
        protocol: 'ocpp1.6',
        meterIntervalS: 0,
        secondMs: 1,
        autoReconnect: false,
      });
      s.on('problem', () => undefined);
      try {
        await s.connect();
        await s.boot();
        await s.startTransaction(1, 'LIVE-1');
        await new Promise((r) => setTimeout(r, 100));
        await s.sendMeterValues(1);
        await server.app.billing.settled();
        const sent = await server.app.database.db
          .selectFrom('command_log')
          .select('id')
          .where('station_id', '=', 'LIVE-16')
          .where('command', '=', 'costUpdated')
          .execute();
        assert.equal(sent.length, 0);
        const tx = await server.app.database.db
          .selectFrom('transactions')
          .select('id')
          .where('station_id', '=', 'LIVE-16')
          .executeTakeFirstOrThrow();
        const cost = await server.app.billing.costSoFar(tx.id);
        assert.equal(cost?.currency, 'EUR');
        await s.stopTransaction(1, 'Local');
        await server.app.billing.settled();
      } finally {
        await s.close();
      }
    });
  });
}
