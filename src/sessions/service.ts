// The sessions domain: authorization against the id-token table, transactions from either OCPP version
// (one id each, duplicates and offline replays stored once and in order), and meter samples.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { BatchWriter } from '../storage/batch-writer.ts';
import { afterCommit, inTransaction, type Executor } from '../storage/transactions.ts';
import { TtlCache } from '../storage/read-cache.ts';
import type { StationsService } from '../stations/service.ts';
import type { ConnectorStatus } from '../stations/model.ts';
import { dateOf, systemClock, type Clock } from '../time/clock.ts';
import {
  applyToExistingQuery,
  BETWEEN_START_AND_STOP,
  createWithEventQuery,
  energyMerge,
  eventStatementOf,
  registerExtremes,
  type RegisterExtremes,
  sampleRow,
} from './event-statements.ts';
import type { EventBus } from '../events/bus.ts';
import type {
  AuthorizationResult,
  AuthorizeOptions,
  ChargingState,
  IdTokenRef,
  MeterSample,
  PersonalMessageProvider,
  TransactionEventInput,
  TransactionEventResult,
} from './model.ts';

const byKey = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);

/** 1.6 has no sequence numbers: its start and stop take the first and last places in the event log. */
export const FIRST_SEQ = 0;
export const LAST_SEQ = 2_147_483_647;

const CHARGING_STATE_STATUS: Record<ChargingState, ConnectorStatus> = {
  charging: 'charging',
  ev_connected: 'preparing',
  suspended_ev: 'suspended_ev',
  suspended_evse: 'suspended_evse',
  idle: 'preparing',
};

interface TransactionRef {
  id: string;
  chargerTransactionId: string;
  evseId: number;
  connectorId: number;
}

export interface IdTokenInput {
  idToken: string;
  type?: string;
  status?: 'accepted' | 'blocked' | 'expired' | 'invalid';
  expiresAt?: Date | null;
  groupId?: string | null;
}

interface TokenRow {
  type: string;
  status: string;
  expires_at: Date | null;
  group_id: string | null;
}

/**
 * A sent token is the registered one when its type is too: an RFID card number sent as a contract id (eMAID) is
 * not the card. Two exceptions: 1.6 idTags carry no type, and a 2.0.1 charger sends a remotely started token as
 * `Central` (the CSMS handed it over), whatever it is registered as.
 */
function sameToken(sent: IdTokenRef, registeredType: string): boolean {
  return sent.typeAssumed === true || sent.type === 'Central' || sent.type === registeredType;
}

/** How long an id-token row read for authorization is reused; changes made here invalidate it at once. */
const TOKEN_CACHE_MS = 30_000;
const TOKEN_CACHE_MAX = 100_000;

export class SessionsService {
  /**
   * (station, charger transaction id) → our id and port, for running transactions: hot meter-value messages
   * and later events of a transaction then need no lookup.
   */
  private readonly idCache = new Map<string, TransactionRef>();
  /** id token → its row (or null: unknown), so Authorize and transaction starts need no query each. */
  private readonly tokenCache = new TtlCache<string, TokenRow | null>(TOKEN_CACHE_MAX, TOKEN_CACHE_MS);

