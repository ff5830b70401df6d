// Tables owned by the assets domain: organisations (the operator and its site hosts), their locations, where
// each station stands, the connectors' technical specification, and the local authorization list version
// each station holds.
import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface OrganisationsTable {
  id: Generated<string>;
  name: string;
  kind: 'operator' | 'site_host';
  contact_email: string | null;
  retired_at: Timestamp | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface LocationsTable {
  id: Generated<string>;
  organisation_id: string;
  name: string;
  address: string;
  city: string;
  postal_code: string | null;
  country: string;
  latitude: number | null;
  longitude: number | null;
  time_zone: string;
  opening_hours: JSONColumnType<OpeningHours | null, string | null, string | null>;
  parking_restrictions: JSONColumnType<string[], string, string>;
  retired_at: Timestamp | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** OCPI-style opening hours: always open, or regular weekly periods (weekday 1 = Monday). */
export interface OpeningHours {
  twentyFourSeven: boolean;
  regular?: { weekday: number; from: string; to: string }[];
}

export interface StationAssetsTable {
  station_id: string;
  location_id: string | null;
  name: string | null;
  retired_at: Timestamp | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface ConnectorSpecsTable {
  station_id: string;
  evse_id: number;
  connector_id: number;
  standard: string;
  power_type: string;
  max_power_w: number;
  updated_at: Generated<Date>;
}

export interface LocalListVersionsTable {
  station_id: string;
  version: number;
  entries: number;
  sent_at: Timestamp;
}
