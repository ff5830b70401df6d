// The sessions domain: authorization against the id-token table, transactions from either OCPP version
// (one id each, duplicates and offline replays stored once and in order), and meter samples.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { BatchWriter } from '../storage/batch-writer.ts';
import type { StationsService } from '../stations/service.ts';
import type { ConnectorStatus } from '../stations/model.ts';
import { ENERGY_REGISTER } from './meter.ts';
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
  status: string;
  expires_at: Date | null;
  group_id: string | null;
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
  private readonly tokenCache = new Map<string, { row: TokenRow | null; at: number }>();

  private personalMessage: PersonalMessageProvider | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly writer: BatchWriter,
    private readonly stations: StationsService,
    private readonly bus?: EventBus,
  ) {
    writer.define('meter_samples', {
      // Keep the transaction's energy up to date in the same statement as its samples.
      alsoWrite: (rows) => energyFromSamples(rows),
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

  async authorize(stationId: string, token: IdTokenRef, options: AuthorizeOptions = {}): Promise<AuthorizationResult> {
    const row = await this.tokenRow(token.idToken);
    if (!row) return { status: 'unknown' };
    const result: AuthorizationResult = { status: row.status as AuthorizationResult['status'] };
    if (row.group_id) result.groupId = row.group_id;
    if (row.expires_at) {
      result.expiresAt = row.expires_at;
      if (row.expires_at.getTime() <= Date.now() && result.status === 'accepted') result.status = 'expired';
    }
    if (result.status === 'accepted' && options.personalMessage && this.personalMessage) {
      // A message is a courtesy: failing to build one never refuses or delays a token beyond the lookup.
      const message = await this.personalMessage(stationId, token).catch(() => undefined);
      if (message) result.personalMessage = message;
    }
    return result;
  }

  /**
   * Applies one transaction event from either version. Replays are recognised and not applied twice. Each event
   * is one atomic statement when the transaction is new or known to this process (the common case), at most three
   * otherwise: no BEGIN/COMMIT round trips, each of which would wait its turn in a busy event loop.
   */
  async transactionEvent(stationId: string, input: TransactionEventInput): Promise<TransactionEventResult> {
    const idTokenInfo = input.idToken
      ? await this.authorize(stationId, input.idToken, { personalMessage: input.personalMessage })
      : undefined;
    const now = new Date();
    const seqNo =
      input.seqNo ?? (input.eventType === 'started' ? FIRST_SEQ : input.eventType === 'ended' ? LAST_SEQ : undefined);
    const event = { input, idTokenInfo, seqNo, now };
    const known =
      input.chargerTransactionId !== undefined
        ? this.idCache.get(cacheKeyOf(stationId, input.chargerTransactionId))
        : undefined;
    let result: TransactionRef & { duplicate: boolean };
    if (known) {
      result = { ...known, duplicate: !(await this.applyToExisting(stationId, known, event)) };
    } else {
      const created = await this.createWithEvent(stationId, event);
      if (created) {
        result = { ...created, duplicate: false };
      } else {
        const existing = await this.findExisting(stationId, input);
        result = { ...existing, duplicate: !(await this.applyToExisting(stationId, existing, event)) };
      }
    }
    // Keep running transactions at hand; an ended one rarely gets more meter values.
    const cacheKey = cacheKeyOf(stationId, result.chargerTransactionId);
    if (input.eventType === 'ended') this.idCache.delete(cacheKey);
    else if (!known) this.idCache.set(cacheKey, refOf(result));
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
  private async createWithEvent(stationId: string, event: AppliedEvent): Promise<TransactionRef | undefined> {
    const { input } = event;
    const id = randomUUID();
    let chargerTransactionId: string | RawBuilder<string>;
    let startKey: string | null = null;
    let conflict: RawBuilder<unknown>;
    if (input.chargerTransactionId !== undefined) {
      chargerTransactionId = input.chargerTransactionId;
      conflict = sql`(station_id, charger_transaction_id)`;
    } else {
      // The CSMS assigns the charger's id (1.6). A repeated start (same port, token, time and meter) is the
      // same transaction: it gets the same id back instead of a second transaction.
      chargerTransactionId = sql<string>`nextval('charger_transaction_id_seq')::text`;
      startKey = startKeyOf(input);
      conflict = sql`(station_id, start_key) WHERE start_key IS NOT NULL`;
    }
    const port = { evseId: input.evseId, connectorId: input.connectorId };
    const samples = samplesOf(stationId, { id, ...port }, input, event.now);
    const row = {
      ...newTransaction(id, stationId, input, chargerTransactionId as string, startKey),
      // The event applied to an empty row: the same expressions as for an existing one, over NULLs.
      ...changesOf(event, samples, emptyRow),
    };
    const columns = Object.keys(row);
    const inserted = sql`INSERT INTO transactions (${sql.join(columns.map((c) => sql.id(c)))})
      VALUES (${sql.join(columns.map((c) => (row as Record<string, unknown>)[c]))})
      ON CONFLICT ${conflict} DO NOTHING RETURNING id, charger_transaction_id`;
    const parts = [sql`created AS (${inserted})`];
    const guard = sql`EXISTS (SELECT 1 FROM created)`;
    if (event.seqNo !== undefined) parts.push(sql`logged AS (${eventInsert(id, event, guard)})`);
    if (samples.length)
      parts.push(sql`sampled AS (${await this.writer.guardedInsert('meter_samples', samples, guard)})`);
    const result = await sql<{ id: string; charger_transaction_id: string }>`WITH ${sql.join(parts)}
      SELECT id, charger_transaction_id FROM created`.execute(this.db);
    const created = result.rows[0];
    return created ? { id: created.id, chargerTransactionId: created.charger_transaction_id, ...port } : undefined;
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
      // Events of a known transaction may omit the port (2.0.1 updates, 1.6 stop): the transaction's counts.
      evseId: existing.evse_id,
      connectorId: existing.connector_id,
    };
  }

  /**
   * An event of a stored transaction, in one statement: logged, applied to the row and its samples stored —
   * or, when the log has it already (a replay), none of these. False for a replay.
   */
  private async applyToExisting(stationId: string, tx: TransactionRef, event: AppliedEvent): Promise<boolean> {
    const samples = samplesOf(stationId, tx, event.input, event.now);
    const set = { updated_at: event.now, ...changesOf(event, samples, currentRow) };
    const assignments = sql.join(Object.entries(set).map(([column, value]) => sql`${sql.id(column)} = ${value}`));
    const parts: RawBuilder<unknown>[] = [];
    let guard: RawBuilder<unknown> = sql`TRUE`;
    if (event.seqNo !== undefined) {
      parts.push(sql`logged AS (${eventInsert(tx.id, event, undefined)} RETURNING seq_no)`);
      guard = sql`EXISTS (SELECT 1 FROM logged)`;
    }
    parts.push(sql`applied AS (UPDATE transactions SET ${assignments} WHERE id = ${tx.id} AND ${guard} RETURNING id)`);
    if (samples.length)
      parts.push(sql`sampled AS (${await this.writer.guardedInsert('meter_samples', samples, guard)})`);
    const result = await sql<{ applied: number }>`WITH ${sql.join(parts)}
      SELECT count(*)::int AS applied FROM applied`.execute(this.db);
    return (result.rows[0]?.applied ?? 0) > 0;
  }
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

/** The columns of the stored row that an event's changes read, with their types (for a typed NULL). */
const READ_COLUMNS = {
  id_token: 'text',
  started_at: 'timestamptz',
  charging_state: 'text',
  last_seq_no: 'integer',
  meter_start_at: 'timestamptz',
  meter_start_wh: 'float8',
  meter_stop_at: 'timestamptz',
  meter_stop_wh: 'float8',
} as const;
type ReadColumn = keyof typeof READ_COLUMNS;
type RowReader = (column: ReadColumn) => RawBuilder<unknown>;

/** The stored row, inside `UPDATE transactions`. */
const currentRow: RowReader = (column) => sql.ref(`transactions.${column}`);
/** A row that does not exist yet: every column NULL. */
const emptyRow: RowReader = (column) => sql.raw(`NULL::${READ_COLUMNS[column]}`);

/**
 * What an event changes in its transaction's row, as SQL expressions over the row's current values (`row`), so
 * that replays in any order converge on the same row, and so that the same expressions give a new row's values.
 */
function changesOf(
  event: AppliedEvent,
  samples: Record<string, unknown>[],
  row: RowReader,
): Record<string, RawBuilder<unknown> | string | number | boolean | null | Date> {
  const { input, idTokenInfo, seqNo } = event;
  const ts = sql`${input.timestamp.toISOString()}::timestamptz`;
  const set: Record<string, RawBuilder<unknown> | string | number | boolean | null | Date> = {};
  // The energy readings this event carries are merged in the same statement as the rest.
  const energy = registerExtremes(samples).values().next().value as RegisterExtremes | undefined;
  if (energy) Object.assign(set, energyMergeOf(energy, row));
  if (input.idToken) {
    if (input.eventType === 'ended') {
      set.stopped_by_token = input.idToken.idToken;
      set.id_token = sql`COALESCE(${row('id_token')}, ${input.idToken.idToken})`;
    } else {
      set.id_token = input.idToken.idToken;
      set.id_token_type = input.idToken.type;
      set.auth_status = idTokenInfo?.status ?? null;
    }
  }
  // A transaction first heard of in an update (e.g. started offline, start lost) still gets a start time.
  set.started_at =
    input.eventType === 'started'
      ? sql`LEAST(${row('started_at')}, ${ts})`
      : sql`COALESCE(${row('started_at')}, ${ts})`;
  if (input.eventType === 'ended') {
    set.status = 'ended';
    set.stopped_at = sql`${ts}`;
    set.stop_reason = input.stopReason ?? null;
  }
  // Only a newer event changes the charging state: replays arrive out of order.
  if (input.chargingState && seqNo !== undefined) {
    set.charging_state = sql`CASE WHEN ${row('last_seq_no')} IS NULL OR ${row('last_seq_no')} <= ${seqNo}::integer
      THEN ${input.chargingState}::text ELSE ${row('charging_state')} END`;
  }
  if (seqNo !== undefined) set.last_seq_no = sql`GREATEST(${row('last_seq_no')}, ${seqNo}::integer)`;
  if (input.offline) set.offline = true;
  if (input.reservationId !== undefined) set.reservation_id = input.reservationId;
  if (input.remoteStartId !== undefined) set.remote_start_id = input.remoteStartId;
  return set;
}

/** The event's entry in its transaction's log; with a guard, only when the guard holds. */
function eventInsert(transactionId: string, event: AppliedEvent, guard: RawBuilder<unknown> | undefined) {
  const { input, seqNo, now } = event;
  const values = sql.join([
    sql`${transactionId}::text`,
    sql`${seqNo}::integer`,
    sql`${input.eventType}::text`,
    sql`${input.triggerReason ?? null}::text`,
    sql`${input.chargingState ?? null}::text`,
    sql`${input.offline ?? false}::boolean`,
    sql`${input.timestamp.toISOString()}::timestamptz`,
    sql`${now.toISOString()}::timestamptz`,
    sql`${JSON.stringify(input.payload)}::jsonb`,
  ]);
  const source = guard ? sql`SELECT ${values} WHERE ${guard}` : sql`VALUES (${values})`;
  return sql`INSERT INTO transaction_events (transaction_id, seq_no, event_type, trigger_reason, charging_state,
      offline, occurred_at, received_at, payload) ${source}
    ON CONFLICT (transaction_id, seq_no) DO NOTHING`;
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
function samplesOf(
  stationId: string,
  tx: Pick<TransactionRef, 'id' | 'evseId' | 'connectorId'>,
  input: TransactionEventInput,
  now: Date,
) {
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
  row: RowReader = currentRow,
) {
  const start = sql`CASE WHEN ${row('meter_start_at')} IS NULL OR ${firstAt} < ${row('meter_start_at')}
    OR (${firstAt} = ${row('meter_start_at')} AND ${firstWh} < ${row('meter_start_wh')})
    THEN ${firstWh} ELSE ${row('meter_start_wh')} END`;
  const stop = sql`CASE WHEN ${row('meter_stop_at')} IS NULL OR ${lastAt} > ${row('meter_stop_at')}
    OR (${lastAt} = ${row('meter_stop_at')} AND ${lastWh} > ${row('meter_stop_wh')})
    THEN ${lastWh} ELSE ${row('meter_stop_wh')} END`;
  return {
    meter_start_wh: start,
    meter_start_at: sql`LEAST(${row('meter_start_at')}, ${firstAt})`,
    meter_stop_wh: stop,
    meter_stop_at: sql`GREATEST(${row('meter_stop_at')}, ${lastAt})`,
    energy_wh: sql`(${stop}) - (${start})`,
  };
}

/** The merge for one event's readings, as values, over the row `row` reads. */
function energyMergeOf(e: RegisterExtremes, row: RowReader) {
  return energyMerge(
    sql`${e.firstAt.toISOString()}::timestamptz`,
    sql`${e.firstWh}::float8`,
    sql`${e.lastAt.toISOString()}::timestamptz`,
    sql`${e.lastWh}::float8`,
    row,
  );
}

/** For a batch of meter samples: the statement that merges every touched transaction's new readings at once. */
function energyFromSamples(rows: Record<string, unknown>[]): RawBuilder<unknown> | undefined {
  const extremes = [...registerExtremes(rows)].sort(byKey);
  if (extremes.length === 0) return undefined;
  const values = sql.join(
    extremes.map(
      ([id, e]) =>
        sql`(${id}, ${e.firstAt.toISOString()}::timestamptz, ${e.firstWh}::float8, ${e.lastAt.toISOString()}::timestamptz, ${e.lastWh}::float8)`,
    ),
  );
  const merge = energyMerge(sql.ref('v.first_at'), sql.ref('v.first_wh'), sql.ref('v.last_at'), sql.ref('v.last_wh'));
  const assignments = sql.join(Object.entries(merge).map(([column, value]) => sql`${sql.ref(column)} = ${value}`));
  return sql`UPDATE transactions SET ${assignments}, updated_at = now()
    FROM (VALUES ${values}) AS v(id, first_at, first_wh, last_at, last_wh)
    WHERE transactions.id = v.id`;
}