  private personalMessage: PersonalMessageProvider | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly writer: BatchWriter,
    private readonly stations: StationsService,
    private readonly bus?: EventBus,
    /** Receipt times of transaction events (an end stamped before its start takes its receipt time). */
    private readonly clock: Clock = systemClock,
  ) {
    writer.define('meter_samples', {
      // Keep the transaction's energy up to date in the same statement as its samples.
      alsoWrite: (rows) => energyFromSamples(rows),
    });
  }

  async upsertIdToken(token: IdTokenInput, db: Executor = this.db): Promise<void> {
    await this.upsertIdTokens([token], db);
  }

  /**
   * Creates or updates tokens, all or none. Each change takes effect at the next Authorize: the cached rows are
   * dropped once the change has committed (dropped before, a read in between could cache the old row again).
   */
  async upsertIdTokens(tokens: IdTokenInput[], db: Executor = this.db): Promise<void> {
    await inTransaction(db, async (trx) => {
      for (const token of tokens) {
        const values = {
          id_token: token.idToken,
          type: token.type ?? 'ISO14443',
          status: token.status ?? 'accepted',
          expires_at: token.expiresAt ?? null,
          group_id: token.groupId ?? null,
        };
        await trx
          .insertInto('id_tokens')
          .values(values)
          .onConflict((oc) => oc.column('id_token').doUpdateSet({ ...values, updated_at: new Date() }))
          .execute();
      }
      afterCommit(trx, () => {
        for (const token of tokens) this.forgetIdToken(token.idToken);
      });
    });
  }

  /** Drops a token from the authorization cache; call after changing it anywhere. */
  forgetIdToken(idToken: string): void {
    this.tokenCache.delete(idToken);
  }

  private async tokenRow(idToken: string): Promise<TokenRow | null> {
    return this.tokenCache.get(
      idToken,
      async () =>
        (await this.db
          .selectFrom('id_tokens')
          .select(['type', 'status', 'expires_at', 'group_id'])
          .where('id_token', '=', idToken)
          .executeTakeFirst()) ?? null,
    );
  }

  /** A domain with something to tell the driver on an accepted token (billing: the price) registers here. */
  usePersonalMessage(provider: PersonalMessageProvider): void {
    this.personalMessage = provider;
  }

  async authorize(stationId: string, token: IdTokenRef, options: AuthorizeOptions = {}): Promise<AuthorizationResult> {
    const row = await this.tokenRow(token.idToken);
    if (!row || !sameToken(token, row.type)) return { status: 'unknown' };
    const result: AuthorizationResult = { status: row.status as AuthorizationResult['status'] };
    if (row.group_id) result.groupId = row.group_id;
    if (row.expires_at) {
      result.expiresAt = row.expires_at;
      if (row.expires_at.getTime() <= this.clock.now() && result.status === 'accepted') result.status = 'expired';
    }
    if (result.status === 'accepted' && options.personalMessage && this.personalMessage) {
      // A message is a courtesy: failing to build one never refuses or delays a token beyond the lookup.
      const message = await this.personalMessage(stationId, token).catch(() => undefined);
      if (message) result.personalMessage = message;
    }
    return result;
  }

  /**
   * Applies one transaction event from either version. Replays are recognised and not applied twice; an event numbered
   * after its transaction's end is recorded and not applied. Each event is one atomic statement when the transaction
   * is new or known to this process (the common case), at most three otherwise: no BEGIN/COMMIT round trips, each of
   * which would wait its turn in a busy event loop.
   */
  async transactionEvent(stationId: string, input: TransactionEventInput): Promise<TransactionEventResult> {
    const idTokenInfo = input.idToken
      ? await this.authorize(stationId, input.idToken, { personalMessage: input.personalMessage })
      : undefined;
    const now = dateOf(this.clock);
    const seqNo =
      input.seqNo ?? (input.eventType === 'started' ? FIRST_SEQ : input.eventType === 'ended' ? LAST_SEQ : undefined);
    const event = { input, idTokenInfo, seqNo, now };
    const known =
      input.chargerTransactionId !== undefined
        ? this.idCache.get(cacheKeyOf(stationId, input.chargerTransactionId))
        : undefined;
    let result: TransactionRef & { applied: boolean; duplicate: boolean; ended: boolean; eventsComplete: boolean };
    const created = known ? undefined : await this.createWithEvent(stationId, event);
    if (created) result = { ...created, applied: true, duplicate: false };
    else {
      // A later event or a replay: applied to the stored transaction, unless its log has it already.
      const existing = known ?? (await this.findExisting(stationId, input));
      result = { ...existing, ...(await this.applyToExisting(stationId, existing, event)) };
    }
    // Keep running transactions at hand; an ended one rarely gets more meter values.
    const cacheKey = cacheKeyOf(stationId, result.chargerTransactionId);
    if (result.ended) this.idCache.delete(cacheKey);
    else if (result.applied && (!known || known.evseId !== result.evseId)) this.idCache.set(cacheKey, refOf(result));
    if (result.applied) {
      this.bus?.publish({
        type: `transaction.${input.eventType}`,
        transactionId: result.id,
        stationId,
        evseId: result.evseId,
        connectorId: result.connectorId,
        ...(input.idToken ? { idToken: input.idToken.idToken } : {}),
        ...(input.stopReason ? { stopReason: input.stopReason } : {}),
        ended: result.ended,
        eventsComplete: result.eventsComplete,
        at: input.timestamp,
      });
    }
    // A late event of an ended transaction says nothing about the connector now, nor one of an unknown port.
    if (result.applied && !result.ended && result.evseId !== 0 && input.chargingState) {
      const status = CHARGING_STATE_STATUS[input.chargingState];
      if (this.stations.currentStatus(stationId, result.evseId, result.connectorId) !== status) {
        await this.stations.reportStatus(stationId, {
          evseId: result.evseId,
          connectorId: result.connectorId,
          status,
          info: `transaction ${input.eventType}: ${input.triggerReason ?? ''}`.trim(),
          timestamp: input.timestamp,
        });
      }
    }
    return {
      transactionId: result.id,
      chargerTransactionId: result.chargerTransactionId,
      idTokenInfo,
      duplicate: result.duplicate,
    };
  }

  /** Meter values outside a transaction event (1.6 MeterValues, 2.0.1 MeterValues): batched. */
  async meterValues(
    stationId: string,
    port: { evseId: number; connectorId: number },
    chargerTransactionId: string | undefined,
    samples: MeterSample[],
  ): Promise<void> {
    if (samples.length === 0) return;
    const transactionId = chargerTransactionId ? await this.resolveId(stationId, chargerTransactionId) : undefined;
    const now = dateOf(this.clock);
    await this.writer.write({
      meter_samples: samples.map((s) => sampleRow(stationId, port.evseId, port.connectorId, transactionId, s, now)),
    });
  }

  async resolveId(stationId: string, chargerTransactionId: string): Promise<string | undefined> {
    const key = cacheKeyOf(stationId, chargerTransactionId);
    const cached = this.idCache.get(key);
    if (cached) return cached.id;
    const row = await this.db
      .selectFrom('transactions')
      .select(['id', 'evse_id', 'connector_id', 'status'])
      .where('station_id', '=', stationId)
      .where('charger_transaction_id', '=', chargerTransactionId)
      .executeTakeFirst();
    if (row?.status === 'active') {
      this.idCache.set(key, { id: row.id, chargerTransactionId, evseId: row.evse_id, connectorId: row.connector_id });
    }
    return row?.id;
  }

  /** The charger's id of one of our transactions, for remote stop. */
  async chargerIdOf(transactionId: string): Promise<{ stationId: string; chargerTransactionId: string } | undefined> {
    const row = await this.db
      .selectFrom('transactions')
      .select(['station_id', 'charger_transaction_id'])
      .where('id', '=', transactionId)
      .executeTakeFirst();
    return row ? { stationId: row.station_id, chargerTransactionId: row.charger_transaction_id } : undefined;
  }

  /**
   * A transaction first heard of: its row (as the event leaves it), the event in its log and the event's meter
   * samples, in one statement. Undefined when the transaction exists already (a later event, or a replay).
   */
  private async createWithEvent(stationId: string, event: AppliedEvent): Promise<CreatedTransaction | undefined> {
    const { input } = event;
    // A port not named yet (an event without one came first) is 0 until an event names it.
    const port = { evseId: input.evseId ?? 0, connectorId: input.connectorId ?? 0 };
    const tx = { id: randomUUID(), stationId, ...port };
    const startKey = input.chargerTransactionId === undefined ? startKeyOf(input) : null;
    const { shape, args } = await this.statementOf(tx, event, startKey, false);
    const [created] = await createWithEventQuery.execute(this.db, shape, args);
    if (!created) return undefined;
    return {
      id: created.id,
      chargerTransactionId: created.charger_transaction_id,
      ...port,
      ended: created.status === 'ended',
      eventsComplete: created.events_complete,
    };
  }

  private async statementOf(
    tx: { id: string; stationId: string; evseId: number; connectorId: number },
    event: AppliedEvent,
    startKey: string | null,
    namesPort: boolean,
  ) {
    const sampleTypes = await this.writer.columnTypesFor('meter_samples');
    return eventStatementOf({ tx, ...event, sampleTypes, startKey, namesPort });
  }

  /** The stored transaction an event belongs to, when creating it found one. */
  private async findExisting(stationId: string, input: TransactionEventInput): Promise<TransactionRef> {
    let q = this.db
      .selectFrom('transactions')
      .select(['id', 'charger_transaction_id', 'evse_id', 'connector_id'])
      .where('station_id', '=', stationId);
    q =
      input.chargerTransactionId !== undefined
        ? q.where('charger_transaction_id', '=', input.chargerTransactionId)
        : q.where('start_key', '=', startKeyOf(input));
    const existing = await q.executeTakeFirstOrThrow();
    return {
      id: existing.id,
      chargerTransactionId: existing.charger_transaction_id,
      evseId: existing.evse_id,
      connectorId: existing.connector_id,
    };
  }

  /**
   * An event of a stored transaction, in one statement: logged, applied to the row and its samples stored — or,
   * when the log has it already (a replay), none of these; or, when it is numbered after the transaction's end,
   * only logged. The event's samples go to its own port when it names one, else to the transaction's.
   */
  private async applyToExisting(
    stationId: string,
    tx: TransactionRef,
    event: AppliedEvent,
  ): Promise<{
    applied: boolean;
    duplicate: boolean;
    ended: boolean;
    eventsComplete: boolean;
    evseId: number;
    connectorId: number;
  }> {
    const port = portOf(event.input, tx);
    const namesPort = tx.evseId === 0 && port.evseId !== 0;
    const { shape, args } = await this.statementOf({ ...tx, ...port, stationId }, event, null, namesPort);
    const [outcome] = await applyToExistingQuery.execute(this.db, shape, args);
    const applied = outcome?.status != null;
    return {
      // The transaction's port: the one this event gave it, or the one it had.
      ...(applied && namesPort ? port : { evseId: tx.evseId, connectorId: tx.connectorId }),
      applied,
      duplicate: (outcome?.logged ?? 0) === 0,
      ended: outcome?.status === 'ended',
      eventsComplete: outcome?.events_complete === true,
    };
  }
}

