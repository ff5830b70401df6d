// The OCPP core schema: stations and their parts, the status timeline, events and faults, device model and
// configuration, command log, id tokens, transactions and meter samples.
// Hot tables (connector_status, meter_samples) are append-only with a time column so they can later be
// partitioned by time without changing their writers.
import { sql, type Kysely } from 'kysely';

const statements = [
  sql`CREATE TABLE stations (
    id text PRIMARY KEY,
    protocol text,
    admission text NOT NULL DEFAULT 'allowed' CHECK (admission IN ('allowed', 'blocked')),
    registration_status text,
    password_hash text,
    vendor text, model text, serial_number text, firmware_version text,
    iccid text, imsi text, meter_type text, meter_serial_number text,
    firmware_status text, diagnostics_status text,
    online boolean NOT NULL DEFAULT false,
    last_boot_at timestamptz, last_boot_reason text,
    last_seen_at timestamptz, last_connected_at timestamptz, last_disconnected_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE TABLE evses (
    station_id text NOT NULL REFERENCES stations(id) ON DELETE CASCADE,
    evse_id integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, evse_id)
  )`,
  sql`CREATE TABLE connectors (
    station_id text NOT NULL,
    evse_id integer NOT NULL,
    connector_id integer NOT NULL,
    status text NOT NULL,
    error_code text, vendor_error_code text,
    status_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, evse_id, connector_id),
    FOREIGN KEY (station_id, evse_id) REFERENCES evses(station_id, evse_id) ON DELETE CASCADE
  )`,
  sql`CREATE TABLE connector_status (
    id bigserial PRIMARY KEY,
    station_id text NOT NULL,
    evse_id integer NOT NULL,
    connector_id integer NOT NULL,
    status text NOT NULL,
    error_code text, vendor_id text, vendor_error_code text, info text,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL
  )`,
  sql`CREATE INDEX connector_status_by_port ON connector_status (station_id, evse_id, connector_id, occurred_at)`,
  sql`CREATE TABLE station_events (
    id bigserial PRIMARY KEY,
    station_id text NOT NULL,
    evse_id integer, connector_id integer,
    kind text NOT NULL,
    error_code text, vendor_id text, vendor_error_code text, info text,
    severity integer, cleared boolean,
    component text, variable text, actual_value text,
    transaction_ref text, event_ref text,
    payload jsonb NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL
  )`,
  sql`CREATE INDEX station_events_by_station ON station_events (station_id, occurred_at)`,
  sql`CREATE INDEX station_events_faults ON station_events (kind, occurred_at) WHERE kind = 'fault'`,
  sql`CREATE TABLE device_model_variables (
    station_id text NOT NULL REFERENCES stations(id) ON DELETE CASCADE,
    component text NOT NULL, component_instance text NOT NULL DEFAULT '',
    evse_id integer NOT NULL DEFAULT 0, connector_id integer NOT NULL DEFAULT 0,
    variable text NOT NULL, variable_instance text NOT NULL DEFAULT '',
    attribute_type text NOT NULL DEFAULT 'Actual',
    value text, mutability text, characteristics jsonb,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (station_id, component, component_instance, evse_id, connector_id, variable, variable_instance, attribute_type)
  )`,
  sql`CREATE TABLE configuration_keys (
    station_id text NOT NULL REFERENCES stations(id) ON DELETE CASCADE,
    key text NOT NULL,
    value text,
    readonly boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (station_id, key)
  )`,
  sql`CREATE TABLE command_log (
    id bigserial PRIMARY KEY,
    station_id text NOT NULL,
    command text NOT NULL,
    action text,
    request jsonb NOT NULL,
    response jsonb,
    status text NOT NULL,
    error text,
    requested_by text,
    created_at timestamptz NOT NULL,
    completed_at timestamptz
  )`,
  sql`CREATE INDEX command_log_by_station ON command_log (station_id, created_at)`,
  sql`CREATE TABLE id_tokens (
    id_token text PRIMARY KEY,
    type text NOT NULL DEFAULT 'ISO14443',
    status text NOT NULL DEFAULT 'accepted' CHECK (status IN ('accepted', 'blocked', 'expired', 'invalid')),
    expires_at timestamptz,
    group_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`,
  // The CSMS assigns 1.6 transaction ids; 2.0.1 chargers assign their own. One sequence for the former.
  sql`CREATE SEQUENCE charger_transaction_id_seq START 1`,
  sql`CREATE TABLE transactions (
    id text PRIMARY KEY,
    station_id text NOT NULL,
    evse_id integer NOT NULL,
    connector_id integer NOT NULL,
    charger_transaction_id text NOT NULL,
    id_token text, id_token_type text, auth_status text,
    status text NOT NULL CHECK (status IN ('active', 'ended')),
    charging_state text,
    started_at timestamptz, stopped_at timestamptz,
    meter_start_wh double precision, meter_stop_wh double precision, energy_wh double precision,
    meter_start_at timestamptz, meter_stop_at timestamptz,
    stop_reason text, stopped_by_token text,
    reservation_id integer, remote_start_id integer,
    offline boolean NOT NULL DEFAULT false,
    last_seq_no integer,
    start_key text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, charger_transaction_id)
  )`,
  sql`CREATE UNIQUE INDEX transactions_start_key ON transactions (station_id, start_key) WHERE start_key IS NOT NULL`,
  sql`CREATE INDEX transactions_by_start ON transactions (started_at)`,
  sql`CREATE TABLE transaction_events (
    transaction_id text NOT NULL REFERENCES transactions(id) ON DELETE CASCADE,
    seq_no integer NOT NULL,
    event_type text NOT NULL,
    trigger_reason text, charging_state text,
    offline boolean NOT NULL DEFAULT false,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    payload jsonb NOT NULL,
    PRIMARY KEY (transaction_id, seq_no)
  )`,
  sql`CREATE TABLE meter_samples (
    id bigserial PRIMARY KEY,
    station_id text NOT NULL,
    evse_id integer NOT NULL,
    connector_id integer NOT NULL,
    transaction_id text,
    sampled_at timestamptz NOT NULL,
    measurand text NOT NULL,
    phase text, location text,
    unit text NOT NULL,
    value double precision NOT NULL,
    context text,
    signed_data text,
    received_at timestamptz NOT NULL
  )`,
  sql`CREATE INDEX meter_samples_by_transaction ON meter_samples (transaction_id, sampled_at)`,
  sql`CREATE INDEX meter_samples_by_port ON meter_samples (station_id, evse_id, connector_id, sampled_at)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}
