// The single statement each transaction event is stored with: the transaction's row created or changed, the event
// in its log and its meter samples, all guarded so that a replay changes nothing. The SQL is written with Kysely's
// `sql` templates over placeholders and compiled once per shape (which optional parts an event has); each event
// then only binds its values. Building and compiling these templates per event had been the largest part of a
// transaction start's CPU and garbage (measured with the benchmark's CPU and allocation profiles).
import { sql, type RawBuilder } from 'kysely';
import { arrayElement, BatchWriter } from '../storage/batch-writer.ts';
import { ShapedQuery } from '../storage/prepared.ts';
import { ENERGY_REGISTER } from './meter.ts';
import type { AuthorizationResult, MeterSample, TransactionEventInput } from './model.ts';

/** Which optional parts an event's statement has. Everything else in it is a bound value. */
export interface EventShape {
  eventType: TransactionEventInput['eventType'];
  /** The charger named the transaction (2.0.1); otherwise the CSMS numbers it and a start key finds repeats. */
  chargerNamed: boolean;
  /** The event has a sequence number: it is logged, and the log guards the rest. */
  logged: boolean;
  sampled: boolean;
  /** The samples include energy register readings, merged into the row's first and last reading. */
  energy: boolean;
  token: boolean;
  chargingState: boolean;
  offline: boolean;
  reservation: boolean;
  remoteStart: boolean;
  /** meter_samples' column types (the same for every event; not part of the shape's key). */
  sampleTypes: Map<string, string>;
}

const shapeKey = (s: EventShape) =>
  [
    s.eventType,
    s.chargerNamed,
    s.logged,
    s.sampled,
    s.energy,
    s.token,
    s.chargingState,
    s.offline,
    s.reservation,
    s.remoteStart,
  ].join();

/** The values an event's statement binds: event fields, one array per meter-sample column (`s_<column>`). */
export interface EventArgs extends Record<string, unknown> {
  id: string;
  stationId: string;
  evseId: number;
  connectorId: number;
  chargerTransactionId: string | null;
  startKey: string | null;
  offline: boolean;
  ts: string;
  now: string;
  updatedAt: Date;
  idToken: string | null;
  idTokenType: string | null;
  authStatus: string | null;
  stopReason: string | null;
  chargingState: string | null;
  seqNo: number | null;
  reservationId: number | null;
  remoteStartId: number | null;
  firstAt: string | null;
  firstWh: number | null;
  lastAt: string | null;
  lastWh: number | null;
  triggerReason: string | null;
  payload: string;
}

export const SAMPLE_COLUMNS = [
  'station_id',
  'evse_id',
  'connector_id',
  'transaction_id',
  'sampled_at',
  'measurand',
  'phase',
  'location',
  'unit',
  'value',
  'context',
  'signed_data',
  'received_at',
] as const;
export type SampleRow = Record<(typeof SAMPLE_COLUMNS)[number], unknown>;

/** One event of one transaction, ready to be stored: its shape and its values. */
export function eventStatementOf(
  tx: { id: string; evseId: number; connectorId: number; stationId: string },
  input: TransactionEventInput,
  idTokenInfo: AuthorizationResult | undefined,
  seqNo: number | undefined,
  now: Date,
  sampleTypes: Map<string, string>,
  startKey: string | null,
): { shape: EventShape; args: EventArgs } {
  const samples = samplesOf(tx, input, now);
  const energy = registerExtremes(samples).values().next().value as RegisterExtremes | undefined;
  const args: EventArgs = {
    id: tx.id,
    stationId: tx.stationId,
    evseId: tx.evseId,
    connectorId: tx.connectorId,
    chargerTransactionId: input.chargerTransactionId ?? null,
    startKey,
    offline: input.offline ?? false,
    ts: input.timestamp.toISOString(),
    now: now.toISOString(),
    updatedAt: now,
    idToken: input.idToken?.idToken ?? null,
    idTokenType: input.idToken?.type ?? null,
    authStatus: idTokenInfo?.status ?? null,
    stopReason: input.stopReason ?? null,
    chargingState: input.chargingState ?? null,
    seqNo: seqNo ?? null,
    reservationId: input.reservationId ?? null,
    remoteStartId: input.remoteStartId ?? null,
    firstAt: energy ? energy.firstAt.toISOString() : null,
    firstWh: energy ? energy.firstWh : null,
    lastAt: energy ? energy.lastAt.toISOString() : null,
    lastWh: energy ? energy.lastWh : null,
    triggerReason: input.triggerReason ?? null,
    payload: JSON.stringify(input.payload),
  };
  for (const column of SAMPLE_COLUMNS) args[`s_${column}`] = samples.map((s) => arrayElement(s[column]));
  const shape: EventShape = {
    eventType: input.eventType,
    chargerNamed: input.chargerTransactionId !== undefined,
    logged: seqNo !== undefined,
    sampled: samples.length > 0,
    energy: energy !== undefined,
    token: input.idToken !== undefined,
    chargingState: input.chargingState !== undefined && seqNo !== undefined,
    offline: input.offline === true,
    reservation: input.reservationId !== undefined,
    remoteStart: input.remoteStartId !== undefined,
    sampleTypes,
  };
  return { shape, args };
}

