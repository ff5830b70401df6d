// Tables owned by the sessions domain: id tokens, transactions, their ordered event log and meter samples.
import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface IdTokensTable {
  id_token: string;
  type: string;
  status: string;
  expires_at: Timestamp | null;
  group_id: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface TransactionsTable {
  id: string;
  station_id: string;
  evse_id: number;
  connector_id: number;
  charger_transaction_id: string;
  id_token: string | null;
  id_token_type: string | null;
  auth_status: string | null;
  status: 'active' | 'ended';
  charging_state: string | null;
  started_at: Timestamp | null;
  stopped_at: Timestamp | null;
  meter_start_wh: number | null;
  meter_stop_wh: number | null;
  energy_wh: number | null;
  /** Time of the readings behind meter_start_wh / meter_stop_wh. */
  meter_start_at: Timestamp | null;
  meter_stop_at: Timestamp | null;
  /**
   * Where those readings came in the order the charger sent them (the seqNo of their event; see
   * event-statements.ts): the first and the last place decide, whatever the readings' timestamps say.
   */
  meter_start_seq: number | null;
  meter_stop_seq: number | null;
  stop_reason: string | null;
  stopped_by_token: string | null;
  reservation_id: number | null;
  remote_start_id: number | null;
  offline: boolean;
  last_seq_no: number | null;
  /** The charger's seqNo of its Started and Ended events (2.0.1; null for 1.6, which numbers nothing). */
  start_seq_no: number | null;
  end_seq_no: number | null;
  /** Ended, and every event from the Started to the Ended is in (1.6: ended). */
  events_complete: Generated<boolean>;
  /** Named by an id the CSMS assigns but never assigned (a 1.6 stop of an unknown transaction). */
  id_unknown: Generated<boolean>;
  start_key: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface TransactionEventsTable {
  transaction_id: string;
  seq_no: number;
  event_type: string;
  trigger_reason: string | null;
  charging_state: string | null;
  offline: boolean;
  occurred_at: Timestamp;
  received_at: Timestamp;
  payload: JSONColumnType<Record<string, unknown>>;
}

export interface MeterSamplesTable {
  id: Generated<string>;
  station_id: string;
  evse_id: number;
  connector_id: number;
  transaction_id: string | null;
  sampled_at: Timestamp;
  measurand: string;
  phase: string | null;
  location: string | null;
  unit: string;
  value: number;
  context: string | null;
  signed_data: string | null;
  received_at: Timestamp;
}
