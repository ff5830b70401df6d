// The billing domain's entry point: pins a session's tariff when it starts, prices it when it ends (a CDR, or a
// failed-session record when it stayed under the minimum), answers "what does this session cost so far", and
// hands the CDR total to the payment provider. Listens to the domain event bus; never touches the OCPP edge.
import type { Insertable, Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { DomainEvent, EventBus } from '../events/bus.ts';
import { AccountsService, AD_HOC } from './accounts.ts';
import { TariffStore } from './tariff-store.ts';
import { cachedLocationOfStation, type LocationInfo } from './locations.ts';
import {
  loadSessionContext,
  loadTransaction,
  loadUsage,
  type SessionContext,
  type SignedValue,
  type TransactionRow,
} from './usage-builder.ts';
import { priceSession, type PricedSession } from './pricing.ts';
import { buildCdrBody, creditCdr, currentCdr, getCdr, reissuedCdrId, rowToCdr, type CdrRecord } from './cdrs.ts';
import { BoundedMap } from '../storage/read-cache.ts';
import { PreparedQuery } from '../storage/prepared.ts';
import type { Executor } from '../storage/transactions.ts';
import type { BillingOptions } from './options.ts';
import type { PinnedTariff } from './tariff.ts';
import { formatMinor } from './money.ts';
import { PaymentsService, WalletProvider, type PaymentProvider } from './payments.ts';
import { InvoicesService } from './invoices.ts';
import { priceText } from './price-text.ts';
import { CommandRejectedError, type CommandService } from '../stations/commands.ts';
import { systemClock, type Clock } from '../time/clock.ts';

export interface SessionPricing {
  tariff: PinnedTariff | undefined;
  accountId: string | null;
  customerGroup: string;
  location: LocationInfo | undefined;
  timeZone: string;
}

export interface CostSoFar {
  transactionId: string;
  tariffId: string;
  tariffVersion: number;
  currency: string;
  /** Major units, decimal strings with the currency's digits. */
  exclVat: string;
  inclVat: string;
  /** Minor units. */
  exclVatMinor: number;
  inclVatMinor: number;
  energyKwh: string;
  asOf: string;
}

/** A session's stored pin (a session_pricing row): written once, never changed. */
type Pin = Pick<
  Database['session_pricing'],
  'tariff_id' | 'tariff_version' | 'account_id' | 'customer_group' | 'time_zone'
>;

// The two writes every session makes, compiled once (see storage/prepared.ts).
const pinInsert = new PreparedQuery((db, p: Insertable<Database['session_pricing']>) =>
  db
    .insertInto('session_pricing')
    .values({
      transaction_id: p.transaction_id,
      tariff_id: p.tariff_id,
      tariff_version: p.tariff_version,
      account_id: p.account_id,
      customer_group: p.customer_group,
      location_id: p.location_id,
      time_zone: p.time_zone,
    })
    .onConflict((oc) => oc.column('transaction_id').doNothing())
    .returning(['tariff_id', 'tariff_version', 'account_id', 'customer_group', 'time_zone']),
);
const failedSessionInsert = new PreparedQuery((db, f: Insertable<Database['failed_sessions']>) =>
  db
    .insertInto('failed_sessions')
    .values({
      transaction_id: f.transaction_id,
      station_id: f.station_id,
      evse_id: f.evse_id,
      connector_id: f.connector_id,
      reason: f.reason,
      energy_wh: f.energy_wh,
      duration_s: f.duration_s,
      started_at: f.started_at,
      ended_at: f.ended_at,
      stop_reason: f.stop_reason,
    })
    .onConflict((oc) => oc.column('transaction_id').doNothing()),
);

type FailedReason = Database['failed_sessions']['reason'];

/**
 * Sessions billed to no one, whatever they consumed: one whose token was refused at its start (blocked, expired,
 * invalid, unknown: the charger went on anyway), and one named by a transaction id OpenCPO never issued (a 1.6 stop
 * of an unknown transaction). They stay recorded as transactions, with their flags, and are recorded as not billed.
 */
function unbilledReason(tx: TransactionRow): FailedReason | undefined {
  if (tx.id_unknown) return 'unknown_transaction';
  if (tx.auth_status !== null && tx.auth_status !== 'accepted') return 'token_refused';
  return undefined;
}

/** What an ended session comes to: not billed (and why), free (no tariff applies), or priced. */
type Outcome =
  | { kind: 'failed'; reason: FailedReason; energyWh: number; durationS: number; stoppedAt: Date }
  | { kind: 'free' }
  | { kind: 'priced'; priced: PricedSession; pricing: SessionPricing; signed: SignedValue[] };

/** Called after a CDR is stored (payments capture its total); failures are the hook's business. */
export type CdrHook = (cdr: CdrRecord) => Promise<void>;
/** Called when a priced session starts (payments place a hold). */
export type StartHook = (transactionId: string, pricing: SessionPricing) => Promise<void>;

export class BillingService {
  readonly tariffs: TariffStore;
  readonly accounts: AccountsService;
  readonly payments: PaymentsService;
  readonly wallet: WalletProvider;
  readonly invoices: InvoicesService;
  private readonly inflight = new Set<Promise<unknown>>();
  private unsubscribe: (() => void) | undefined;
  private readonly cdrHooks: CdrHook[] = [];
  private readonly startHooks: StartHook[] = [];
  private commands: CommandService | undefined;
  private costUpdateIntervalMs = 60_000;
  private readonly lastCostUpdate = new Map<string, number>();
  /** Pins of the sessions running here (immutable once stored): the end and the running cost need no read. */
  private readonly pins = new BoundedMap<string, Pin>(20_000);
  /** Ended sessions waiting for their missing events, each priced when its wait is over. */
  private readonly waiting = new Map<string, NodeJS.Timeout>();
  /** The pricing running for a session, if any (see `oneAtATime`). */
  private readonly pricingRuns = new Map<string, Promise<unknown>>();

  constructor(
    private readonly db: Kysely<Database>,
    readonly options: BillingOptions,
    private readonly onError: (err: Error, context: string) => void = () => undefined,
    /** What time it is: whether a month may be invoiced, how far back catch-up looks, the wait for late events. */
    private clock: Clock = systemClock,
  ) {
    this.tariffs = new TariffStore(db);
    this.accounts = new AccountsService(db);
    this.invoices = new InvoicesService(db, options.operatorId, clock);
    this.payments = new PaymentsService(db, { holdAmountMinor: options.holdAmountMinor, onError });
    this.wallet = new WalletProvider(db);
    this.payments.use(this.wallet);
    // Payments follow the session: a hold when it starts, the CDR total captured (or the hold released) at its end.
    this.onSessionStart(async (transactionId, pricing) => {
      // No account: no hold (payments.sessionStarted does nothing without one).
      if (!pricing.accountId) return;
      const account = await this.accounts.cached(pricing.accountId);
      await this.payments.sessionStarted(transactionId, account);
    });
    this.onCdr(async (cdr) => {
      const accountId = cdr.accountId ?? (await this.pinOf(cdr.transactionId))?.account_id ?? null;
      // A payment row is only ever made for the session's account (the pin's: the hold at the start, a capture
      // without hold at the end), so a session without one has none to settle.
      if (!accountId) return;
      const account = await this.accounts.cached(accountId);
      await this.payments.settle(cdr.transactionId, account, cdr.totalInclVat, cdr.currency || undefined);
    });
  }

  /**
   * Sends chargers the running cost (CostUpdated) when a session reports progress, at most once per interval
   * per session, where the charger takes it: 1.6 has no such message (its drivers see the cost in the app, API
   * / SSE), and a 2.0.1 charger that answers NotImplemented gets no more until it reboots.
   */
  useCommands(commands: CommandService, intervalS = 60): void {
    if (intervalS < 0) return; // CostUpdated turned off
    this.commands = commands;
    this.costUpdateIntervalMs = intervalS * 1000;
  }

  /**
   * The clock billing reads (whether a month has ended and may be invoiced, how far back catch-up looks); the one
   * given at construction unless set.
   */
  useClock(clock: Clock): void {
    this.clock = clock;
    this.invoices.useClock(clock);
  }

  /** Adds a payment provider (Stripe) next to the wallet. */
  usePaymentProvider(provider: PaymentProvider): void {
    this.payments.use(provider);
  }

  onCdr(hook: CdrHook): void {
    this.cdrHooks.push(hook);
  }

  onSessionStart(hook: StartHook): void {
    this.startHooks.push(hook);
  }

  /** Subscribes to transaction events, and prices sessions that ended while no node was listening. */
  async start(bus: EventBus): Promise<void> {
    this.unsubscribe = bus.subscribe((event) => this.handle(event));
    // In the background: start-up (and the port opening) never waits for billing.
    this.track(this.catchUp(), 'catch up');
    this.payments.start();
  }

  stop(): void {
    this.unsubscribe?.();
    this.payments.stop();
    for (const timer of this.waiting.values()) clearTimeout(timer);
    this.waiting.clear();
  }

  /** Resolves when every event handler started so far has finished (tests, graceful shutdown). */
  async settled(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }

  private track<T>(p: Promise<T>, context: string): void {
    const tracked = p.catch((err: Error) => this.onError(err, context));
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }

  private handle(event: DomainEvent): void {
    if (event.type === 'transaction.ended') {
      this.lastCostUpdate.delete(event.transactionId);
      this.track(this.sessionEnded(event.transactionId), 'issue CDR');
    } else if ((event.type === 'transaction.started' || event.type === 'transaction.updated') && event.ended) {
      // A late event of an ended session (an offline replay): it may complete it, or change what it costs.
      this.track(this.sessionChanged(event.transactionId), 'correct CDR');
    } else if (event.type === 'transaction.started') this.track(this.sessionStarted(event.transactionId), 'pin tariff');
    else if (event.type === 'transaction.updated' && this.commands)
      this.track(this.pushCost(event.transactionId), 'send CostUpdated');
  }

  /** Ended sessions with neither a CDR nor a failed-session record: priced now. */
  async catchUp(): Promise<number> {
    const rows = await this.db
      .selectFrom('transactions as t')
      .select('t.id')
      .where('t.status', '=', 'ended')
      // Recent sessions only: history from before billing existed is not billed retroactively at an upgrade.
      .where('t.stopped_at', '>=', new Date(this.clock.now() - this.options.catchUpDays * 86_400_000))
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('cdrs as c').select('c.id').whereRef('c.transaction_id', '=', 't.id'))),
      )
      // Sessions pinned without a tariff are free: nothing to catch up.
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('session_pricing as sp')
              .select('sp.transaction_id')
              .whereRef('sp.transaction_id', '=', 't.id')
              .where('sp.tariff_id', 'is', null),
          ),
        ),
      )
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('failed_sessions as f').select('f.transaction_id').whereRef('f.transaction_id', '=', 't.id'),
          ),
        ),
      )
      .execute();
    for (const r of rows) await this.sessionEnded(r.id);
    // Payments left open by a crash between the CDR (or failed-session record) and its capture: settled now.
    const open = await this.db
      .selectFrom('payments as p')
      .innerJoin('transactions as t', 't.id', 'p.transaction_id')
      .select('p.transaction_id')
      .where('p.status', 'in', ['held', 'hold_failed', 'holding'])
      .where('t.status', '=', 'ended')
      .execute();
    for (const p of open) {
      const cdr = await getCdr(this.db, p.transaction_id);
      const failed = await this.db
        .selectFrom('failed_sessions')
        .select('transaction_id')
        .where('transaction_id', '=', p.transaction_id)
        .executeTakeFirst();
      const tx = await loadTransaction(this.db, p.transaction_id);
      const record = cdr ?? (failed && tx ? freeSession(tx) : undefined);
      if (record) for (const hook of this.cdrHooks) await hook(record);
    }
    return rows.length;
  }

  /**
   * The pricing a session fixed at its start. If it has none yet, it is pinned now: with the current version of the
   * tariff when the session is live, or, for a session whose start was missed (heard of only at its end), with the
   * version that was current when it started.
   */
  async pricingOf(tx: TransactionRow, startMissed = tx.status === 'ended'): Promise<SessionPricing> {
    return this.pricing(tx, startMissed, true);
  }

  /**
   * `pricingOf`. `pinExpected` false (the start) skips looking for a stored pin before pinning; `known` is the
   * station's location and the token's account when the caller read them with the transaction.
   */
  private async pricing(
    tx: TransactionRow,
    startMissed: boolean,
    pinExpected: boolean,
    known?: Pick<SessionContext, 'location' | 'account'>,
  ): Promise<SessionPricing> {
    const location = known ? known.location : await cachedLocationOfStation(this.db, tx.station_id);
    const pin =
      this.pins.get(tx.id) ??
      (pinExpected ? await this.pinOf(tx.id) : undefined) ??
      (await this.pin(tx, location, startMissed, known));
    const tariff = pin.tariff_id ? await this.tariffs.pinned(pin.tariff_id, pin.tariff_version!) : undefined;
    return {
      tariff,
      accountId: pin.account_id,
      customerGroup: pin.customer_group,
      location,
      timeZone: pin.time_zone,
    };
  }

  /** The stored pin of a session, if any (kept in memory once read). */
  private async pinOf(transactionId: string): Promise<Pin | undefined> {
    const known = this.pins.get(transactionId);
    if (known) return known;
    const stored = await this.db
      .selectFrom('session_pricing')
      .select(['tariff_id', 'tariff_version', 'account_id', 'customer_group', 'time_zone'])
      .where('transaction_id', '=', transactionId)
      .executeTakeFirst();
    if (stored) this.pins.set(transactionId, stored);
    return stored;
  }

  /** Pins a session: the current version of the tariff that applies (the start's, when the start was missed). */
  private async pin(
    tx: TransactionRow,
    location: LocationInfo | undefined,
    startMissed: boolean,
    known?: Pick<SessionContext, 'account'>,
  ): Promise<Pin> {
    const timeZone = location?.timeZone ?? this.options.defaultTimeZone;
    const account = known ? known.account : await this.accounts.forToken(tx.id_token);
    const customerGroup = account?.customerGroup ?? AD_HOC;
    const at = tx.started_at ?? new Date();
    let tariff = await this.tariffs.resolve(
      { stationId: tx.station_id, evseId: tx.evse_id, locationId: location?.id ?? null, customerGroup },
      at,
    );
    if (tariff && startMissed && tx.started_at)
      tariff = (await this.tariffs.versionAt(tariff.id, tx.started_at)) ?? tariff;
    const inserted = await pinInsert.executeTakeFirst(this.db, {
      transaction_id: tx.id,
      tariff_id: tariff?.id ?? null,
      tariff_version: tariff?.version ?? null,
      account_id: account?.id ?? null,
      customer_group: customerGroup,
      location_id: location?.id ?? null,
      time_zone: timeZone,
    });
    if (inserted) {
      this.pins.set(tx.id, inserted);
      return inserted;
    }
    // Another handler pinned it first: the stored pin wins.
    return (await this.pinOf(tx.id))!;
  }

  async sessionStarted(transactionId: string): Promise<void> {
    // The transaction, its station's location and its token's account in one read.
    const session = await loadSessionContext(this.db, transactionId);
    if (!session) return;
    const { tx } = session;
    if (unbilledReason(tx)) return; // billed to no one: no pin, no hold
    // At the start the session has normally no pin yet: pin it straight away (a conflict reads the stored one).
    const pricing = await this.pricing(tx, false, false, session);
    if (tx.status === 'active') for (const hook of this.startHooks) await hook(transactionId, pricing);
  }

  /**
   * Prices an ended session: a CDR, or a record as not billed (under the minimum, or billed to no one). Idempotent;
   * waits while the session's events are not all in (see `readyToPrice`).
   */
  async sessionEnded(transactionId: string): Promise<CdrRecord | undefined> {
    return this.oneAtATime(transactionId, () => this.priceEnded(transactionId));
  }

  /**
   * The pricing of one session, one at a time: its end and its late events (and a catch-up) would otherwise race,
   * and two corrections read the same CDR to credit.
   */
  private oneAtATime<T>(transactionId: string, price: () => Promise<T>): Promise<T> {
    const run = (this.pricingRuns.get(transactionId) ?? Promise.resolve())
      .catch(() => undefined)
      .then(price)
      .finally(() => {
        this.pins.delete(transactionId); // the session is over: its pin is no longer needed in memory
        if (this.pricingRuns.get(transactionId) === run) this.pricingRuns.delete(transactionId);
      });
    this.pricingRuns.set(transactionId, run);
    return run;
  }

  private async priceEnded(transactionId: string): Promise<CdrRecord | undefined> {
    const session = await loadSessionContext(this.db, transactionId);
    if (!session) return undefined;
    if (session.hasCdr) return currentCdr(this.db, transactionId); // already priced
    const { tx } = session;
    if (tx.status !== 'ended' || !tx.started_at || !(await this.readyToPrice(tx))) return undefined;
    const outcome = await this.outcomeOf(session);
    if (outcome.kind === 'failed') {
      await this.recordFailed(tx, outcome);
      for (const hook of this.cdrHooks) await hook(freeSession(tx));
      return undefined;
    }
    if (outcome.kind === 'free') return undefined; // no tariff applies: nothing to bill (free charging)
    const inserted = await this.insertCdr(this.db, tx.id, tx, outcome);
    const cdr = inserted ?? (await getCdr(this.db, tx.id))!;
    // Only the handler that stored the CDR runs the hooks (the event and a catch-up may race).
    if (inserted) for (const hook of this.cdrHooks) await hook(cdr);
    return cdr;
  }

  /**
   * An ended session changed after it ended (a late event of an offline replay). Not priced yet: priced now if it is
   * ready. Priced already: priced again, and when that comes to something else than its CDR (or its record as not
   * billed), the CDR is credited and a new one issued, so no CDR silently disagrees with its transaction.
   */
  async sessionChanged(transactionId: string): Promise<CdrRecord | undefined> {
    return this.oneAtATime(transactionId, () => this.reprice(transactionId));
  }

  private async reprice(transactionId: string): Promise<CdrRecord | undefined> {
    const session = await loadSessionContext(this.db, transactionId);
    if (!session || session.tx.status !== 'ended' || !session.tx.started_at) return undefined;
    const { tx } = session;
    const current = await currentCdr(this.db, tx.id);
    const failed = await this.db
      .selectFrom('failed_sessions')
      .select('reason')
      .where('transaction_id', '=', tx.id)
      .executeTakeFirst();
    if (!current && !failed) return this.priceEnded(transactionId);
    if (!(await this.readyToPrice(tx))) return current;
    const outcome = await this.outcomeOf(session);
    if (current && outcome.kind === 'priced' && sameFigures(current, outcome.priced)) return current;
    if (!current && outcome.kind !== 'priced') return undefined; // still not billed
    const issued = await this.db.transaction().execute(async (trx) => {
      if (current) await creditCdr(trx, current.id, 'late transaction events changed the session');
      else await trx.deleteFrom('failed_sessions').where('transaction_id', '=', tx.id).execute();
      if (outcome.kind === 'failed') await this.recordFailed(tx, outcome, trx);
      if (outcome.kind !== 'priced') return undefined;
      const id = current ? await reissuedCdrId(trx, tx.id) : tx.id;
      return this.insertCdr(trx, id, tx, outcome);
    });
    if (issued) for (const hook of this.cdrHooks) await hook(issued);
    return issued;
  }

  /**
   * An ended session is priced once every event up to its end is in, or once the wait for the missing ones is
   * over (then with what arrived; a late event corrects it). Until then a timer waits for it.
   */
  private async readyToPrice(tx: TransactionRow): Promise<boolean> {
    if (tx.events_complete) {
      this.forgetWait(tx.id);
      return true;
    }
    const ended = await this.db
      .selectFrom('transaction_events')
      .select((eb) => eb.fn.min('received_at').as('at'))
      .where('transaction_id', '=', tx.id)
      .where('event_type', '=', 'ended')
      .executeTakeFirst();
    // Ended without an Ended in its log (by other means than a charger's events): nothing numbered to wait for.
    const endedAt = ended?.at ? new Date(ended.at).getTime() : undefined;
    const remainingMs = endedAt === undefined ? 0 : endedAt + this.options.lateEventsWaitS * 1000 - this.clock.now();
    if (remainingMs <= 0) {
      this.forgetWait(tx.id);
      return true;
    }
    if (!this.waiting.has(tx.id)) {
      const timer = setTimeout(() => {
        this.waiting.delete(tx.id);
        this.track(this.sessionEnded(tx.id), 'issue CDR after waiting for late events');
      }, remainingMs);
      timer.unref();
      this.waiting.set(tx.id, timer);
    }
    return false;
  }

  private forgetWait(transactionId: string): void {
    const timer = this.waiting.get(transactionId);
    if (timer) clearTimeout(timer);
    this.waiting.delete(transactionId);
  }

  /** What an ended session comes to, from the transaction as it stands. */
  private async outcomeOf(session: SessionContext): Promise<Outcome> {
    const { tx } = session;
    const startedAt = tx.started_at!;
    const stoppedAt = tx.stopped_at ?? startedAt;
    const durationS = (stoppedAt.getTime() - startedAt.getTime()) / 1000;
    const energyWh = tx.energy_wh ?? 0;
    const reason =
      unbilledReason(tx) ??
      (energyWh < this.options.minEnergyWh
        ? 'below_min_energy'
        : durationS < this.options.minDurationS
          ? 'below_min_duration'
          : undefined);
    if (reason) return { kind: 'failed', reason, energyWh, durationS, stoppedAt };
    const pricing = await this.pricing(tx, true, true, session);
    if (!pricing.tariff) return { kind: 'free' };
    const { usage, signed } = await loadUsage(this.db, tx, stoppedAt, pricing.timeZone);
    return { kind: 'priced', priced: priceSession(pricing.tariff, usage), pricing, signed };
  }

  private async recordFailed(
    tx: TransactionRow,
    f: Extract<Outcome, { kind: 'failed' }>,
    db: Kysely<Database> = this.db,
  ): Promise<void> {
    await failedSessionInsert.execute(db, {
      transaction_id: tx.id,
      station_id: tx.station_id,
      evse_id: tx.evse_id,
      connector_id: tx.connector_id,
      reason: f.reason,
      energy_wh: f.energyWh,
      duration_s: f.durationS,
      started_at: tx.started_at!,
      ended_at: f.stoppedAt,
      stop_reason: tx.stop_reason,
    });
  }

  /** Stores a CDR (unless one with its id exists: then undefined). */
  private async insertCdr(
    db: Kysely<Database>,
    id: string,
    tx: TransactionRow,
    { priced, pricing, signed }: Extract<Outcome, { kind: 'priced' }>,
  ): Promise<CdrRecord | undefined> {
    const body = buildCdrBody(this.options, id, tx, priced, pricing.location, pricing.accountId, signed, new Date());
    const inserted = await db
      .insertInto('cdrs')
      .values({
        id,
        transaction_id: tx.id,
        credit: false,
        credit_reference_id: null,
        account_id: pricing.accountId,
        id_token: tx.id_token,
        station_id: tx.station_id,
        evse_id: tx.evse_id,
        connector_id: tx.connector_id,
        location_id: pricing.location?.id ?? null,
        tariff_id: priced.tariffId,
        tariff_version: priced.tariffVersion,
        currency: priced.currency,
        start_date_time: priced.startedAt,
        end_date_time: priced.endedAt,
        total_energy_kwh: priced.totalEnergy,
        total_time_h: priced.totalTime,
        total_parking_time_h: priced.parkingTime,
        total_excl_vat: priced.total.exclVat,
        total_vat: priced.total.vat,
        total_incl_vat: priced.total.inclVat,
        body: JSON.stringify(body),
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .returningAll()
      .executeTakeFirst();
    return inserted ? rowToCdr(inserted) : undefined;
  }

  /** Sends the running cost to a 2.0.1 charger (CostUpdated), throttled per session. */
  async pushCost(transactionId: string, now: Date = new Date()): Promise<boolean> {
    if (!this.commands) return false;
    const last = this.lastCostUpdate.get(transactionId);
    if (last !== undefined && now.getTime() - last < this.costUpdateIntervalMs) return false;
    const row = await this.db
      .selectFrom('transactions as t')
      .select(['t.station_id', 't.charger_transaction_id', 't.status'])
      .where('t.id', '=', transactionId)
      .executeTakeFirst();
    // The transport knows whether the charger takes it: its version has it, and it has not refused it.
    if (!row || row.status !== 'active' || !this.commands.supports(row.station_id, 'costUpdated')) return false;
    const cost = await this.costSoFar(transactionId, now);
    if (!cost) return false;
    this.lastCostUpdate.set(transactionId, now.getTime());
    try {
      await this.commands.send(
        row.station_id,
        { name: 'costUpdated', chargerTransactionId: row.charger_transaction_id, totalCost: Number(cost.inclVat) },
        'billing',
      );
    } catch (err) {
      // Refused as not implemented: the transport now knows (and said so once); nothing more to report.
      if (err instanceof CommandRejectedError && !this.commands.supports(row.station_id, 'costUpdated')) return false;
      throw err;
    }
    return true;
  }

  /**
   * The price a driver sees before starting (2.0.1 personalMessage on Authorize): the tariff that would apply to
   * this token at this station now. The EVSE is not known at Authorize: station, location and default scopes count.
   */
  async priceMessage(stationId: string, idToken: string, now: Date = new Date()): Promise<string | undefined> {
    const location = await cachedLocationOfStation(this.db, stationId);
    const account = await this.accounts.forToken(idToken);
    const tariff = await this.tariffs.resolve(
      { stationId, evseId: -1, locationId: location?.id ?? null, customerGroup: account?.customerGroup ?? AD_HOC },
      now,
    );
    if (!tariff) return undefined;
    return priceText(tariff, now, location?.timeZone ?? this.options.defaultTimeZone);
  }

  /** What a running (or ended) session costs so far, with the tariff it pinned. Undefined when nothing applies. */
  async costSoFar(transactionId: string, now: Date = new Date()): Promise<CostSoFar | undefined> {
    const priced = await this.priceSoFar(transactionId, now);
    if (!priced) return undefined;
    return {
      transactionId,
      tariffId: priced.tariffId,
      tariffVersion: priced.tariffVersion,
      currency: priced.currency,
      exclVat: formatMinor(priced.total.exclVat, priced.currency),
      inclVat: formatMinor(priced.total.inclVat, priced.currency),
      exclVatMinor: priced.total.exclVat,
      inclVatMinor: priced.total.inclVat,
      energyKwh: priced.totalEnergy,
      asOf: priced.endedAt,
    };
  }

  async priceSoFar(transactionId: string, now: Date = new Date()): Promise<PricedSession | undefined> {
    const tx = await loadTransaction(this.db, transactionId);
    if (!tx || !tx.started_at) return undefined;
    const pricing = await this.pricingOf(tx);
    if (!pricing.tariff) return undefined;
    const until = tx.status === 'ended' && tx.stopped_at ? tx.stopped_at : now;
    const { usage } = await loadUsage(this.db, tx, until, pricing.timeZone);
    return priceSession(pricing.tariff, usage);
  }

  async getCdr(id: string): Promise<CdrRecord | undefined> {
    return getCdr(this.db, id);
  }

  async credit(cdrId: string, reason: string, db: Executor = this.db): Promise<CdrRecord> {
    return creditCdr(db, cdrId, reason);
  }

  /** Failed sessions (not billed: under the minimum energy or duration), newest first. */
  async failedSessions(stationId?: string) {
    let q = this.db.selectFrom('failed_sessions').selectAll();
    if (stationId) q = q.where('station_id', '=', stationId);
    return q.orderBy('ended_at', 'desc').execute();
  }

  /** For reports: CDR totals per currency in a time range. */
  async revenue(from: Date, to: Date) {
    return this.db
      .selectFrom('cdrs')
      .select(['currency', sql<string>`sum(total_incl_vat)`.as('incl'), sql<string>`sum(total_excl_vat)`.as('excl')])
      .where('end_date_time', '>=', from)
      .where('end_date_time', '<', to)
      .groupBy('currency')
      .execute();
  }
}

/** A CDR already says what a pricing says: same period, energy and amounts. */
function sameFigures(cdr: CdrRecord, priced: PricedSession): boolean {
  return (
    cdr.startDateTime.toISOString() === priced.startedAt &&
    cdr.endDateTime.toISOString() === priced.endedAt &&
    Number(cdr.totalEnergyKwh) === Number(priced.totalEnergy) &&
    Number(cdr.totalTimeH) === Number(priced.totalTime) &&
    Number(cdr.totalParkingTimeH) === Number(priced.parkingTime) &&
    cdr.totalExclVat === priced.total.exclVat &&
    cdr.totalVat === priced.total.vat &&
    cdr.totalInclVat === priced.total.inclVat
  );
}

/** A session that is not billed still releases its payment hold: a zero CDR-like record for the hooks. */
function freeSession(tx: TransactionRow): CdrRecord {
  return {
    id: tx.id,
    transactionId: tx.id,
    credit: false,
    creditReferenceId: null,
    accountId: null,
    idToken: tx.id_token,
    stationId: tx.station_id,
    evseId: tx.evse_id,
    connectorId: tx.connector_id,
    locationId: null,
    tariffId: null,
    tariffVersion: null,
    currency: '',
    startDateTime: tx.started_at!,
    endDateTime: tx.stopped_at ?? tx.started_at!,
    totalEnergyKwh: '0',
    totalTimeH: '0',
    totalParkingTimeH: '0',
    totalExclVat: 0,
    totalVat: 0,
    totalInclVat: 0,
    body: { free: true },
    invoiceId: null,
    createdAt: new Date(),
  };
}