/**
 * A transaction first heard of: its row (as the event leaves it), the event in its log and the event's samples.
 * Returns the row only when it was created (none when the transaction exists: a later event, or a replay).
 */
export const createWithEventQuery = new ShapedQuery(shapeKey, (_db, a: EventArgs, shape: EventShape) => {
  const row: Record<string, unknown> = {
    id: a.id,
    station_id: a.stationId,
    evse_id: a.evseId,
    connector_id: a.connectorId,
    // The CSMS assigns the charger's id (1.6). A repeated start (same port, token, time and meter) is the
    // same transaction: the start key finds it, and it gets the same id back instead of a second transaction.
    charger_transaction_id: shape.chargerNamed
      ? a.chargerTransactionId
      : sql`nextval('charger_transaction_id_seq')::text`,
    id_token: null,
    id_token_type: null,
    auth_status: null,
    status: 'active',
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
    offline: a.offline,
    last_seq_no: null,
    start_key: a.startKey,
    // The event applied to an empty row: the same expressions as for an existing one, over NULLs.
    ...changesOf(shape, a, emptyRow),
  };
  const columns = Object.keys(row);
  const conflict = shape.chargerNamed
    ? sql`(station_id, charger_transaction_id)`
    : sql`(station_id, start_key) WHERE start_key IS NOT NULL`;
  const inserted = sql`INSERT INTO transactions (${sql.join(columns.map((c) => sql.id(c)))})
      VALUES (${sql.join(columns.map((c) => row[c]))})
      ON CONFLICT ${conflict} DO NOTHING RETURNING id, charger_transaction_id`;
  const parts = [sql`created AS (${inserted})`];
  const guard = sql`EXISTS (SELECT 1 FROM created)`;
  if (shape.logged) parts.push(sql`logged AS (${eventInsert(a, shape, guard)})`);
  if (shape.sampled) parts.push(sql`sampled AS (${samplesInsert(a, shape, guard)})`);
  return sql<{ id: string; charger_transaction_id: string }>`WITH ${sql.join(parts)}
      SELECT id, charger_transaction_id FROM created`;
});

/**
 * An event of a stored transaction: logged, applied to the row and its samples stored, or, when the log has it
 * already (a replay), none of these. Returns how many rows it applied to (0 for a replay).
 */
