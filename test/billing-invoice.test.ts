// Acceptance, on both backends: a simulated OCPP 2.0.1 charger on a priced location runs a session for a driver
// who pays from a prepaid wallet. The session ends with a CDR whose total is the engine's, the wallet hold is
// captured, the ledger balances, and the monthly invoice (gap-free number) and the receipt are PDFs whose text
// shows the CDR and its total.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PDFParse } from 'pdf-parse';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { SimulatedStation } from '../src/simulator/station.ts';
import { formatMinor } from '../src/billing/money.ts';
import { invoicePdf, receiptPdf } from '../src/billing/pdf.ts';
import { trialBalance, walletOf } from '../src/billing/ledger.ts';

async function pdfText(buffer: Buffer): Promise<string> {
  const parser = new PDFParse({ data: new Uint8Array(buffer) });
  try {
    return (await parser.getText()).text;
  } finally {
    await parser.destroy();
  }
}

/** A clock standing at the first instant of the month after `at` (UTC), when that month may be invoiced. */
const startOfNextMonth = (at: Date) => ({ now: () => Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1) });

// The simulator runs its meter a thousand times faster than the clock, but stamps messages with real time: a
// session of ~0.4 s carries ~0.4 kWh. The minimum duration for billing is configurable; here it is off.
process.env.OPENCPO_BILLING_MIN_DURATION_S = '0';

