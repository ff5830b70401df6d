// Invoicing rules on both backends: a month is invoiced once it has ended (by the clock billing is given, never
// the wall clock); CDRs and credit CDRs that arrive after a month was invoiced go on a supplementary invoice of
// that month; numbers stay sequential without gaps, also when invoices are issued concurrently; concurrent
// credits of one CDR give one credit CDR and refuse the rest.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, openTestDatabase, type TestServer } from './support/backends.ts';
import { startWithAdminKey } from './support/admin-server.ts';
import { apiClient } from './support/api-client.ts';
import { insertCdr } from './support/billing-rows.ts';
import { TestClock } from './support/clock.ts';
import type { OpenDatabase } from '../src/storage/database.ts';
import { AccountsService } from '../src/billing/accounts.ts';
import { InvoicesService } from '../src/billing/invoices.ts';
import { creditCdr } from '../src/billing/cdrs.ts';

for (const backend of BACKENDS) {
  describe(`invoicing rules on ${backend}`, () => {
    let database: OpenDatabase;
    let accountId: string;
    const db = () => database.db;
    const counter = async () =>
      (await db().selectFrom('invoice_counters').select('last_number').executeTakeFirst())?.last_number ?? 0;

    before(async () => {
      database = await openTestDatabase(backend);
      accountId = (await new AccountsService(db()).create({ kind: 'fleet', name: 'Late Fleet', currency: 'EUR' })).id;
    });
    after(async () => database.close());

    it('refuses a month that has not ended by the injected clock, and uses no number for it', async () => {
      await insertCdr(db(), { id: 'NOV-1', accountId, endedAt: '2026-11-10T10:00:00Z', inclVat: 1200 });
      const clock = new TestClock('2026-11-30T23:59:59.999Z');
      const invoices = new InvoicesService(db(), 'late', clock);
      await assert.rejects(invoices.issueMonthly(accountId, 2026, 11), { name: 'InvoicePeriodOpenError' });
      await assert.rejects(invoices.issueMonthly(accountId, 2027, 1), { name: 'InvoicePeriodOpenError' });
      assert.equal(await counter(), 0, 'no number was used up');

      clock.set('2026-12-01T00:00:00Z');
      const [invoice, ...more] = await invoices.issueMonthly(accountId, 2026, 11);
      assert.equal(more.length, 0);
      assert.equal(invoice?.number, 'LATE-000001');
      assert.equal(invoice?.supplement, 0);
      assert.equal(invoice?.body.issuedAt, '2026-12-01T00:00:00.000Z', 'issued at the clock’s time');
      assert.deepEqual(
        invoice?.body.lines.map((l) => l.cdrId),
        ['NOV-1'],
      );
    });

    it('bills a late CDR and a credit of an invoiced month on a supplementary invoice with the next number', async () => {
      const invoices = new InvoicesService(db(), 'late', new TestClock('2026-12-20T00:00:00Z'));
      // Heard of after the month was invoiced (a session priced at catch-up), and a correction of the first.
      await insertCdr(db(), { id: 'NOV-2', accountId, endedAt: '2026-11-29T22:00:00Z', inclVat: 600 });
      await creditCdr(db(), 'NOV-1', 'meter fault');
      const [supplement, ...more] = await invoices.issueMonthly(accountId, 2026, 11);
      assert.equal(more.length, 0);
      assert.equal(supplement?.number, 'LATE-000002');
      assert.equal(supplement?.supplement, 1);
      assert.equal(supplement?.body.supplementTo, 'LATE-000001');
      assert.equal(supplement?.periodStart.toISOString(), '2026-11-01T00:00:00.000Z');
      assert.deepEqual(supplement?.body.lines.map((l) => [l.cdrId, l.credit]).sort(), [
        ['NOV-1-CR', true],
        ['NOV-2', false],
      ]);
      assert.equal(supplement?.totalInclVat, 600 - 1200);
      assert.deepEqual(await invoices.issueMonthly(accountId, 2026, 11), [], 'nothing left: no number used');
      assert.equal(await counter(), 2);
    });

    it('concurrent issues of one month bill every CDR once, with consecutive numbers', async () => {
      const invoices = new InvoicesService(db(), 'late', new TestClock('2027-01-02T00:00:00Z'));
      for (let i = 0; i < 4; i++)
        await insertCdr(db(), { id: `DEC-${i}`, accountId, endedAt: `2026-12-1${i}T08:00:00Z`, inclVat: 100 + i });
      const runs = await Promise.all([1, 2, 3].map(() => invoices.issueMonthly(accountId, 2026, 12)));
      const issued = runs.flat();
      assert.equal(issued.length, 1, 'one invoice for the month');
      assert.equal(issued[0]?.number, 'LATE-000003');
      assert.equal(await counter(), 3);
      const billed = await db().selectFrom('cdrs').select('invoice_id').where('id', 'like', 'DEC-%').execute();
      assert.deepEqual(
        billed.map((b) => b.invoice_id),
        [1, 2, 3, 4].map(() => issued[0]!.id),
      );
    });

    it('concurrent credits of one CDR give one credit CDR; the others are refused as already credited', async () => {
      await insertCdr(db(), { id: 'JAN-1', accountId, endedAt: '2027-01-05T08:00:00Z', inclVat: 500 });
      const results = await Promise.allSettled([1, 2, 3, 4].map((n) => creditCdr(db(), 'JAN-1', `try ${n}`)));
      const done = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(done.length, 1);
      assert.equal(refused.length, 3);
      for (const r of refused) assert.equal((r.reason as Error).name, 'CdrAlreadyCreditedError', String(r.reason));
      const credits = await db().selectFrom('cdrs').select('id').where('credit_reference_id', '=', 'JAN-1').execute();
      assert.deepEqual(credits, [{ id: 'JAN-1-CR' }]);
    });
  });
}