export const applyToExistingQuery = new ShapedQuery(shapeKey, (_db, a: EventArgs, shape: EventShape) => {
  const set = { updated_at: a.updatedAt, ...changesOf(shape, a, currentRow) };
  const assignments = sql.join(Object.entries(set).map(([column, value]) => sql`${sql.id(column)} = ${value}`));
  const parts: RawBuilder<unknown>[] = [];
  let guard: RawBuilder<unknown> = sql`TRUE`;
  if (shape.logged) {
    parts.push(sql`logged AS (${eventInsert(a, shape, undefined)} RETURNING seq_no)`);
    guard = sql`EXISTS (SELECT 1 FROM logged)`;
  }
  parts.push(sql`applied AS (UPDATE transactions SET ${assignments} WHERE id = ${a.id} AND ${guard} RETURNING id)`);
  if (shape.sampled) parts.push(sql`sampled AS (${samplesInsert(a, shape, guard)})`);
  return sql<{ applied: number }>`WITH ${sql.join(parts)} SELECT count(*)::int AS applied FROM applied`;
});

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
function changesOf(shape: EventShape, a: EventArgs, row: RowReader): Record<string, unknown> {
  const ts = sql`${a.ts}::timestamptz`;
  const set: Record<string, unknown> = {};
  // The energy readings this event carries are merged in the same statement as the rest.
  if (shape.energy) {
    Object.assign(
      set,
      energyMerge(
        sql`${a.firstAt}::timestamptz`,
        sql`${a.firstWh}::float8`,
        sql`${a.lastAt}::timestamptz`,
        sql`${a.lastWh}::float8`,
        row,
      ),
    );
  }
  if (shape.token) {
    if (shape.eventType === 'ended') {
      set.stopped_by_token = a.idToken;
      set.id_token = sql`COALESCE(${row('id_token')}, ${a.idToken}::text)`;
    } else {
      set.id_token = a.idToken;
      set.id_token_type = a.idTokenType;
      set.auth_status = a.authStatus;
    }
  }
  // A transaction first heard of in an update (e.g. started offline, start lost) still gets a start time.
  set.started_at =
    shape.eventType === 'started'
      ? sql`LEAST(${row('started_at')}, ${ts})`
      : sql`COALESCE(${row('started_at')}, ${ts})`;
  if (shape.eventType === 'ended') {
    set.status = 'ended';
    set.stopped_at = ts;
    set.stop_reason = a.stopReason;
  }
  // Only a newer event changes the charging state: replays arrive out of order.
  if (shape.chargingState) {
    set.charging_state = sql`CASE WHEN ${row('last_seq_no')} IS NULL OR ${row('last_seq_no')} <= ${a.seqNo}::integer
      THEN ${a.chargingState}::text ELSE ${row('charging_state')} END`;
  }
  if (shape.logged) set.last_seq_no = sql`GREATEST(${row('last_seq_no')}, ${a.seqNo}::integer)`;
  if (shape.offline) set.offline = true;
  if (shape.reservation) set.reservation_id = a.reservationId;
  if (shape.remoteStart) set.remote_start_id = a.remoteStartId;
  return set;
}

/** The event's entry in its transaction's log; with a guard, only when the guard holds. */
function eventInsert(a: EventArgs, shape: EventShape, guard: RawBuilder<unknown> | undefined) {
  const values = sql.join([
    sql`${a.id}::text`,
    sql`${a.seqNo}::integer`,
    sql`${shape.eventType}::text`,
    sql`${a.triggerReason}::text`,
    sql`${a.chargingState}::text`,
    sql`${a.offline}::boolean`,
    sql`${a.ts}::timestamptz`,
    sql`${a.now}::timestamptz`,
    sql`${a.payload}::jsonb`,
  ]);
  const source = guard ? sql`SELECT ${values} WHERE ${guard}` : sql`VALUES (${values})`;
  return sql`INSERT INTO transaction_events (transaction_id, seq_no, event_type, trigger_reason, charging_state,
      offline, occurred_at, received_at, payload) ${source}
    ON CONFLICT (transaction_id, seq_no) DO NOTHING`;
}

function samplesInsert(a: EventArgs, shape: EventShape, guard: RawBuilder<unknown>) {
  return BatchWriter.guardedInsert('meter_samples', shape.sampleTypes, SAMPLE_COLUMNS, (c) => a[`s_${c}`], guard);
}

export function sampleRow(
  stationId: string,
  evseId: number,
  connectorId: number,
  transactionId: string | undefined,
  s: MeterSample,
  receivedAt: Date,
): SampleRow {
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
  tx: { id: string; evseId: number; connectorId: number; stationId: string },
  input: TransactionEventInput,
  now: Date,
): SampleRow[] {
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
  return samples.map((s) => sampleRow(tx.stationId, tx.evseId, tx.connectorId, tx.id, s, now));
}

export interface RegisterExtremes {
  firstAt: Date;
  firstWh: number;
  lastAt: Date;
  lastWh: number;
}

/** The first and last whole-meter register readings per transaction among some sample rows. */
export function registerExtremes(rows: Record<string, unknown>[]): Map<string, RegisterExtremes> {
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
export function energyMerge(
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
