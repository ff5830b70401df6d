// Tables owned by the uptime domain: outages (derived from evidence, with their cause), cause corrections,
// exclusions with NEVI reasons, scheduled maintenance windows, published opening hours and the stations'
// locations and time zones.
import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface UptimeOutagesTable {
  id: Generated<string>;
  station_id: string;
  evse_id: number;
  connector_id: number;
  started_at: Timestamp;
  /** Null while the outage is open. */
  ended_at: Timestamp | null;
  reason: string;
  cause_code: string;
  cause_source: string;
  responsible_party: string;
  /** The cause the evidence gave, kept when a person or work order corrects `cause_code`. */
  derived_cause_code: string;
  evidence: JSONColumnType<{ table: string; id: string }[]>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface UptimeCauseCorrectionsTable {
  id: Generated<string>;
  outage_id: string;
  previous_code: string;
  new_code: string;
  corrected_by: string;
  why: string;
  work_order_id: string | null;
  corrected_at: Timestamp;
}

export interface UptimeExclusionsTable {
  id: Generated<string>;
  outage_id: string;
  starts_at: Timestamp;
  /** Null: until the outage ends. */
  ends_at: Timestamp | null;
  reason: number;
  notes: string | null;
  attachments: JSONColumnType<Attachment[]>;
  created_by: string;
  work_order_id: string | null;
  created_at: Generated<Date>;
}

export interface Attachment {
  name: string;
  contentType: string;
  /** Where the file is kept (object store URL or similar) and its digest, so the evidence can be verified. */
  url: string;
  sha256?: string;
}

export interface UptimeMaintenanceWindowsTable {
  id: Generated<string>;
  station_id: string | null;
  location_id: string | null;
  starts_at: Timestamp;
  ends_at: Timestamp;
  notes: string | null;
  created_by: string;
  created_at: Generated<Date>;
}

export interface UptimeOpeningHoursTable {
  id: Generated<string>;
  station_id: string | null;
  location_id: string | null;
  time_zone: string;
  spans: JSONColumnType<{ day: number; open: string; close: string }[]>;
  created_by: string;
  created_at: Generated<Date>;
}

export interface UptimeStationLocationsTable {
  station_id: string;
  location_id: string | null;
  time_zone: string;
  /** When the station went into service; EV-ChART makes uptime mandatory after one year. */
  operational_since: Timestamp | null;
}
