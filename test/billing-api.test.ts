// Billing over HTTP on both backends: tariffs (validation naming the field, versions on edit, assignment),
// accounts with tokens and wallet top-ups, a session's cost so far on the transaction, CDRs with their PDF
// receipt and credit notes, invoices as JSON and PDF, failed sessions and settlements; every change audited.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PDFParse } from 'pdf-parse';
import { TestClock } from './support/clock.ts';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { apiClient } from './support/api-client.ts';
import { openRaw } from './support/raw-charger.ts';

const BOOTSTRAP = 'billing-bootstrap-key-0123456789abcdef';

const TARIFF = {
  currency: 'EUR',
  elements: [
    {
      price_components: [
        { type: 'ENERGY', price: 0.25, vat: 20, step_size: 1 },
        { type: 'TIME', price: 1.2, vat: 20, step_size: 60 },
      ],
    },
  ],
};

const ev = (txId: string, seqNo: number, eventType: string, time: string, wh: number, extra = {}) => ({
  eventType,
  timestamp: time,
  triggerReason: eventType === 'Started' ? 'Authorized' : eventType === 'Ended' ? 'EVDeparted' : 'MeterValuePeriodic',
  seqNo,
  transactionInfo: { transactionId: txId, chargingState: eventType === 'Ended' ? 'EVConnected' : 'Charging' },
  evse: { id: 1, connectorId: 1 },
  meterValue: [
    {
      timestamp: time,
      sampledValue: [{ value: wh, measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'Wh' } }],
    },
  ],
  ...extra,
});

// These tests drive a raw 2.0.1 charger that does not answer CSMS calls: no CostUpdated (billing-live tests it).
process.env.OPENCPO_COST_UPDATE_INTERVAL_S = 'off';

// The session below is stamped on 2026-11-05; the server's clock stands just after it (and moves to December to
// invoice November), so nothing here depends on the date the test runs.
const clock = new TestClock('2026-11-05T13:00:00Z');