interface CreatedTransaction extends TransactionRef {
  ended: boolean;
  eventsComplete: boolean;
}

/** The port an event is about: the one it names, else its transaction's. */
function portOf(input: TransactionEventInput, tx: TransactionRef): { evseId: number; connectorId: number } {
  return input.evseId !== undefined
    ? { evseId: input.evseId, connectorId: input.connectorId ?? 1 }
    : { evseId: tx.evseId, connectorId: tx.connectorId };
}

interface AppliedEvent {
  input: TransactionEventInput;
  idTokenInfo: AuthorizationResult | undefined;
  seqNo: number | undefined;
  now: Date;
}

const cacheKeyOf = (stationId: string, chargerTransactionId: string) => `${stationId}\u0000${chargerTransactionId}`;

const refOf = (r: TransactionRef): TransactionRef => ({
  id: r.id,
  chargerTransactionId: r.chargerTransactionId,
  evseId: r.evseId,
  connectorId: r.connectorId,
});

function startKeyOf(input: TransactionEventInput): string {
  return [
    input.evseId,
    input.connectorId,
    input.idToken?.idToken ?? '',
    input.timestamp.toISOString(),
    input.meterStartWh ?? '',
  ].join('|');
}

/**
 * For a batch of meter samples: the statement that merges every touched transaction's new readings at once.
 * The readings go as one array per column (unnest), so the statement's text is the same however many
 * transactions a batch touches, and PostgreSQL keeps it prepared (a VALUES list made a new text per count).
 */
