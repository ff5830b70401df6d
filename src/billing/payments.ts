// Payments: a provider interface, the prepaid wallet (in the ledger) as one provider, and the coordinator that
// places a hold when a session starts and captures the CDR total when it ends. Charging never waits for a
// provider: a hold that fails is recorded and the session goes on; a capture that fails is stored as
// capture_pending and retried with backoff from the payments table, so a restart loses nothing.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { AccountsService, type Account } from './accounts.ts';
import { EXTERNAL, REVENUE, balance, holdOf, post, walletOf } from './ledger.ts';
import type { Executor } from '../storage/transactions.ts';

export interface PaymentContext {
  paymentId: string;
  account: Account;
  currency: string;
  transactionId: string;
}

/** The provider said no (card declined, insufficient funds): not worth retrying. */
export class PaymentDeclinedError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'PaymentDeclinedError';
  }
}

export interface PaymentProvider {
  readonly name: 'wallet' | 'stripe';
  /** Reserves an amount; returns the provider's reference for the hold. */
  hold(ctx: PaymentContext, amountMinor: number): Promise<{ ref: string; amountMinor: number }>;
  /** Takes the final amount (which may differ from the hold; the rest is released). */
  capture(ctx: PaymentContext, ref: string | null, heldMinor: number, amountMinor: number): Promise<void>;
  /** Gives the whole hold back (a session that is not billed). */
  release(ctx: PaymentContext, ref: string | null, heldMinor: number): Promise<void>;
  refund(ctx: PaymentContext, ref: string | null, amountMinor: number): Promise<void>;
}

/** The prepaid wallet: holds and captures are ledger journals; nothing external can be down. */
export class WalletProvider implements PaymentProvider {
  readonly name = 'wallet' as const;
  constructor(private readonly db: Kysely<Database>) {}

  async topUp(account: Account, amountMinor: number, reference: string, db: Executor = this.db): Promise<void> {
    if (!Number.isSafeInteger(amountMinor) || amountMinor <= 0)
      throw new RangeError('top-up must be a positive amount');
    await post(db, account.currency, 'top_up', reference, [
      { account: EXTERNAL, amount: -amountMinor },
      { account: walletOf(account.id), amount: amountMinor },
    ]);
  }

  balance(account: Account, db: Executor = this.db): Promise<number> {
    return balance(db, walletOf(account.id), account.currency);
  }

  async hold(ctx: PaymentContext, amountMinor: number) {
    // What the wallet holds is at most what is in it; an empty wallet declines.
    return this.db.transaction().execute(async (trx) => {
      const available = await balance(trx, walletOf(ctx.account.id), ctx.currency);
      const amount = Math.min(amountMinor, available);
      if (amount <= 0) throw new PaymentDeclinedError('insufficient wallet balance', 'insufficient_funds');
      await post(trx, ctx.currency, 'hold', ctx.transactionId, [
        { account: walletOf(ctx.account.id), amount: -amount },
        { account: holdOf(ctx.account.id), amount },
      ]);
      return { ref: ctx.paymentId, amountMinor: amount };
    });
  }

  async capture(ctx: PaymentContext, _ref: string | null, heldMinor: number, amountMinor: number): Promise<void> {
    // The hold goes back to the wallet and the total goes to revenue, in one journal. A total above the hold
    // leaves the wallet negative: the session was delivered, the customer owes the rest.
    await post(this.db, ctx.currency, 'capture', ctx.transactionId, [
      { account: holdOf(ctx.account.id), amount: -heldMinor },
      { account: walletOf(ctx.account.id), amount: heldMinor - amountMinor },
      { account: REVENUE, amount: amountMinor },
    ]);
  }

  async release(ctx: PaymentContext, _ref: string | null, heldMinor: number): Promise<void> {
    await post(this.db, ctx.currency, 'release', ctx.transactionId, [
      { account: holdOf(ctx.account.id), amount: -heldMinor },
      { account: walletOf(ctx.account.id), amount: heldMinor },
    ]);
  }

  async refund(ctx: PaymentContext, _ref: string | null, amountMinor: number): Promise<void> {
    await post(this.db, ctx.currency, 'refund', ctx.transactionId, [
      { account: REVENUE, amount: -amountMinor },
      { account: walletOf(ctx.account.id), amount: amountMinor },
    ]);
  }
}

export interface PaymentRow {
  id: string;
  transaction_id: string;
  account_id: string;
  provider: string;
  currency: string;
  status: string;
  held_amount: string;
  captured_amount: string;
  refunded_amount: string;
  provider_ref: string | null;
  attempts: number;
  next_attempt_at: Date | null;
  last_error: string | null;
}

