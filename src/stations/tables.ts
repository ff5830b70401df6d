// Tables owned by the stations domain: chargers, their EVSEs and connectors, the connector status timeline,
// charger events and faults, the 2.0.1 device model, 1.6 configuration keys and the remote-command log.
import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface StationsTable {
  id: string;
  protocol: string | null;
  admission: ColumnType<'allowed' | 'blocked', 'allowed' | 'blocked' | undefined, 'allowed' | 'blocked'>;
  registration_status: string | null;
  password_hash: string | null;
  /** Security profile 0: the operator lets it connect without credentials (only while it has no password). */
  allow_unauthenticated: Generated<boolean>;
  /** Registered by its own first connection (--accept-unknown-stations), not by an operator. */
  registered_on_first_contact: Generated<boolean>;
  vendor: string | null;
  model: string | null;
  serial_number: string | null;
  firmware_version: string | null;
  iccid: string | null;
  imsi: string | null;
  meter_type: string | null;
  meter_serial_number: string | null;
  firmware_status: string | null;
  diagnostics_status: string | null;
  online: Generated<boolean>;
  last_boot_at: Timestamp | null;
  last_boot_reason: string | null;
  last_seen_at: Timestamp | null;
  last_connected_at: Timestamp | null;
  last_disconnected_at: Timestamp | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface EvsesTable {
  station_id: string;
  evse_id: number;
  created_at: Generated<Date>;
}

export interface ConnectorsTable {
  station_id: string;
  evse_id: number;
  connector_id: number;
  status: string;
  error_code: string | null;
  vendor_error_code: string | null;
  status_at: Timestamp;
  created_at: Generated<Date>;
}

export interface ConnectorStatusTable {
  id: Generated<string>;
  station_id: string;
  evse_id: number;
  connector_id: number;
  status: string;
  error_code: string | null;
  vendor_id: string | null;
  vendor_error_code: string | null;
  info: string | null;
  occurred_at: Timestamp;
  received_at: Timestamp;
}

export interface StationEventsTable {
  id: Generated<string>;
  station_id: string;
  evse_id: number | null;
  connector_id: number | null;
  kind: string;
  error_code: string | null;
  vendor_id: string | null;
  vendor_error_code: string | null;
  info: string | null;
  severity: number | null;
  cleared: boolean | null;
  component: string | null;
  variable: string | null;
  /** 2.0.1 NotifyEvent trigger (Alerting, Delta, Periodic). */
  trigger: string | null;
  actual_value: string | null;
  transaction_ref: string | null;
  event_ref: string | null;
  payload: JSONColumnType<Record<string, unknown>>;
  occurred_at: Timestamp;
  received_at: Timestamp;
}

export interface DeviceModelVariablesTable {
  station_id: string;
  component: string;
  component_instance: string;
  evse_id: number;
  connector_id: number;
  variable: string;
  variable_instance: string;
  attribute_type: string;
  value: string | null;
  mutability: string | null;
  characteristics: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  updated_at: Timestamp;
}

export interface ConfigurationKeysTable {
  station_id: string;
  key: string;
  value: string | null;
  readonly: boolean;
  updated_at: Timestamp;
}

export interface CommandLogTable {
  id: Generated<string>;
  station_id: string;
  command: string;
  action: string | null;
  request: JSONColumnType<Record<string, unknown>>;
  response: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  status: string;
  error: string | null;
  requested_by: string | null;
  created_at: Timestamp;
  completed_at: Timestamp | null;
}
