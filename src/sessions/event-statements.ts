// The single statement each transaction event is stored with: the transaction's row created or changed, the event
// in its log and its meter samples, all guarded so that a replay changes nothing. The SQL is written with Kysely's
// `sql` templates over placeholders and compiled once per shape (which optional parts an event has); each event
// then only binds its values. Building and compiling these templates per event had been the largest part of a
// transaction start's CPU and garbage (measured with the benchmark's CPU and allocation profiles).
//
// The order of events is the charger's, not the order they arrive in nor their timestamps (charger clocks jump):
// - A transaction's meter start and stop are its first and last energy register readings in the order the charger
//   sent them: an event's place is its seqNo (1.6: the start first, the stop last, meter values between them in the
//   order they came), readings within one message in the order they are listed. Energy = stop − start, never less
//   than zero; so the readings acknowledged as meterStart / meterStop are stored exactly as sent.
// - An event numbered after its transaction's Ended changes nothing: it is logged (the record of what the charger
//   said), not applied, and its samples are not stored as the transaction's. Nothing reopens an ended transaction.
// - `events_complete` says every event from the Started to the Ended (by seqNo) is in; billing waits for it. A 1.6
//   transaction, which numbers nothing, is complete at its stop.
// - An end stamped before its transaction's start (a clock that jumped back) takes its receipt time.
import { sql, type RawBuilder } from 'kysely';
import { arrayElement, BatchWriter } from '../storage/batch-writer.ts';
import { ShapedQuery } from '../storage/prepared.ts';
import { ENERGY_REGISTER } from './meter.ts';
import type { AuthorizationResult, MeterSample, TransactionEventInput } from './model.ts';