for (const backend of BACKENDS) {
  describe(`billing acceptance on ${backend}: simulated session → CDR → wallet → invoice PDF`, () => {
    let server: TestServer;
    let station: SimulatedStation;
    let accountId: string;
    const db = () => server.app.database.db;
    const billing = () => server.app.billing;

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true });
      await server.app.sessions.upsertIdToken({ idToken: 'WALLET-1' });
      await server.app.stations.register({ id: 'SIM-PRICED', allowUnauthenticated: true });
      const org = await db()
        .insertInto('organisations')
        .values({ name: 'Operator', kind: 'operator', contact_email: null, retired_at: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      const loc = await db()
        .insertInto('locations')
        .values({
          organisation_id: org.id,
          name: 'Station square',
          address: 'Plein 2',
          city: 'Utrecht',
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
      await db()
        .insertInto('station_assets')
        .values({ station_id: 'SIM-PRICED', location_id: loc.id, name: null, retired_at: null })
        .execute();
      const tariff = await billing().tariffs.create('Square', {
        currency: 'EUR',
        elements: [
          {
            price_components: [
              { type: 'ENERGY', price: 0.39, vat: 21, step_size: 1 },
              { type: 'FLAT', price: 0.35, vat: 21, step_size: 0 },
            ],
          },
        ],
      });
      await billing().tariffs.assign({ tariffId: tariff.id, locationId: loc.id });
      const account = await billing().accounts.create({
        kind: 'driver',
        name: 'Grace Hopper',
        currency: 'EUR',
        paymentMethod: 'wallet',
      });
      accountId = account.id;
      await billing().accounts.addToken(accountId, 'WALLET-1');
      await billing().wallet.topUp(account, 5000, 'bank transfer 42');

      station = new SimulatedStation({
        url: server.wsBase,
        id: 'SIM-PRICED',
        protocol: 'ocpp2.0.1',
        meterIntervalS: 0,
        secondMs: 1, // one protocol second per real millisecond
        autoReconnect: false,
      });
      station.on('problem', () => undefined);
    });
    after(async () => {
      await station.close();
      await server.stop();
    });

    it('ends with a CDR matching the engine, a captured wallet hold, a balanced ledger and an invoice PDF that shows it', async () => {
      await station.connect();
      assert.equal(await station.boot(), 'Accepted');
      await station.reportAllStatuses(true);
      await station.plugIn(1);
      assert.equal((await station.authorize('WALLET-1')).status, 'Accepted');
      await station.startTransaction(1, 'WALLET-1');
      await billing().settled();
      const tx = await db()
        .selectFrom('transactions')
        .select('id')
        .where('station_id', '=', 'SIM-PRICED')
        .executeTakeFirstOrThrow();
      const held = await billing().payments.get(tx.id);
      assert.equal(held?.status, 'held');
      assert.equal(Number(held?.held_amount), 5000);

      await new Promise((r) => setTimeout(r, 400)); // ~400 protocol seconds of charging
      await station.sendMeterValues(1);
      await station.stopTransaction(1, 'Local');
      await billing().settled();

      const cdr = await billing().getCdr(tx.id);
      assert.ok(cdr, 'a CDR was issued');
      assert.ok(cdr.totalInclVat > 35, `more than the flat fee: ${cdr.totalInclVat}`);
      const engine = await billing().priceSoFar(tx.id);
      assert.deepEqual(
        [cdr.totalExclVat, cdr.totalVat, cdr.totalInclVat],
        [engine!.total.exclVat, engine!.total.vat, engine!.total.inclVat],
        'the CDR total is the engine’s total for the stored session',
      );
      // And by hand from the CDR's own energy: kWh × 0.39 + 0.35, VAT 21 % on the rounded-once total.
      const kwh = Number(cdr.totalEnergyKwh);
      const excl = Math.round((kwh * 0.39 + 0.35) * 100);
      assert.ok(Math.abs(cdr.totalExclVat - excl) <= 1, `${cdr.totalExclVat} vs ${excl}`);

      // Wallet: the hold was captured for the CDR total; the ledger balances.
      const payment = await billing().payments.get(tx.id);
      assert.equal(payment?.status, 'captured');
      assert.equal(Number(payment?.captured_amount), cdr.totalInclVat);
      const account = (await billing().accounts.get(accountId))!;
      assert.equal(await billing().wallet.balance(account), 5000 - cdr.totalInclVat);
      const trial = await trialBalance(db());
      assert.deepEqual(trial.totals, { EUR: 0 });
      assert.deepEqual(trial.unbalancedJournals, []);
      const hold = await db()
        .selectFrom('ledger_entries')
        .select((eb) => eb.fn.sum<string>('amount').as('s'))
        .where('ledger_account', '=', `hold:${accountId}`)
        .executeTakeFirstOrThrow();
      assert.equal(Number(hold.s), 0, 'nothing left on hold');
      assert.notEqual(walletOf(accountId), '');

      // A refund goes back to the wallet through the ledger.
      await billing().payments.refund(tx.id, 10);
      assert.equal(await billing().wallet.balance(account), 5000 - cdr.totalInclVat + 10);
      assert.deepEqual((await trialBalance(db())).totals, { EUR: 0 });

      // Monthly invoice: sequential number, the CDR on it, and a PDF that shows it. A month is invoiced once it
      // has ended: billing's clock is set to the first instant of the next month.
      const end = cdr.endDateTime;
      billing().useClock(startOfNextMonth(end));
      const [invoice, ...more] = await billing().invoices.issueMonthly(
        accountId,
        end.getUTCFullYear(),
        end.getUTCMonth() + 1,
      );
      assert.equal(more.length, 0);
      assert.ok(invoice);
      assert.equal(invoice.number, 'DEFAULT-000001');
      assert.equal(invoice.totalInclVat, cdr.totalInclVat);
      assert.deepEqual(
        invoice.body.lines.map((l) => l.cdrId),
        [cdr.id],
      );
      assert.equal((await billing().getCdr(cdr.id))?.invoiceId, invoice.id, 'the CDR is marked as invoiced');
      const again = await billing().invoices.issueMonthly(accountId, end.getUTCFullYear(), end.getUTCMonth() + 1);
      assert.equal(again.length, 0, 'nothing left to bill: no number used up');

      const text = await pdfText(await invoicePdf(invoice));
      assert.match(text, /Invoice DEFAULT-000001/);
      assert.match(text, /Grace Hopper/);
      assert.ok(text.includes(cdr.id), 'the invoice lists the session');
      assert.ok(text.includes(`Total incl. VAT: ${formatMinor(cdr.totalInclVat, 'EUR')} EUR`), text);

      const receipt = await pdfText(await receiptPdf(cdr));
      assert.ok(receipt.includes(`Total incl. VAT: ${formatMinor(cdr.totalInclVat, 'EUR')} EUR`), receipt);
      assert.match(receipt, /Session fee 1 session x 0\.35: 0\.35 EUR excl\. VAT/);
    });

    it('a session whose end was missed (crash) is priced at catch-up and its wallet hold captured', async () => {
      const account = await billing().accounts.create({
        kind: 'driver',
        name: 'Crash test',
        currency: 'EUR',
        paymentMethod: 'wallet',
      });
      await billing().accounts.addToken(account.id, 'WALLET-3');
      await server.app.sessions.upsertIdToken({ idToken: 'WALLET-3' });
      await billing().wallet.topUp(account, 1000, 'cash');
      await station.startTransaction(1, 'WALLET-3');
      await billing().settled();
      const tx = await db()
        .selectFrom('transactions')
        .select('id')
        .where('id_token', '=', 'WALLET-3')
        .executeTakeFirstOrThrow();
      assert.equal((await billing().payments.get(tx.id))?.status, 'held');
      billing().stop(); // the node goes away: nobody hears the end
      await new Promise((r) => setTimeout(r, 200));
      await station.stopTransaction(1, 'Local');
      assert.equal(await billing().getCdr(tx.id), undefined);
      assert.ok((await billing().catchUp()) >= 1);
      const cdr = await billing().getCdr(tx.id);
      assert.ok(cdr);
      const payment = await billing().payments.get(tx.id);
      assert.equal(payment?.status, 'captured');
      assert.equal(Number(payment?.captured_amount), cdr.totalInclVat);
      assert.equal(await billing().wallet.balance(account), 1000 - cdr.totalInclVat);
      assert.deepEqual((await trialBalance(db())).unbalancedJournals, []);
      await billing().start(server.app.events);
    });

    it('invoice numbers are sequential without gaps across accounts', async () => {
      const other = await billing().accounts.create({ kind: 'fleet', name: 'Fleet BV', currency: 'EUR' });
      await billing().accounts.addToken(other.id, 'FLEET-CARD');
      // A CDR for the fleet, via the same path (a raw session would do; reuse the simulator).
      await server.app.sessions.upsertIdToken({ idToken: 'FLEET-CARD' });
      await station.startTransaction(1, 'FLEET-CARD');
      await new Promise((r) => setTimeout(r, 300));
      await station.stopTransaction(1, 'Local');
      await billing().settled();
      const cdr = await db()
        .selectFrom('cdrs')
        .select(['id', 'end_date_time'])
        .where('account_id', '=', other.id)
        .executeTakeFirstOrThrow();
      const end = cdr.end_date_time;
      billing().useClock(startOfNextMonth(end));
      const [invoice] = await billing().invoices.issueMonthly(other.id, end.getUTCFullYear(), end.getUTCMonth() + 1);
      assert.equal(invoice?.number, 'DEFAULT-000002');
      const counters = await db().selectFrom('invoice_counters').selectAll().execute();
      assert.deepEqual(counters, [{ operator_id: 'default', last_number: 2 }]);
    });
  });
}