const BOOTSTRAP = 'invoicing-bootstrap-key-0123456789abcdef';

for (const backend of BACKENDS) {
  describe(`invoicing over the API on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;
    let accountId: string;
    const db = () => server.app.database.db;

    before(async () => {
      ({ server, admin } = await startWithAdminKey(backend, BOOTSTRAP));
      const account = await admin.post('/api/v1/accounts', { kind: 'driver', name: 'Api Late', currency: 'EUR' });
      accountId = account.body.id;
    });
    after(async () => server.stop());

    it('concurrent credits of one CDR answer one 201 and 409 for the rest', async () => {
      await insertCdr(db(), { id: 'API-CR-1', accountId, endedAt: '2026-10-03T08:00:00Z', inclVat: 900 });
      const answers = await Promise.all(
        [1, 2, 3, 4].map((n) => admin.post('/api/v1/cdrs/API-CR-1/credit', { reason: `attempt ${n}` })),
      );
      assert.deepEqual(
        answers.map((a) => a.status).sort(),
        [201, 409, 409, 409],
        JSON.stringify(answers.map((a) => a.body)),
      );
      const refused = answers.find((a) => a.status === 409)!;
      assert.match(refused.body.message, /already credited by API-CR-1-CR/);
    });

    it('refuses a month that has not ended (422 naming body.month) and bills late CDRs on a supplementary invoice', async () => {
      const clock = new TestClock('2026-12-15T09:00:00Z');
      server.app.billing.useClock(clock);
      await insertCdr(db(), { id: 'API-NOV-1', accountId, endedAt: '2026-11-20T08:00:00Z', inclVat: 1000 });
      await insertCdr(db(), { id: 'API-DEC-1', accountId, endedAt: '2026-12-02T08:00:00Z', inclVat: 700 });
      const open = await admin.post('/api/v1/invoices', { accountId, year: 2026, month: 12 });
      assert.equal(open.status, 422, JSON.stringify(open.body));
      assert.match(open.body.message, /^body\.month /);

      const first = await admin.post('/api/v1/invoices', { accountId, year: 2026, month: 11 });
      assert.equal(first.status, 201, JSON.stringify(first.body));
      assert.deepEqual(
        first.body.map((i: { number: string; supplement: number }) => [i.number, i.supplement]),
        [['DEFAULT-000001', 0]],
      );
      await insertCdr(db(), { id: 'API-NOV-2', accountId, endedAt: '2026-11-30T23:30:00Z', inclVat: 300 });
      const late = await admin.post('/api/v1/invoices', { accountId, year: 2026, month: 11 });
      assert.equal(late.status, 201, JSON.stringify(late.body));
      assert.equal(late.body[0].number, 'DEFAULT-000002');
      assert.equal(late.body[0].supplement, 1);
      assert.equal(late.body[0].body.supplementTo, 'DEFAULT-000001');
      assert.deepEqual(late.body[0].total, { exclVat: '2.50', vat: '0.50', inclVat: '3.00' });

      clock.set('2027-01-01T00:00:00Z');
      const december = await admin.post('/api/v1/invoices', { accountId, year: 2026, month: 12 });
      assert.equal(december.status, 201);
      assert.equal(december.body[0].number, 'DEFAULT-000003');
    });
  });
}