export interface PaymentsOptions {
  holdAmountMinor: number;
  /** Backoff before the n-th retry of a capture, ms. */
  retryDelayMs?: (attempt: number) => number;
  onError?: (err: Error, context: string) => void;
}

export class PaymentsService {
  private readonly providers = new Map<string, PaymentProvider>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: PaymentsOptions,
  ) {}

  use(provider: PaymentProvider): void {
    this.providers.set(provider.name, provider);
  }

  provider(name: string): PaymentProvider | undefined {
    return this.providers.get(name);
  }

  /** At session start: a hold for accounts that pay by wallet or card. Never throws into the session. */
  async sessionStarted(transactionId: string, account: Account | undefined): Promise<PaymentRow | undefined> {
    if (!account) return undefined;
    const provider = this.providers.get(account.paymentMethod);
    if (!provider) return undefined;
    const id = randomUUID();
    const inserted = await this.db
      .insertInto('payments')
      .values({
        id,
        transaction_id: transactionId,
        account_id: account.id,
        provider: provider.name,
        currency: account.currency,
        status: 'holding',
      })
      .onConflict((oc) => oc.column('transaction_id').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) return this.get(transactionId);
    const ctx = { paymentId: id, account, currency: account.currency, transactionId };
    let held: { ref: string; amountMinor: number } | undefined;
    let failure: Error | undefined;
    try {
      held = await provider.hold(ctx, this.options.holdAmountMinor);
    } catch (err) {
      failure = err as Error;
    }
    // Declined or unreachable: the session goes on; the total is captured (or chased) at the end.
    const row = await this.db
      .updateTable('payments')
      .set(
        held
          ? { status: 'held', held_amount: held.amountMinor, provider_ref: held.ref, updated_at: new Date() }
          : { status: 'hold_failed', last_error: failure!.message, updated_at: new Date() },
      )
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row ?? this.get(transactionId);
  }

  /**
   * At the CDR: capture its total (incl. VAT), or release the hold when nothing is owed. A CDR in another currency
   * than the account's is not captured (status currency_mismatch, for someone to settle by hand), and its hold,
   * in the account's currency, is released: it would otherwise stay reserved for ever.
   */
  async settle(
    transactionId: string,
    account: Account | undefined,
    totalMinor: number,
    currency?: string,
  ): Promise<PaymentRow | undefined> {
    if (account && currency && totalMinor !== 0 && currency !== account.currency) {
      await this.settleCurrencyMismatch(transactionId, account, currency);
      return this.get(transactionId);
    }
    let row = await this.get(transactionId);
    if (!row && account && this.providers.has(account.paymentMethod) && totalMinor > 0) {
      // No hold was placed (start missed): capture without one.
      await this.db
        .insertInto('payments')
        .values({
          id: randomUUID(),
          transaction_id: transactionId,
          account_id: account.id,
          provider: account.paymentMethod,
          currency: account.currency,
          status: 'hold_failed',
        })
        .onConflict((oc) => oc.column('transaction_id').doNothing())
        .execute();
      row = await this.get(transactionId);
    }
    if (!row) return row;
    // Claimed atomically: a CDR handled twice (event and catch-up) is settled once.
    const claimed = await this.db
      .updateTable('payments')
      .set({
        status: 'capture_pending',
        captured_amount: totalMinor,
        next_attempt_at: new Date(),
        updated_at: new Date(),
      })
      .where('id', '=', row.id)
      .where('status', 'in', ['held', 'hold_failed', 'holding'])
      .returning('id')
      .executeTakeFirst();
    if (!claimed) return row;
    await this.attempt(row.id, new Date(), account);
    return this.get(transactionId);
  }

  private async settleCurrencyMismatch(transactionId: string, account: Account, currency: string): Promise<void> {
    // Claimed atomically, as a capture is: a CDR settled twice (event and catch-up) releases the hold once.
    const claimed = await this.db
      .updateTable('payments')
      .set({
        status: 'currency_mismatch',
        last_error: `CDR in ${currency}, account in ${account.currency}`,
        updated_at: new Date(),
      })
      .where('transaction_id', '=', transactionId)
      .where('status', 'in', ['held', 'hold_failed', 'holding'])
      .returningAll()
      .executeTakeFirst();
    const held = Number(claimed?.held_amount ?? 0);
    const provider = claimed && this.providers.get(claimed.provider);
    if (!claimed || !provider || held <= 0) return;
    const ctx = { paymentId: claimed.id, account, currency: claimed.currency, transactionId };
    try {
      await provider.release(ctx, claimed.provider_ref, held);
    } catch (err) {
      await this.db
        .updateTable('payments')
        .set({ last_error: `${claimed.last_error}; the hold was not released: ${(err as Error).message}` })
        .where('id', '=', claimed.id)
        .execute();
      this.options.onError?.(err as Error, `release of ${transactionId}`);
    }
  }

  /**
   * One capture attempt for a pending payment; a failure schedules the next with backoff. `known`: the payment's
   * account when the caller already has it (saves reading it again).
   */
  async attempt(paymentId: string, now: Date = new Date(), known?: Account): Promise<void> {
    // Claim the attempt (a lease of five minutes) so the retry timer and a settle never capture twice.
    const row = await this.db
      .updateTable('payments')
      .set({ next_attempt_at: new Date(now.getTime() + 300_000) })
      .where('id', '=', paymentId)
      .where('status', '=', 'capture_pending')
      .where('next_attempt_at', '<=', now)
      .returningAll()
      .executeTakeFirst();
    if (!row) return;
    const provider = this.providers.get(row.provider);
    const account = known?.id === row.account_id ? known : await this.accountOf(row.account_id);
    if (!provider || !account) return;
    const ctx = { paymentId: row.id, account, currency: row.currency, transactionId: row.transaction_id };
    const held = Number(row.held_amount);
    const amount = Number(row.captured_amount);
    try {
      if (amount === 0) await provider.release(ctx, row.provider_ref, held);
      else await provider.capture(ctx, row.provider_ref, held, amount);
      await this.db
        .updateTable('payments')
        .set({
          status: amount === 0 ? 'released' : 'captured',
          attempts: row.attempts + 1,
          next_attempt_at: null,
          last_error: null,
          updated_at: new Date(),
        })
        .where('id', '=', row.id)
        .execute();
    } catch (err) {
      const declined = err instanceof PaymentDeclinedError;
      const attempts = row.attempts + 1;
      const delay = (this.options.retryDelayMs ?? ((n) => Math.min(3_600_000, 30_000 * 2 ** (n - 1))))(attempts);
      await this.db
        .updateTable('payments')
        .set({
          // A decline is final (someone must follow up); anything else (timeout, 5xx) is retried.
          status: declined ? 'capture_failed' : 'capture_pending',
          attempts,
          next_attempt_at: declined ? null : new Date(Date.now() + delay),
          last_error: (err as Error).message,
          updated_at: new Date(),
        })
        .where('id', '=', row.id)
        .execute();
      this.options.onError?.(err as Error, `capture of ${row.transaction_id}`);
    }
  }

  /** Retries every capture that is due. */
  async retryDue(now: Date = new Date()): Promise<number> {
    const due = await this.db
      .selectFrom('payments')
      .select('id')
      .where('status', '=', 'capture_pending')
      .where('next_attempt_at', '<=', now)
      .execute();
    for (const d of due) await this.attempt(d.id, now);
    return due.length;
  }

  start(intervalMs = 30_000): void {
    this.timer = setInterval(() => {
      this.retryDue().catch((err: Error) => this.options.onError?.(err, 'capture retry'));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async refund(transactionId: string, amountMinor: number): Promise<PaymentRow> {
    const row = await this.get(transactionId);
    if (!row || row.status !== 'captured') throw new Error(`no captured payment for ${transactionId}`);
    if (amountMinor <= 0 || Number(row.refunded_amount) + amountMinor > Number(row.captured_amount))
      throw new RangeError('refund exceeds the captured amount');
    const provider = this.providers.get(row.provider)!;
    const account = (await this.accountOf(row.account_id))!;
    await provider.refund(
      { paymentId: row.id, account, currency: row.currency, transactionId },
      row.provider_ref,
      amountMinor,
    );
    await this.db
      .updateTable('payments')
      .set({ refunded_amount: Number(row.refunded_amount) + amountMinor, updated_at: new Date() })
      .where('id', '=', row.id)
      .execute();
    return (await this.get(transactionId))!;
  }

  async get(transactionId: string): Promise<PaymentRow | undefined> {
    return this.db.selectFrom('payments').selectAll().where('transaction_id', '=', transactionId).executeTakeFirst();
  }

  private async accountOf(id: string): Promise<Account | undefined> {
    return new AccountsService(this.db).cached(id);
  }
}
