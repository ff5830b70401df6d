// Customer accounts (drivers and fleets) and the tokens they charge with. The account decides the customer group
// a session is priced for; a token no account knows is an ad hoc customer.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { currencyDigits } from './money.ts';
import { sharedCache, type TtlCache } from '../storage/read-cache.ts';
import { afterCommit, type Executor } from '../storage/transactions.ts';

export const AD_HOC = 'ad_hoc';
export const MEMBERS = 'members';

export interface AccountInput {
  kind: 'driver' | 'fleet';
  name: string;
  email?: string | null;
  /** 'members' (default), 'ad_hoc', or 'partner:<party id>' for a roaming partner's customers. */
  customerGroup?: string;
  currency: string;
  paymentMethod?: 'wallet' | 'stripe' | 'invoice';
  stripeCustomerId?: string | null;
  stripePaymentMethodId?: string | null;
}

export interface Account {
  id: string;
  kind: 'driver' | 'fleet';
  name: string;
  email: string | null;
  customerGroup: string;
  currency: string;
  paymentMethod: 'wallet' | 'stripe' | 'invoice';
  stripeCustomerId: string | null;
  stripePaymentMethodId: string | null;
  tokens: string[];
  createdAt: Date;
}

export class AccountValidationError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'AccountValidationError';
  }
}

export function validCustomerGroup(group: string): boolean {
  return group === AD_HOC || group === MEMBERS || /^partner:[A-Za-z0-9_-]{1,40}$/.test(group);
}

export class AccountsService {
  /** Account by id, and the account id of a token (null: none), for the per-session path. */
  private readonly byId: TtlCache<string, Account | undefined>;
  private readonly byToken: TtlCache<string, string | null>;

  constructor(private readonly db: Kysely<Database>) {
    this.byId = sharedCache<string, Account | undefined>(db, 'account');
    this.byToken = sharedCache<string, string | null>(db, 'account-of-token');
  }

  /** Forgets the cached accounts and token links (every change through this service calls it). */
  invalidate(): void {
    this.byId.clear();
    this.byToken.clear();
  }

  async create(input: AccountInput, id: string = randomUUID(), db: Executor = this.db): Promise<Account> {
    const group = input.customerGroup ?? MEMBERS;
    if (!validCustomerGroup(group))
      throw new AccountValidationError('customerGroup', "must be 'ad_hoc', 'members' or 'partner:<party id>'");
    try {
      currencyDigits(input.currency);
    } catch {
      throw new AccountValidationError('currency', 'must be an ISO 4217 currency code');
    }
    await db
      .insertInto('billing_accounts')
      .values({
        id,
        kind: input.kind,
        name: input.name,
        email: input.email ?? null,
        customer_group: group,
        currency: input.currency.toUpperCase(),
        payment_method: input.paymentMethod ?? 'invoice',
        stripe_customer_id: input.stripeCustomerId ?? null,
        stripe_payment_method_id: input.stripePaymentMethodId ?? null,
      })
      .execute();
    afterCommit(db, () => this.invalidate());
    return (await this.get(id, db))!;
  }

  /** Links a token to the account (moving it from another account if it had one). */
  async addToken(accountId: string, idToken: string, db: Executor = this.db): Promise<void> {
    await db
      .insertInto('billing_account_tokens')
      .values({ id_token: idToken, account_id: accountId })
      .onConflict((oc) => oc.column('id_token').doUpdateSet({ account_id: accountId }))
      .execute();
    afterCommit(db, () => this.invalidate());
  }

  async removeToken(accountId: string, idToken: string, db: Executor = this.db): Promise<boolean> {
    const r = await db
      .deleteFrom('billing_account_tokens')
      .where('id_token', '=', idToken)
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    afterCommit(db, () => this.invalidate());
    return Number(r.numDeletedRows) > 0;
  }

  async get(id: string, db: Executor = this.db): Promise<Account | undefined> {
    const row = await db.selectFrom('billing_accounts').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const tokens = await db
      .selectFrom('billing_account_tokens')
      .select('id_token')
      .where('account_id', '=', id)
      .orderBy('id_token')
      .execute();
    return toAccount(
      row,
      tokens.map((t) => t.id_token),
    );
  }

  async list(limit: number, offset: number): Promise<{ items: Account[]; total: number }> {
    const rows = await this.db
      .selectFrom('billing_accounts')
      .select('id')
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit)
      .offset(offset)
      .execute();
    const total = await this.db
      .selectFrom('billing_accounts')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    const items: Account[] = [];
    for (const r of rows) items.push((await this.get(r.id))!);
    return { items, total: Number(total.n) };
  }

  /**
   * The account a token is linked to (none: an ad hoc customer). Cached briefly: changes through this service are
   * seen at once, changes made by another process within the cache's TTL.
   */
  async forToken(idToken: string | null): Promise<Account | undefined> {
    if (!idToken) return undefined;
    const accountId = await this.byToken.get(idToken, async () => {
      const row = await this.db
        .selectFrom('billing_account_tokens')
        .select('account_id')
        .where('id_token', '=', idToken)
        .executeTakeFirst();
      return row?.account_id ?? null;
    });
    return accountId ? this.cached(accountId) : undefined;
  }

  /** `get` through the short-lived cache, for the per-session path (the API reads with `get`). */
  async cached(id: string): Promise<Account | undefined> {
    const account = await this.byId.get(id, () => this.get(id));
    return account ? { ...account, tokens: [...account.tokens] } : undefined;
  }
}

function toAccount(row: Record<string, any>, tokens: string[]): Account {
  return {
    id: row.id,
    kind: row.kind,
    name: row.name,
    email: row.email,
    customerGroup: row.customer_group,
    currency: row.currency,
    paymentMethod: row.payment_method,
    stripeCustomerId: row.stripe_customer_id,
    stripePaymentMethodId: row.stripe_payment_method_id,
    tokens,
    createdAt: row.created_at,
  };
}
