// The sessions domain: authorization against the id-token table, transactions from either OCPP version
// (one id each, duplicates and offline replays stored once and in order), and meter samples.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
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
  TransactionEventInput,
  TransactionEventResult,
} from './model.ts';

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

export class SessionsService {
  /** (station, charger transaction id) → our id, so hot meter-value messages need no lookup. */
  private readonly idCache = new Map<string, string>();

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
  }

  async authorize(_stationId: string, token: IdTokenRef): Promise<AuthorizationResult> {
    const row = await this.db
      .selectFrom('id_tokens')
      .select(['status', 'expires_at', 'group_id'])
      .where('id_token', '=', token.idToken)
      .executeTakeFirst();
    if (!row) return { status: 'unknown' };
    const result: AuthorizationResult = { status: row.status as AuthorizationResult['status'] };
    if (row.group_id) result.groupId = row.group_id;
    if (row.expires_at) {
      result.expiresAt = row.expires_at;
      if (row.expires_at.getTime() <= Date.now() && result.status === 'accepted') result.status = 'expired';
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
      await this.apply(trx, tx.id, input, idTokenInfo, seqNo);
      // Events of a known transaction may omit the port (2.0.1 updates, 1.6 stop): use the transaction's.
      const samples = samplesOf(stationId, tx, input, now);
      if (samples.length) {
        await trx.insertInto('meter_samples').values(samples).execute();
        await updateEnergyFromSamples(trx, samples);
      }
      return { ...tx, duplicate: false };
    });
    this.idCache.set(`${stationId}\u0000${result.chargerTransactionId}`, result.id);
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
  ): Promise<void> {
    const ts = input.timestamp.toISOString();
    const set: Record<string, unknown> = { updated_at: new Date() };
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

/**
 * Energy of a transaction = last minus first reading of its energy register, by sample time, so samples
 * that arrive late or out of order still give the right figure. Only the whole-meter register counts
 * (no phase; outlet or unspecified location).
 */
async function updateEnergyFromSamples(trx: Transaction<Database>, rows: Record<string, unknown>[]): Promise<void> {
  const touched = new Set<string>();
  for (const r of rows) {
    if (r.transaction_id && r.measurand === ENERGY_REGISTER && r.phase == null && !Number.isNaN(r.value))
      touched.add(r.transaction_id as string);
  }
  if (touched.size === 0) return;
  const ids = [...touched];
  await sql`
    UPDATE transactions t SET
      meter_start_wh = e.first_wh,
      meter_stop_wh = e.last_wh,
      energy_wh = e.last_wh - e.first_wh,
      updated_at = now()
    FROM (
      SELECT transaction_id,
        (array_agg(value ORDER BY sampled_at ASC, value ASC))[1] AS first_wh,
        (array_agg(value ORDER BY sampled_at DESC, value DESC))[1] AS last_wh
      FROM meter_samples
      WHERE transaction_id IN (${sql.join(ids)})
        AND measurand = ${ENERGY_REGISTER} AND phase IS NULL AND value <> 'NaN'::float8
        AND (location IS NULL OR location = 'Outlet')
      GROUP BY transaction_id
    ) e
    WHERE t.id = e.transaction_id`.execute(trx);
}