function energyFromSamples(rows: Record<string, unknown>[]): RawBuilder<unknown> | undefined {
  const extremes = [...registerExtremes(rows)].sort(byKey);
  if (extremes.length === 0) return undefined;
  const column = <T>(pick: (e: RegisterExtremes) => T) => extremes.map(([, e]) => pick(e));
  // Readings outside transaction events (1.6 MeterValues) come between the start's and the stop's.
  const place = sql.lit(BETWEEN_START_AND_STOP);
  const merge = energyMerge(
    { at: sql.ref('v.first_at'), wh: sql.ref('v.first_wh'), place },
    { at: sql.ref('v.last_at'), wh: sql.ref('v.last_wh'), place },
  );
  const assignments = sql.join(Object.entries(merge).map(([name, value]) => sql`${sql.ref(name)} = ${value}`));
  return sql`UPDATE transactions SET ${assignments}, updated_at = now()
    FROM unnest(${extremes.map(([id]) => id)}::text[],
      ${column((e) => e.firstAt.toISOString())}::timestamptz[], ${column((e) => e.firstWh)}::float8[],
      ${column((e) => e.lastAt.toISOString())}::timestamptz[], ${column((e) => e.lastWh)}::float8[])
      AS v(id, first_at, first_wh, last_at, last_wh)
    WHERE transactions.id = v.id`;
}
