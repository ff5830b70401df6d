// Uptime and field service (issue 5): outages and their corrections and exclusions, maintenance windows and
// opening hours, the durable outbox every outgoing message goes through, alert rules and alerts, technicians,
// work orders, field-service webhooks and idempotency keys.
import { sql, type Kysely } from 'kysely';

const statements = [
  sql`CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    delivery_id text NOT NULL UNIQUE,
    channel text NOT NULL,
    topic text NOT NULL,
    payload jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
  )`,
  sql`CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending'`,

  sql`CREATE TABLE uptime_outages (
    id bigserial PRIMARY KEY,
    station_id text NOT NULL,
    evse_id integer NOT NULL,
    connector_id integer NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    reason text NOT NULL,
    cause_code text NOT NULL,
    cause_source text NOT NULL,
    responsible_party text NOT NULL,
    derived_cause_code text NOT NULL,
    evidence jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, evse_id, connector_id, started_at),
    CHECK (ended_at IS NULL OR ended_at > started_at)
  )`,
  sql`CREATE INDEX uptime_outages_by_time ON uptime_outages (started_at)`,
  sql`CREATE TABLE uptime_cause_corrections (
    id bigserial PRIMARY KEY,
    outage_id bigint NOT NULL REFERENCES uptime_outages(id) ON DELETE CASCADE,
    previous_code text NOT NULL,
    new_code text NOT NULL,
    corrected_by text NOT NULL,
    why text NOT NULL,
    work_order_id bigint,
    corrected_at timestamptz NOT NULL
  )`,
  sql`CREATE TABLE uptime_exclusions (
    id bigserial PRIMARY KEY,
    outage_id bigint NOT NULL REFERENCES uptime_outages(id) ON DELETE CASCADE,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz,
    reason integer NOT NULL CHECK (reason BETWEEN 1 AND 6),
    notes text CHECK (length(notes) <= 255),
    attachments jsonb NOT NULL DEFAULT '[]',
    created_by text NOT NULL,
    work_order_id bigint,
    created_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE INDEX uptime_exclusions_by_outage ON uptime_exclusions (outage_id)`,
  sql`CREATE TABLE uptime_maintenance_windows (
    id bigserial PRIMARY KEY,
    station_id text,
    location_id text,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    notes text,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK ((station_id IS NULL) <> (location_id IS NULL))
  )`,
  sql`CREATE TABLE uptime_opening_hours (
    id bigserial PRIMARY KEY,
    station_id text,
    location_id text,
    time_zone text NOT NULL,
    spans jsonb NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((station_id IS NULL) <> (location_id IS NULL))
  )`,
  sql`CREATE TABLE uptime_station_locations (
    station_id text PRIMARY KEY,
    location_id text,
    time_zone text NOT NULL DEFAULT 'UTC',
    operational_since timestamptz
  )`,

  sql`CREATE TABLE alert_rules (
    id text PRIMARY KEY,
    kind text NOT NULL,
    threshold jsonb NOT NULL DEFAULT '{}',
    station_id text,
    site_id text,
    severity text NOT NULL DEFAULT 'major',
    auto_work_order boolean NOT NULL DEFAULT false,
    work_order_priority text NOT NULL DEFAULT 'normal',
    route_roles jsonb NOT NULL DEFAULT '["operator"]',
    route_emails jsonb NOT NULL DEFAULT '[]',
    enabled boolean NOT NULL DEFAULT true
  )`,
  // Rules every installation starts with; operators change thresholds or disable them.
  sql`INSERT INTO alert_rules (id, kind, threshold, severity, auto_work_order, work_order_priority) VALUES
    ('faulted', 'faulted', '{}', 'critical', true, 'high'),
    ('offline', 'offline', '{"minutes": 15}', 'major', true, 'normal'),
    ('boot-loop', 'boot_loop', '{}', 'major', true, 'normal'),
    ('no-energy', 'no_energy', '{"attempts": 3}', 'major', true, 'normal'),
    ('meter-stuck', 'meter_stuck', '{"minutes": 10}', 'minor', false, 'normal'),
    ('uptime-forecast', 'uptime_forecast', '{"percent": 97}', 'major', false, 'normal')`,
  sql`CREATE TABLE alerts (
    id bigserial PRIMARY KEY,
    rule_id text NOT NULL,
    dedupe_key text NOT NULL,
    station_id text NOT NULL,
    evse_id integer,
    connector_id integer,
    site_id text,
    outage_id bigint,
    severity text NOT NULL,
    status text NOT NULL CHECK (status IN ('open', 'resolved')),
    summary text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}',
    occurrences integer NOT NULL DEFAULT 1,
    opened_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    resolved_at timestamptz
  )`,
  sql`CREATE UNIQUE INDEX alerts_open_dedupe ON alerts (dedupe_key) WHERE status = 'open'`,
  sql`CREATE TABLE technicians (
    id text PRIMARY KEY,
    name text NOT NULL,
    email text,
    zones jsonb NOT NULL DEFAULT '[]',
    skills jsonb NOT NULL DEFAULT '[]',
    active boolean NOT NULL DEFAULT true
  )`,
  sql`CREATE TABLE station_zones (
    station_id text PRIMARY KEY,
    site_id text,
    zone text NOT NULL
  )`,
  sql`CREATE TABLE work_orders (
    id bigserial PRIMARY KEY,
    outage_id bigint,
    alert_id bigint,
    station_id text NOT NULL,
    evse_id integer,
    connector_id integer,
    site_id text,
    symptom text NOT NULL,
    cause_code text,
    priority text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    sla_due_at timestamptz NOT NULL,
    status text NOT NULL CHECK (status IN ('open', 'assigned', 'en_route', 'on_site', 'resolved', 'verified', 'cancelled')),
    technician_id text,
    required_skill text,
    checklist jsonb NOT NULL DEFAULT '[]',
    parts jsonb NOT NULL DEFAULT '[]',
    notes jsonb NOT NULL DEFAULT '[]',
    attachments jsonb NOT NULL DEFAULT '[]',
    labor_cost_minor bigint NOT NULL DEFAULT 0,
    currency text NOT NULL DEFAULT 'USD',
    resolution jsonb,
    en_route_at timestamptz,
    on_site_at timestamptz,
    time_on_site_s integer NOT NULL DEFAULT 0,
    resolved_at timestamptz,
    verified_at timestamptz,
    reopened_count integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL
  )`,
  sql`CREATE INDEX work_orders_by_port ON work_orders (station_id, evse_id, connector_id, status)`,
  sql`CREATE TABLE work_order_events (
    id bigserial PRIMARY KEY,
    work_order_id bigint NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
    type text NOT NULL,
    actor text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}',
    at timestamptz NOT NULL
  )`,
  sql`CREATE TABLE fieldservice_webhooks (
    id text PRIMARY KEY,
    url text NOT NULL,
    secret text NOT NULL,
    topics jsonb NOT NULL DEFAULT '["*"]',
    site_id text,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE TABLE work_order_idempotency (
    key text PRIMARY KEY,
    work_order_id bigint NOT NULL,
    request_hash text NOT NULL,
    response jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}
