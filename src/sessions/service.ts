// The sessions domain: authorization against the id-token table, transactions from either OCPP version
// (one id each, duplicates and offline replays stored once and in order), and meter samples.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { BatchWriter } from '../storage/batch-writer.ts';
import type { StationsService } from '../stations/service.ts';
import type { ConnectorStatus } from '../stations/model.ts';
import { ENERGY_REGISTER } from './meter.ts';
import type { EventBus } from '../events/bus.ts';
import type {
  AuthorizationResult,
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
  status: string;
  expires_at: Date | null;
  group_id: string | null;
}

/** How long an id-token row read for authorization is reused; changes made here invalidate it at once. */
const TOKEN_CACHE_MS = 30_000;
const TOKEN_CACHE_MAX = 100_000;

export class SessionsService {
  /** (station, charger transaction id) → our id, so hot meter-value messages need no lookup. */
  private readonly idCache = new Map<string, string>();
  /** id token → its row (or null: unknown), so Authorize and transaction starts need no query each. */
  private readonly tokenCache = new Map<string, { row: TokenRow | null; at: number }>();

  private personalMessage: PersonalMessageProvider | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly writer: BatchWriter,
    private readonly stations: StationsService,
    private readonly bus?: EventBus,
  ) {
    writer.define('meter_samples', {
      // Keep the transaction's energy up to date in the same commit as its samples.
      after: (trx, rows) => updateEnergyFromSamples(trx, rows),
    });
  }

  async upsertIdToken(token: IdTokenInput): Promise<void> {
    const values = {
      id_token: token.idToken,
      type: token.type ?? 'ISO14443',
      status: token.status ?? 'accepted',
      expires_at: token.expiresAt ?? null,
      group_id: token.groupId ?? null,
    };
    await this.db
      .insertInto('id_tokens')
      .values(values)
      .onConflict((oc) => oc.column('id_token').doUpdateSet({ ...values, updated_at: new Date() }))
      .execute();
    this.forgetIdToken(token.idToken);
  }

  /** Drops a token from the authorization cache; call after changing it anywhere. */
  forgetIdToken(idToken: string): void {
    this.tokenCache.delete(idToken);
  }

  private async tokenRow(idToken: string): Promise<TokenRow | null> {
    const cached = this.tokenCache.get(idToken);
    if (cached && Date.now() - cached.at < TOKEN_CACHE_MS) return cached.row;
    const row =
      (await this.db
        .selectFrom('id_tokens')
        .select(['status', 'expires_at', 'group_id'])
        .where('id_token', '=', idToken)
        .executeTakeFirst()) ?? null;
    if (this.tokenCache.size >= TOKEN_CACHE_MAX) this.tokenCache.clear();
    this.tokenCache.set(idToken, { row, at: Date.now() });
    return row;
  }

  /** A domain with something to tell the driver on an accepted token (billing: the price) registers here. */
  usePersonalMessage(provider: PersonalMessageProvider): void {
    this.personalMessage = provider;
  }

  async authorize(stationId: string, token: IdTokenRef): Promise<AuthorizationResult> {
    const row = await this.tokenRow(token.idToken);
    if (!row) return { status: 'unknown' };
    const result: AuthorizationResult = { status: row.status as AuthorizationResult['status'] };
    if (row.group_id) result.groupId = row.group_id;
    if (row.expires_at) {
      result.expiresAt = row.expires_at;
      if (row.expires_at.getTime() <= Date.now() && result.status === 'accepted') result.status = 'expired';
    }
    if (result.status === 'accepted' && this.personalMessage) {
      // A message is a courtesy: failing to build one never refuses or delays a token beyond the lookup.
      const message = await this.personalMessage(stationId, token).catch(() => undefined);
      if (message) result.personalMessage = message;
    }
    return result;
  }

  /** Applies one transaction event from either version. Replays are recognised and not applied twice. */
  async transactionEvent(stationId: string, input: TransactionEventInput): Promise<TransactionEventResult> {
    const idTokenInfo = input.idToken ? await this.authorize(stationId, input.idToken) : undefined;
    const now = new Date();
    const result = await this.db.transaction().execute(async (trx) => {
      const tx = await this.findOrCreate(trx, stationId, input);
      const seqNo =
        input.seqNo ?? (input.eventType === 'started' ? FIRST_SEQ : input.eventType === 'ended' ? LAST_SEQ : undefined);
      if (seqNo !== undefined) {
        const logged = await trx
          .insertInto('transaction_events')
          .values({
            transaction_id: tx.id,
            seq_no: seqNo,
            event_type: input.eventType,
            trigger_reason: input.triggerReason ?? null,
            charging_state: input.chargingState ?? null,
            offline: input.offline ?? false,
            occurred_at: input.timestamp,
            received_at: now,
            payload: JSON.stringify(input.payload),
          })
          .onConflict((oc) => oc.columns(['transaction_id', 'seq_no']).doNothing())
          .returning('seq_no')
          .executeTakeFirst();
        if (!logged) return { ...tx, duplicate: true };
      }
      // Events of a known transaction may omit the port (2.0.1 updates, 1.6 stop): use the transaction's.
      const samples = samplesOf(stationId, tx, input, now);
      await this.apply(trx, tx.id, input, idTokenInfo, seqNo, registerExtremes(samples).get(tx.id));
      if (samples.length) await trx.insertInto('meter_samples').values(samples).execute();
      return { ...tx, duplicate: false };
    });
    // Keep the id of running transactions at hand; an ended one rarely gets more meter values.
    const cacheKey = `${stationId}\u0000${result.chargerTransactionId}`;
    if (input.eventType === 'ended') this.idCache.delete(cacheKey);
    else this.idCache.set(cacheKey, result.id);
    if (!result.duplicate) {
      this.bus?.publish({
        type: `transaction.${input.eventType}`,
        transactionId: result.id,
        stationId,
        evseId: result.evseId,
        connectorId: result.connectorId,
        ...(input.idToken ? { idToken: input.idToken.idToken } : {}),
        ...(input.stopReason ? { stopReason: input.stopReason } : {}),
        at: input.timestamp,
      });
    }
    if (!result.duplicate && input.chargingState) {
      const status = input.eventType === 'ended' ? undefined : CHARGING_STATE_STATUS[input.chargingState];
      if (status && this.stations.currentStatus(stationId, result.evseId, result.connectorId) !== status) {
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
    const now = new Date();
    await this.writer.write({
      meter_samples: samples.map((s) => sampleRow(stationId, port.evseId, port.connectorId, transactionId, s, now)),
    });
  }

  async resolveId(stationId: string, chargerTransactionId: string): Promise<string | undefined> {
    const key = `${stationId}\u0000${chargerTransactionId}`;
    const cached = this.idCache.get(key);
    if (cached) return cached;
    const row = await this.db
      .selectFrom('transactions')
      .select('id')
      .where('station_id', '=', stationId)
      .where('charger_transaction_id', '=', chargerTransactionId)
      .executeTakeFirst();
    if (row) this.idCache.set(key, row.id);
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

  private async findOrCreate(
    trx: Transaction<Database>,
    stationId: string,
    input: TransactionEventInput,
  ): Promise<TransactionRef> {
    if (input.chargerTransactionId !== undefined) {
      const id = randomUUID();
      const inserted = await trx
        .insertInto('transactions')
        .values(newTransaction(id, stationId, input, input.chargerTransactionId, null))
        .onConflict((oc) => oc.columns(['station_id', 'charger_transaction_id']).doNothing())
        .returning('id')
        .executeTakeFirst();
      if (inserted) {
        return {
          id,
          chargerTransactionId: input.chargerTransactionId,
          evseId: input.evseId,
          connectorId: input.connectorId,
        };
      }
      const existing = await trx
        .selectFrom('transactions')
        .select(['id', 'evse_id', 'connector_id'])
        .where('station_id', '=', stationId)
        .where('charger_transaction_id', '=', input.chargerTransactionId)
        .executeTakeFirstOrThrow();
      return {
        id: existing.id,
        chargerTransactionId: input.chargerTransactionId,
        evseId: existing.evse_id,
        connectorId: existing.connector_id,
      };
    }
    // The CSMS assigns the charger's id (1.6). A repeated start (same port, token, time and meter) is the
    // same transaction: it gets the same id back instead of a second transaction.
    const startKey = [
      input.evseId,
      input.connectorId,
      input.idToken?.idToken ?? '',
      input.timestamp.toISOString(),
      input.meterStartWh ?? '',
    ].join('|');
    const id = randomUUID();
    const inserted = await trx
      .insertInto('transactions')
      .values(
        newTransaction(id, stationId, input, sql<string>`nextval('charger_transaction_id_seq')::text` as any, startKey),
      )
      .onConflict((oc) => oc.columns(['station_id', 'start_key']).where('start_key', 'is not', null).doNothing())
      .returning(['id', 'charger_transaction_id'])
      .executeTakeFirst();
    const port = { evseId: input.evseId, connectorId: input.connectorId };
    if (inserted) return { id: inserted.id, chargerTransactionId: inserted.charger_transaction_id, ...port };
    const existing = await trx
      .selectFrom('transactions')
      .select(['id', 'charger_transaction_id'])
      .where('station_id', '=', stationId)
      .where('start_key', '=', startKey)
      .executeTakeFirstOrThrow();
    return { id: existing.id, chargerTransactionId: existing.charger_transaction_id, ...port };
  }

  private async apply(
    trx: Transaction<Database>,
    id: string,
    input: TransactionEventInput,
    idTokenInfo: AuthorizationResult | undefined,
    seqNo: number | undefined,
    energy: RegisterExtremes | undefined,
  ): Promise<void> {
    const ts = input.timestamp.toISOString();
    // The energy readings this event carries are merged in the same statement as the rest.
    const set: Record<string, unknown> = { updated_at: new Date(), ...(energy ? energyMergeOf(energy) : {}) };
    if (input.idToken) {
      if (input.eventType === 'ended') {
        set.stopped_by_token = input.idToken.idToken;
        set.id_token = sql`COALESCE(transactions.id_token, ${input.idToken.idToken})`;
      } else {
        set.id_token = input.idToken.idToken;
        set.id_token_type = input.idToken.type;
        set.auth_status = idTokenInfo?.status ?? null;
      }
    }
    if (input.eventType === 'started') {
      set.started_at = sql`LEAST(transactions.started_at, ${ts}::timestamptz)`;
    } else {
      // A transaction first heard of in an update (e.g. started offline, start lost) still gets a start time.
      set.started_at = sql`COALESCE(transactions.started_at, ${ts}::timestamptz)`;
    }
    if (input.eventType === 'ended') {
      set.status = 'ended';
      set.stopped_at = ts;
      set.stop_reason = input.stopReason ?? null;
    }
    // Only a newer event changes the charging state: replays arrive out of order.
    if (input.chargingState && seqNo !== undefined) {
      set.charging_state = sql`CASE WHEN transactions.last_seq_no IS NULL OR transactions.last_seq_no <= ${seqNo}
        THEN ${input.chargingState} ELSE transactions.charging_state END`;
    }
    if (seqNo !== undefined) set.last_seq_no = sql`GREATEST(transactions.last_seq_no, ${seqNo})`;
    if (input.offline) set.offline = true;
    if (input.reservationId !== undefined) set.reservation_id = input.reservationId;
    if (input.remoteStartId !== undefined) set.remote_start_id = input.remoteStartId;
    await trx
      .updateTable('transactions')
      .set(set as any)
      .where('id', '=', id)
      .execute();
  }
}

function newTransaction(
  id: string,
  stationId: string,
  input: TransactionEventInput,
  chargerTransactionId: string,
  startKey: string | null,
) {
  return {
    id,
    station_id: stationId,
    evse_id: input.evseId,
    connector_id: input.connectorId,
    charger_transaction_id: chargerTransactionId,
    id_token: null,
    id_token_type: null,
    auth_status: null,
    status: 'active' as const,
    charging_state: null,
    started_at: null,
    stopped_at: null,
    meter_start_wh: null,
    meter_stop_wh: null,
    energy_wh: null,
    meter_start_at: null,
    meter_stop_at: null,
    stop_reason: null,
    stopped_by_token: null,
    reservation_id: null,
    remote_start_id: null,
    offline: input.offline ?? false,
    last_seq_no: null,
    start_key: startKey,
  };
}

function sampleRow(
  stationId: string,
  evseId: number,
  connectorId: number,
  transactionId: string | undefined,
  s: MeterSample,
  receivedAt: Date,
) {
  return {
    station_id: stationId,
    evse_id: evseId,
    connector_id: connectorId,
    transaction_id: transactionId ?? null,
    sampled_at: s.timestamp,
    measurand: s.measurand,
    phase: s.phase ?? null,
    location: s.location ?? null,
    unit: s.unit,
    value: s.value,
    context: s.context ?? null,
    signed_data: s.signedData ?? null,
    received_at: receivedAt,
  };
}

/** The samples a transaction event carries, plus 1.6's meterStart/meterStop as register readings. */
function samplesOf(stationId: string, tx: TransactionRef, input: TransactionEventInput, now: Date) {
  const samples: MeterSample[] = [...(input.meterValues ?? [])];
  if (input.meterStartWh !== undefined) {
    samples.push({
      timestamp: input.timestamp,
      measurand: ENERGY_REGISTER,
      unit: 'Wh',
      value: input.meterStartWh,
      context: 'Transaction.Begin',
    });
  }
  if (input.meterStopWh !== undefined) {
    samples.push({
      timestamp: input.timestamp,
      measurand: ENERGY_REGISTER,
      unit: 'Wh',
      value: input.meterStopWh,
      context: 'Transaction.End',
    });
  }
  return samples.map((s) => sampleRow(stationId, tx.evseId, tx.connectorId, tx.id, s, now));
}

interface RegisterExtremes {
  firstAt: Date;
  firstWh: number;
  lastAt: Date;
  lastWh: number;
}

/** The first and last whole-meter register readings per transaction among some sample rows. */
function registerExtremes(rows: Record<string, unknown>[]): Map<string, RegisterExtremes> {
  const extremes = new Map<string, RegisterExtremes>();
  for (const r of rows) {
    if (!r.transaction_id || r.measurand !== ENERGY_REGISTER || r.phase != null) continue;
    if (r.location != null && r.location !== 'Outlet') continue;
    const wh = r.value as number;
    if (Number.isNaN(wh)) continue;
    const at = r.sampled_at as Date;
    const id = r.transaction_id as string;
    const e = extremes.get(id);
    if (!e) {
      extremes.set(id, { firstAt: at, firstWh: wh, lastAt: at, lastWh: wh });
      continue;
    }
    // Ties in time: the lower reading is the first, the higher the last (a register never runs backwards).
    if (at < e.firstAt || (at.getTime() === e.firstAt.getTime() && wh < e.firstWh)) {
      Object.assign(e, { firstAt: at, firstWh: wh });
    }
    if (at > e.lastAt || (at.getTime() === e.lastAt.getTime() && wh > e.lastWh)) {
      Object.assign(e, { lastAt: at, lastWh: wh });
    }
  }
  return extremes;
}

/**
 * Energy of a transaction = last minus first reading of its energy register, by sample time, so samples
 * that arrive late or out of order still give the right figure. The first and last readings are kept with
 * their times on the transaction; new readings are merged into them (SET expressions over the row's
 * current values), so the cost is per new sample, not per stored one.
 */
function energyMerge(
  firstAt: RawBuilder<unknown>,
  firstWh: RawBuilder<unknown>,
  lastAt: RawBuilder<unknown>,
  lastWh: RawBuilder<unknown>,
) {
  const start = sql`CASE WHEN transactions.meter_start_at IS NULL OR ${firstAt} < transactions.meter_start_at
    OR (${firstAt} = transactions.meter_start_at AND ${firstWh} < transactions.meter_start_wh)
    THEN ${firstWh} ELSE transactions.meter_start_wh END`;
  const stop = sql`CASE WHEN transactions.meter_stop_at IS NULL OR ${lastAt} > transactions.meter_stop_at
    OR (${lastAt} = transactions.meter_stop_at AND ${lastWh} > transactions.meter_stop_wh)
    THEN ${lastWh} ELSE transactions.meter_stop_wh END`;
  return {
    meter_start_wh: start,
    meter_start_at: sql`LEAST(transactions.meter_start_at, ${firstAt})`,
    meter_stop_wh: stop,
    meter_stop_at: sql`GREATEST(transactions.meter_stop_at, ${lastAt})`,
    energy_wh: sql`(${stop}) - (${start})`,
  };
}

/** The merge for one event's readings, as values. */
function energyMergeOf(e: RegisterExtremes) {
  return energyMerge(
    sql`${e.firstAt.toISOString()}::timestamptz`,
    sql`${e.firstWh}::float8`,
    sql`${e.lastAt.toISOString()}::timestamptz`,
    sql`${e.lastWh}::float8`,
  );
}

/** After a batch of meter samples: merge every touched transaction's new readings in one statement. */
async function updateEnergyFromSamples(trx: Transaction<Database>, rows: Record<string, unknown>[]): Promise<void> {
  const extremes = [...registerExtremes(rows)].sort(byKey);
  if (extremes.length === 0) return;
  const values = sql.join(
    extremes.map(
      ([id, e]) =>
        sql`(${id}, ${e.firstAt.toISOString()}::timestamptz, ${e.firstWh}::float8, ${e.lastAt.toISOString()}::timestamptz, ${e.lastWh}::float8)`,
    ),
  );
  const merge = energyMerge(sql.ref('v.first_at'), sql.ref('v.first_wh'), sql.ref('v.last_at'), sql.ref('v.last_wh'));
  const assignments = sql.join(Object.entries(merge).map(([column, value]) => sql`${sql.ref(column)} = ${value}`));
  await sql`UPDATE transactions SET ${assignments}, updated_at = now()
    FROM (VALUES ${values}) AS v(id, first_at, first_wh, last_at, last_wh)
    WHERE transactions.id = v.id`.execute(trx);
}