for (const backend of BACKENDS) {
  describe(`billing API on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;
    let tariffId: string;
    let accountId: string;
    let hostId: string;

    before(async () => {
      process.env.OPENCPO_BOOTSTRAP_API_KEY = BOOTSTRAP;
      try {
        server = await startTestServer(backend, { acceptUnknownStations: true }, { clock });
      } finally {
        delete process.env.OPENCPO_BOOTSTRAP_API_KEY;
      }
      admin = apiClient(server.url, BOOTSTRAP);
      await server.app.sessions.upsertIdToken({ idToken: 'API-TOKEN' });
      // API-1 stands at a site host's location, for the settlement report.
      await server.app.stations.register({ id: 'API-1', allowUnauthenticated: true });
      const db = server.app.database.db;
      const org = await db
        .insertInto('organisations')
        .values({ name: 'Host', kind: 'site_host', contact_email: null, retired_at: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      hostId = org.id;
      const loc = await db
        .insertInto('locations')
        .values({
          organisation_id: org.id,
          name: 'Mall',
          address: 'Street 1',
          city: 'Rotterdam',
          postal_code: null,
          country: 'NLD',
          latitude: null,
          longitude: null,
          time_zone: 'Europe/Amsterdam',
          opening_hours: null,
          parking_restrictions: '[]',
          retired_at: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await db
        .insertInto('station_assets')
        .values({ station_id: 'API-1', location_id: loc.id, name: null, retired_at: null })
        .execute();
    });
    after(async () => server.stop());

    it('creates, validates, versions and assigns tariffs', async () => {
      const bad = await admin.post('/api/v1/tariffs', {
        name: 'Bad',
        tariff: { ...TARIFF, elements: [{ price_components: [{ type: 'ENERGY', price: -1, step_size: 1 }] }] },
      });
      assert.equal(bad.status, 400);
      assert.match(bad.body.message, /^body\.tariff\.elements\.0\.price_components\.0\.price /);
      const badTime = await admin.post('/api/v1/tariffs', {
        name: 'Bad',
        tariff: { ...TARIFF, elements: [{ ...TARIFF.elements[0], restrictions: { start_time: '25:00' } }] },
      });
      assert.equal(badTime.status, 400);
      assert.match(badTime.body.message, /^body\.tariff\.elements\.0\.restrictions\.start_time /);

      const created = await admin.post('/api/v1/tariffs', { name: 'API AC', tariff: TARIFF });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.version, 1);
      tariffId = created.body.id;
      const assigned = await admin.post(`/api/v1/tariffs/${tariffId}/assignments`, { stationId: 'API-1' });
      assert.equal(assigned.status, 201);
      const evseWithoutStation = await admin.post(`/api/v1/tariffs/${tariffId}/assignments`, { evseId: 1 });
      assert.equal(evseWithoutStation.status, 400);
      assert.match(evseWithoutStation.body.message, /stationId/);
      const list = await admin.get('/api/v1/tariffs');
      assert.equal(list.body.total, 1);
      const audit = await server.app.database.db
        .selectFrom('audit_log')
        .select('action')
        .where('action', 'like', 'tariff.%')
        .execute();
      assert.deepEqual(audit.map((a) => a.action).sort(), ['tariff.assign', 'tariff.create']);
    });

    it('accounts with tokens and wallet top-ups; a bad amount is refused naming the field', async () => {
      const created = await admin.post('/api/v1/accounts', {
        kind: 'driver',
        name: 'Api Driver',
        currency: 'EUR',
        paymentMethod: 'wallet',
        tokens: ['API-TOKEN'],
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      accountId = created.body.id;
      assert.deepEqual(created.body.tokens, ['API-TOKEN']);
      const bad = await admin.post(`/api/v1/accounts/${accountId}/wallet/top-ups`, {
        amount: '10.005',
        reference: 'x',
      });
      assert.equal(bad.status, 400);
      assert.match(bad.body.message, /amount/);
      const topped = await admin.post(`/api/v1/accounts/${accountId}/wallet/top-ups`, {
        amount: '25.00',
        reference: 'iban transfer',
      });
      assert.equal(topped.status, 200);
      assert.equal(topped.body.walletBalance, '25.00');
    });

    it('shows the cost so far on the transaction, then the CDR, its PDF receipt, a credit, and the invoice PDF', async () => {
      const c = await openRaw(`${server.wsBase}/API-1`, 'ocpp2.0.1');
      const t0 = '2026-11-05T12:00:00.000Z';
      await c.call(
        'TransactionEvent',
        ev('A1', 0, 'Started', t0, 1000, { idToken: { idToken: 'API-TOKEN', type: 'ISO14443' } }),
      );
      await c.call('TransactionEvent', ev('A1', 1, 'Updated', '2026-11-05T12:30:00.000Z', 11_000));
      await server.app.billing.settled();
      const tx = await server.app.database.db
        .selectFrom('transactions')
        .select('id')
        .where('charger_transaction_id', '=', 'A1')
        .executeTakeFirstOrThrow();
      const running = await admin.get(`/api/v1/transactions/${tx.id}`);
      assert.equal(running.status, 200);
      // The session is still running (now is after 12:30), so time keeps counting; energy so far is 10 kWh.
      assert.equal(running.body.cost.currency, 'EUR');
      assert.equal(running.body.cost.tariffVersion, 1);
      assert.equal(running.body.cost.energyKwh, '10');

      await c.call('TransactionEvent', ev('A1', 2, 'Ended', '2026-11-05T12:45:00.000Z', 11_000));
      await server.app.billing.settled();
      const ended = await admin.get(`/api/v1/transactions/${tx.id}`);
      // 10 kWh × 0.25 = 2.50; 45 min × 1.20/h = 0.90 → 3.40 excl.; 20 % → 0.68 → 4.08 incl.
      assert.deepEqual([ended.body.cost.exclVat, ended.body.cost.inclVat], ['3.40', '4.08']);
      const cost = await admin.get(`/api/v1/transactions/${tx.id}/cost`);
      assert.equal(cost.body.inclVat, '4.08');

      const cdr = await admin.get(`/api/v1/cdrs/${tx.id}`);
      assert.equal(cdr.status, 200);
      assert.deepEqual(cdr.body.total, { exclVat: '3.40', vat: '0.68', inclVat: '4.08' });
      assert.equal(cdr.body.ocpi.total_energy, 10);
      const list = await admin.get('/api/v1/cdrs?stationId=API-1');
      assert.equal(list.body.total, 1);

      const pdf = await fetch(`${server.url}/api/v1/cdrs/${tx.id}/receipt.pdf`, {
        headers: { authorization: `Bearer ${BOOTSTRAP}` },
      });
      assert.equal(pdf.status, 200);
      assert.equal(pdf.headers.get('content-type'), 'application/pdf');
      const parser = new PDFParse({ data: new Uint8Array(await pdf.arrayBuffer()) });
      const text = (await parser.getText()).text;
      await parser.destroy();
      assert.match(text, /Total incl\. VAT: 4\.08 EUR/);

      // The wallet paid: 25.00 − 4.08.
      const account = await admin.get(`/api/v1/accounts/${accountId}`);
      assert.equal(account.body.walletBalance, '20.92');

      clock.set('2026-12-01T00:00:00Z'); // November has ended
      const invoices = await admin.post('/api/v1/invoices', { accountId, year: 2026, month: 11 });
      assert.equal(invoices.status, 201);
      assert.equal(invoices.body.length, 1);
      assert.deepEqual(invoices.body[0].total, { exclVat: '3.40', vat: '0.68', inclVat: '4.08' });
      const invoicePdf = await fetch(`${server.url}/api/v1/invoices/${invoices.body[0].id}/invoice.pdf`, {
        headers: { authorization: `Bearer ${BOOTSTRAP}` },
      });
      assert.equal(invoicePdf.headers.get('content-type'), 'application/pdf');
      const p2 = new PDFParse({ data: new Uint8Array(await invoicePdf.arrayBuffer()) });
      const invoiceText = (await p2.getText()).text;
      await p2.destroy();
      assert.ok(invoiceText.includes(invoices.body[0].number));
      assert.match(invoiceText, /Total incl\. VAT: 4\.08 EUR/);

      // Settlement per site host, with a 30 % revenue share of 3.40 excl. VAT = 1.02.
      const hostSettlement = await admin.get(
        '/api/v1/settlements?by=site_host&sharePercent=30&from=2026-11-01T00:00:00.000Z&to=2026-12-01T00:00:00.000Z',
      );
      assert.equal(hostSettlement.status, 200, JSON.stringify(hostSettlement.body));
      assert.deepEqual(hostSettlement.body, [
        {
          party: hostId,
          currency: 'EUR',
          sessions: 1,
          energyKwh: '10',
          total: { exclVat: '3.40', vat: '0.68', inclVat: '4.08' },
          share: '1.02',
        },
      ]);

      const credit = await admin.post(`/api/v1/cdrs/${tx.id}/credit`, { reason: 'goodwill' });
      assert.equal(credit.status, 201);
      assert.deepEqual(credit.body.total, { exclVat: '-3.40', vat: '-0.68', inclVat: '-4.08' });
      assert.equal((await admin.post(`/api/v1/cdrs/${tx.id}/credit`, { reason: 'again' })).status, 409);

      const settlement = await admin.get(
        '/api/v1/settlements?by=partner&from=2026-11-01T00:00:00.000Z&to=2026-12-01T00:00:00.000Z',
      );
      assert.equal(settlement.status, 200);
      assert.deepEqual(settlement.body, [], 'no roaming partner sessions');
      await c.close();
    });

    it('refuses site hosts customer data and anonymous callers everything', async () => {
      assert.equal((await apiClient(server.url).get('/api/v1/tariffs')).status, 401);
      assert.equal((await apiClient(server.url).get('/api/v1/cdrs')).status, 401);
    });
  });
}
