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
  /** Time of the readings behind meter_start_wh / meter_stop_wh, so late samples can be merged in order. */
  meter_start_at: Timestamp | null;
  meter_stop_at: Timestamp | null;
  stop_reason: string | null;
  stopped_by_token: string | null;
  reservation_id: number | null;
  remote_start_id: number | null;
  offline: boolean;
  last_seq_no: number | null;
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
