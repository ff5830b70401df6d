// A session billed in another currency than its account's (a tariff in USD, a wallet in EUR) cannot be
// captured from the wallet: the payment is left for someone to settle by hand, and the hold placed at the
// start goes back to the wallet at once, on both backends, with the ledger balanced.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, openTestDatabase } from './support/backends.ts';
import type { OpenDatabase } from '../src/storage/database.ts';
import { AccountsService } from '../src/billing/accounts.ts';
import { PaymentsService, WalletProvider } from '../src/billing/payments.ts';
import { balance, holdOf, trialBalance, walletOf } from '../src/billing/ledger.ts';

for (const backend of BACKENDS) {
  describe(`a wallet hold and a CDR in another currency on ${backend}`, () => {
    let database: OpenDatabase;
    const db = () => database.db;

    before(async () => {
      database = await openTestDatabase(backend);
    });
    after(async () => database.close());

    it('releases the hold and leaves the payment as currency_mismatch', async () => {
      const account = await new AccountsService(db()).create({
        kind: 'driver',
        name: 'Euro wallet',
        currency: 'EUR',
        paymentMethod: 'wallet',
      });
      const wallet = new WalletProvider(db());
      const payments = new PaymentsService(db(), { holdAmountMinor: 3000 });
      payments.use(wallet);
      await wallet.topUp(account, 5000, 'bank transfer');

      const started = await payments.sessionStarted('TX-USD', account);
      assert.equal(started?.status, 'held');
      assert.equal(await balance(db(), holdOf(account.id), 'EUR'), 3000);
      assert.equal(await wallet.balance(account), 2000);

      const settled = await payments.settle('TX-USD', account, 1234, 'USD');
      assert.equal(settled?.status, 'currency_mismatch');
      assert.match(settled?.last_error ?? '', /USD.*EUR/);
      assert.equal(await balance(db(), holdOf(account.id), 'EUR'), 0, 'nothing left on hold');
      assert.equal(await wallet.balance(account), 5000, 'the hold is back in the wallet');
      assert.equal(await balance(db(), walletOf(account.id), 'USD'), 0, 'nothing was taken in USD');
      assert.deepEqual(await trialBalance(db()), { totals: { EUR: 0 }, unbalancedJournals: [] });

      // Settling again (the CDR heard twice: event and catch-up) releases nothing more.
      await payments.settle('TX-USD', account, 1234, 'USD');
      assert.equal(await wallet.balance(account), 5000);
      assert.equal(await balance(db(), holdOf(account.id), 'EUR'), 0);
    });
  });
}