/** Which optional parts an event's statement has. Everything else in it is a bound value. */
export interface EventShape {
  eventType: TransactionEventInput['eventType'];
  /** The charger numbers its events (2.0.1 seqNo): their order decides, and completeness can be told. */
  sequenced: boolean;
  /** The stored transaction has no port yet (an event without one came first) and this event names it. */
  namesPort: boolean;
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
    s.sequenced,
    s.namesPort,
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
  /** The charging state the row takes: the event's, and at the end never `charging`. */
  rowChargingState: string | null;
  seqNo: number | null;
  /** The transaction is named by an id the CSMS assigns; if this event creates it, it was never assigned. */
  idUnknown: boolean;
  reservationId: number | null;
  remoteStartId: number | null;
  firstAt: string | null;
  firstWh: number | null;
  lastAt: string | null;
  lastWh: number | null;
  /** The event's place among its transaction's readings (see `readingPlaceOf`). */
  place: number;
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

/** The place of readings sent outside transaction events (1.6 MeterValues): after the start's, before the stop's. */
export const BETWEEN_START_AND_STOP = 1;

/** Where an event's readings come among its transaction's: the event's seqNo (1.6 start and stop have theirs). */
export function readingPlaceOf(seqNo: number | undefined): number {
  return seqNo ?? BETWEEN_START_AND_STOP;
}

export interface EventStatementInput {
  /** The transaction; its port is the event's when the event names one, else the transaction's. */
  tx: { id: string; evseId: number; connectorId: number; stationId: string };
  input: TransactionEventInput;
  idTokenInfo: AuthorizationResult | undefined;
  seqNo: number | undefined;
  now: Date;
  sampleTypes: Map<string, string>;
  startKey: string | null;
  /** See `EventShape.namesPort`. */
  namesPort: boolean;
}

/** One event of one transaction, ready to be stored: its shape and its values. */
export function eventStatementOf(e: EventStatementInput): { shape: EventShape; args: EventArgs } {
  const { tx, input, idTokenInfo, seqNo, now } = e;
  const samples = samplesOf(tx, input, now);
  const energy = registerExtremes(samples).values().next().value as RegisterExtremes | undefined;
  const sequenced = input.seqNo !== undefined;
  const ended = input.eventType === 'ended';
  const args: EventArgs = {
    id: tx.id,
    stationId: tx.stationId,
    evseId: tx.evseId,
    connectorId: tx.connectorId,
    chargerTransactionId: input.chargerTransactionId ?? null,
    startKey: e.startKey,
    offline: input.offline ?? false,
    ts: input.timestamp.toISOString(),
    now: now.toISOString(),
    updatedAt: now,
    idToken: input.idToken?.idToken ?? null,
    idTokenType: input.idToken?.type ?? null,
    authStatus: idTokenInfo?.status ?? null,
    stopReason: input.stopReason ?? null,
    chargingState: input.chargingState ?? null,
    // Whatever an Ended says, its transaction is not charging any more.
    rowChargingState: ended
      ? input.chargingState && input.chargingState !== 'charging'
        ? input.chargingState
        : 'idle'
      : (input.chargingState ?? null),
    seqNo: seqNo ?? null,
    idUnknown: input.idAssignedByCsms === true,
    reservationId: input.reservationId ?? null,
    remoteStartId: input.remoteStartId ?? null,
    firstAt: energy ? energy.firstAt.toISOString() : null,
    firstWh: energy ? energy.firstWh : null,
    lastAt: energy ? energy.lastAt.toISOString() : null,
    lastWh: energy ? energy.lastWh : null,
    place: readingPlaceOf(seqNo),
    triggerReason: input.triggerReason ?? null,
    payload: JSON.stringify(input.payload),
  };
  for (const column of SAMPLE_COLUMNS) args[`s_${column}`] = samples.map((s) => arrayElement(s[column]));
  const shape: EventShape = {
    eventType: input.eventType,
    sequenced,
    namesPort: e.namesPort,
    chargerNamed: input.chargerTransactionId !== undefined,
    logged: seqNo !== undefined,
    sampled: samples.length > 0,
    energy: energy !== undefined,
    token: input.idToken !== undefined,
    // Only the charger's own numbering orders charging states; 1.6 reports none.
    chargingState: sequenced && (input.chargingState !== undefined || ended),
    offline: input.offline === true,
    reservation: input.reservationId !== undefined,
    remoteStart: input.remoteStartId !== undefined,
    sampleTypes: e.sampleTypes,
  };
  return { shape, args };
}

/** What an event's statement tells about its transaction afterwards. */
export interface EventOutcome {
  id: string;
  charger_transaction_id: string;
  status: 'active' | 'ended';
  events_complete: boolean;
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
    meter_start_seq: null,
    meter_stop_seq: null,
    stop_reason: null,
    stopped_by_token: null,
    reservation_id: null,
    remote_start_id: null,
    offline: a.offline,
    last_seq_no: null,
    start_seq_no: null,
    end_seq_no: null,
    events_complete: false,
    // A CSMS-assigned id we have no transaction for was never assigned (the charger's mistake, or another CSMS's).
    id_unknown: a.idUnknown,
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
      ON CONFLICT ${conflict} DO NOTHING RETURNING id, charger_transaction_id, status, events_complete`;
  const parts = [sql`created AS (${inserted})`];
  const guard = sql`EXISTS (SELECT 1 FROM created)`;
  if (shape.logged) parts.push(sql`logged AS (${eventInsert(a, shape, guard)})`);
  if (shape.sampled) parts.push(sql`sampled AS (${samplesInsert(a, shape, guard)})`);
  return sql<EventOutcome>`WITH ${sql.join(parts)}
      SELECT id, charger_transaction_id, status, events_complete FROM created`;
});

/** What applying an event to a stored transaction did. */
export interface ApplyOutcome {
  /** The event is new to the log (0: a replay). */
  logged: number;
  /** Its transaction after it, when it was applied (none for a replay or an event after the transaction's end). */
  status: 'active' | 'ended' | null;
  events_complete: boolean | null;
}

/**
 * An event of a stored transaction: logged, applied to the row and its samples stored, or, when the log has it
 * already (a replay), none of these. An event numbered after its transaction's Ended is logged and no more.
 */
export const applyToExistingQuery = new ShapedQuery(shapeKey, (_db, a: EventArgs, shape: EventShape) => {
  const set: Record<string, unknown> = { updated_at: a.updatedAt, ...changesOf(shape, a, currentRow) };
  if (shape.namesPort) Object.assign(set, { evse_id: a.evseId, connector_id: a.connectorId });
  const assignments = sql.join(Object.entries(set).map(([column, value]) => sql`${sql.id(column)} = ${value}`));
  const parts: RawBuilder<unknown>[] = [];
  let guard: RawBuilder<unknown> = sql`TRUE`;
  if (shape.logged) {
    parts.push(sql`logged AS (${eventInsert(a, shape, undefined)} RETURNING seq_no)`);
    guard = sql`EXISTS (SELECT 1 FROM logged)`;
  }
  const beforeEnd = shape.sequenced
    ? sql` AND (transactions.end_seq_no IS NULL OR ${a.seqNo}::integer <= transactions.end_seq_no)`
    : sql``;
  parts.push(sql`applied AS (UPDATE transactions SET ${assignments} WHERE id = ${a.id} AND ${guard}${beforeEnd}
      RETURNING status, events_complete)`);
  const applied = sql`EXISTS (SELECT 1 FROM applied)`;
  if (shape.sampled) parts.push(sql`sampled AS (${samplesInsert(a, shape, applied)})`);
  if (shape.namesPort) {
    // Samples stored before the port was known move to it. Only this rare shape pays for the search, and only once:
    // the guard reads the row as it was before this statement (no port yet).
    parts.push(sql`moved AS (UPDATE meter_samples SET evse_id = ${a.evseId}::integer,
        connector_id = ${a.connectorId}::integer
      WHERE transaction_id = ${a.id} AND evse_id = 0
        AND EXISTS (SELECT 1 FROM transactions WHERE id = ${a.id} AND evse_id = 0) AND ${applied})`);
  }
  const logged = shape.logged ? sql`(SELECT count(*)::int FROM logged)` : sql`1`;
  return sql<ApplyOutcome>`WITH ${sql.join(parts)}
    SELECT ${logged} AS logged, applied.status, applied.events_complete
    FROM (SELECT 1) AS one LEFT JOIN applied ON TRUE`;
});

/** The columns of the stored row that an event's changes read, with their types (for a typed NULL). */
const READ_COLUMNS = {
  id_token: 'text',
  started_at: 'timestamptz',
  charging_state: 'text',
  last_seq_no: 'integer',
  start_seq_no: 'integer',
  end_seq_no: 'integer',
  meter_start_at: 'timestamptz',
  meter_start_wh: 'float8',
  meter_start_seq: 'integer',
  meter_stop_at: 'timestamptz',
  meter_stop_wh: 'float8',
  meter_stop_seq: 'integer',
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
  const seq = sql`${a.seqNo}::integer`;
  const set: Record<string, unknown> = {};
  // The energy readings this event carries are merged in the same statement as the rest.
  if (shape.energy) {
    const place = sql`${a.place}::integer`;
    Object.assign(
      set,
      energyMerge(
        { at: sql`${a.firstAt}::timestamptz`, wh: sql`${a.firstWh}::float8`, place },
        { at: sql`${a.lastAt}::timestamptz`, wh: sql`${a.lastWh}::float8`, place },
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
  const startedAt =
    shape.eventType === 'started'
      ? sql`LEAST(${row('started_at')}, ${ts})`
      : sql`COALESCE(${row('started_at')}, ${ts})`;
  set.started_at = startedAt;
  if (shape.eventType === 'ended') {
    set.status = 'ended';
    // An end stamped before the start is a clock that jumped back: the time it reached us is the better guess.
    set.stopped_at = sql`CASE WHEN ${ts} < ${startedAt} THEN GREATEST(${startedAt}, ${a.now}::timestamptz) ELSE ${ts} END`;
    set.stop_reason = a.stopReason;
  }
  // Only a newer event changes the charging state: replays arrive out of order.
  if (shape.chargingState) {
    set.charging_state = sql`CASE WHEN ${row('last_seq_no')} IS NULL OR ${row('last_seq_no')} <= ${seq}
      THEN ${a.rowChargingState}::text ELSE ${row('charging_state')} END`;
  }
  if (shape.logged) set.last_seq_no = sql`GREATEST(${row('last_seq_no')}, ${seq})`;
  if (shape.sequenced) Object.assign(set, sequenceOf(shape, a, row));
  else if (shape.eventType === 'ended') set.events_complete = true; // nothing numbered, nothing to wait for
  if (shape.offline) set.offline = true;
  if (shape.reservation) set.reservation_id = a.reservationId;
  if (shape.remoteStart) set.remote_start_id = a.remoteStartId;
  return set;
}

/**
 * A numbered event's place in its transaction: the seqNos of the Started and the Ended, and whether every event
 * between them is in, counted in the log (which this statement's own entry is not yet visible in, hence the +1).
 * The count runs only once both ends are known, i.e. for the Ended and for events that arrive after it.
 */
function sequenceOf(shape: EventShape, a: EventArgs, row: RowReader): Record<string, unknown> {
  const seq = sql`${a.seqNo}::integer`;
  const first = shape.eventType === 'started' ? sql`LEAST(${row('start_seq_no')}, ${seq})` : row('start_seq_no');
  const last = shape.eventType === 'ended' ? sql`LEAST(${row('end_seq_no')}, ${seq})` : row('end_seq_no');
  const set: Record<string, unknown> = {};
  if (shape.eventType === 'started') set.start_seq_no = first;
  if (shape.eventType === 'ended') set.end_seq_no = last;
  // A new row has one event: it cannot be both a transaction's Started and its Ended.
  if (row === emptyRow) return set;
  set.events_complete = sql`CASE WHEN ${first} IS NULL OR ${last} IS NULL THEN FALSE
    ELSE (SELECT count(*) FROM transaction_events e WHERE e.transaction_id = ${a.id} AND e.seq_no BETWEEN ${first} AND ${last})
      + CASE WHEN ${seq} BETWEEN ${first} AND ${last} THEN 1 ELSE 0 END = ${last} - ${first} + 1 END`;
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

/**
 * The samples a transaction event carries, plus 1.6's meterStart/meterStop as register readings: the start first and
 * the stop last, as acknowledged. A reading among the event's samples that repeats one of them (a StopTransaction's
 * transactionData often lists its Transaction.End reading) is not stored a second time.
 */
function samplesOf(
  tx: { id: string; evseId: number; connectorId: number; stationId: string },
  input: TransactionEventInput,
  now: Date,
): SampleRow[] {
  const repeats = (s: MeterSample, context: string, wh: number | undefined) =>
    wh !== undefined && s.context === context && s.value === wh && isMainRegister(s.measurand, s.phase, s.location);
  const samples: MeterSample[] = [];
  if (input.meterStartWh !== undefined) {
    samples.push({
      timestamp: input.timestamp,
      measurand: ENERGY_REGISTER,
      unit: 'Wh',
      value: input.meterStartWh,
      context: 'Transaction.Begin',
    });
  }
  for (const s of input.meterValues ?? []) {
    if (repeats(s, 'Transaction.Begin', input.meterStartWh) || repeats(s, 'Transaction.End', input.meterStopWh))
      continue;
    samples.push(s);
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

/** A reading of the whole meter's energy register (not of one phase, not of the grid side). */
export function isMainRegister(
  measurand: string,
  phase: string | null | undefined,
  location: string | null | undefined,
) {
  return measurand === ENERGY_REGISTER && phase == null && (location == null || location === 'Outlet');
}

/** The first and last whole-meter register readings per transaction among some sample rows, in their order. */
export function registerExtremes(rows: Record<string, unknown>[]): Map<string, RegisterExtremes> {
  const extremes = new Map<string, RegisterExtremes>();
  for (const r of rows) {
    if (!r.transaction_id || !isMainRegister(r.measurand as string, r.phase as string, r.location as string)) continue;
    const wh = r.value as number;
    if (Number.isNaN(wh)) continue;
    const at = r.sampled_at as Date;
    const id = r.transaction_id as string;
    const e = extremes.get(id);
    if (!e) extremes.set(id, { firstAt: at, firstWh: wh, lastAt: at, lastWh: wh });
    else Object.assign(e, { lastAt: at, lastWh: wh });
  }
  return extremes;
}

/** A register reading as SQL: its value, its time and its place in the order the charger sent its readings. */
export interface ReadingSql {
  wh: RawBuilder<unknown>;
  at: RawBuilder<unknown>;
  place: RawBuilder<unknown>;
}

/**
 * Energy of a transaction = its last minus its first energy register reading in the order the charger sent them
 * (not by timestamp: a clock that jumps would make a stop look older than its start), never below zero. The first
 * and last readings are kept on the transaction with their places; new readings are merged into them (SET
 * expressions over the row's current values), so the cost is per new sample, not per stored one. Readings of the
 * same place (1.6 meter values) keep the first one as the start and let the latest replace the stop.
 */
export function energyMerge(first: ReadingSql, last: ReadingSql, row: RowReader = currentRow) {
  const takesStart = sql`(${row('meter_start_seq')} IS NULL OR ${first.place} < ${row('meter_start_seq')})`;
  const takesStop = sql`(${row('meter_stop_seq')} IS NULL OR ${last.place} >= ${row('meter_stop_seq')})`;
  const start = sql`CASE WHEN ${takesStart} THEN ${first.wh} ELSE ${row('meter_start_wh')} END`;
  const stop = sql`CASE WHEN ${takesStop} THEN ${last.wh} ELSE ${row('meter_stop_wh')} END`;
  return {
    meter_start_wh: start,
    meter_start_at: sql`CASE WHEN ${takesStart} THEN ${first.at} ELSE ${row('meter_start_at')} END`,
    meter_start_seq: sql`CASE WHEN ${takesStart} THEN ${first.place} ELSE ${row('meter_start_seq')} END`,
    meter_stop_wh: stop,
    meter_stop_at: sql`CASE WHEN ${takesStop} THEN ${last.at} ELSE ${row('meter_stop_at')} END`,
    meter_stop_seq: sql`CASE WHEN ${takesStop} THEN ${last.place} ELSE ${row('meter_stop_seq')} END`,
    energy_wh: sql`GREATEST((${stop}) - (${start}), 0)`,
  };
}
