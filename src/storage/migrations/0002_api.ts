// The operator API's schema: organisations, locations and station placement with connector specs (assets);
// users, login sessions, API keys and the append-only audit log (access); local authorization list versions.
import { sql, type Kysely } from 'kysely';

const ROLE_CHECK = sql.raw(`CHECK (role IN ('admin', 'operator', 'site_host', 'technician', 'read_only'))`);

const statements = [
  sql`CREATE TABLE organisations (
    id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('operator', 'site_host')),
    contact_email text,
    retired_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE TABLE locations (
    id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    organisation_id text NOT NULL REFERENCES organisations(id),
    name text NOT NULL,
    address text NOT NULL,
    city text NOT NULL,
    postal_code text,
    country text NOT NULL,
    latitude double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude double precision CHECK (longitude BETWEEN -180 AND 180),
    time_zone text NOT NULL,
    opening_hours jsonb,
    parking_restrictions jsonb NOT NULL DEFAULT '[]',
    retired_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE INDEX locations_by_organisation ON locations (organisation_id)`,
  sql`CREATE TABLE station_assets (
    station_id text PRIMARY KEY REFERENCES stations(id) ON DELETE CASCADE,
    location_id text REFERENCES locations(id),
    name text,
    retired_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE INDEX station_assets_by_location ON station_assets (location_id)`,
  sql`CREATE TABLE connector_specs (
    station_id text NOT NULL REFERENCES stations(id) ON DELETE CASCADE,
    evse_id integer NOT NULL CHECK (evse_id >= 1),
    connector_id integer NOT NULL CHECK (connector_id >= 1),
    standard text NOT NULL,
    power_type text NOT NULL,
    max_power_w integer NOT NULL CHECK (max_power_w > 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, evse_id, connector_id)
  )`,
  sql`CREATE TABLE local_list_versions (
    station_id text PRIMARY KEY REFERENCES stations(id) ON DELETE CASCADE,
    version integer NOT NULL,
    entries integer NOT NULL,
    sent_at timestamptz NOT NULL
  )`,
  sql`CREATE TABLE users (
    id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    email text NOT NULL,
    name text NOT NULL,
    password_hash text NOT NULL,
    role text NOT NULL ${ROLE_CHECK},
    organisation_id text REFERENCES organisations(id),
    disabled_at timestamptz,
    last_login_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`,
  sql`CREATE UNIQUE INDEX users_by_email ON users (lower(email))`,
  sql`CREATE TABLE user_sessions (
    id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    ip text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
  )`,
  sql`CREATE TABLE api_keys (
    id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    name text NOT NULL,
    prefix text NOT NULL,
    key_hash text NOT NULL UNIQUE,
    role text NOT NULL ${ROLE_CHECK},
    organisation_id text REFERENCES organisations(id),
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz
  )`,
  sql`CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    actor_kind text NOT NULL,
    actor_id text,
    actor_name text,
    actor_role text,
    action text NOT NULL,
    target text,
    outcome text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}',
    ip text
  )`,
  sql`CREATE INDEX audit_log_by_time ON audit_log (at)`,
  // The audit log is evidence: the database itself refuses to change or delete an entry.
  sql`CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'the audit log is append-only';
    END
  $$`,
  sql`CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only()`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'audit_log',
    'api_keys',
    'user_sessions',
    'users',
    'local_list_versions',
    'connector_specs',
    'station_assets',
    'locations',
    'organisations',
  ]) {
    await sql`DROP TABLE IF EXISTS ${sql.table(table)}`.execute(db);
  }
  await sql`DROP FUNCTION IF EXISTS audit_log_is_append_only()`.execute(db);
}
