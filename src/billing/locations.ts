// Where a station stands, for pricing (the location's time zone and id) and for the CDR's cdr_location. Locations
// belong to the assets domain (issue 3); billing only reads them.
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { sharedCache } from '../storage/read-cache.ts';

export interface LocationInfo {
  id: string;
  name: string;
  address: string;
  city: string;
  postalCode: string | null;
  country: string;
  latitude: number | null;
  longitude: number | null;
  timeZone: string;
  organisationId: string;
}

export async function locationOfStation(db: Kysely<Database>, stationId: string): Promise<LocationInfo | undefined> {
  const row = await db
    .selectFrom('station_assets as s')
    .innerJoin('locations as l', 'l.id', 's.location_id')
    .select([
      'l.id',
      'l.name',
      'l.address',
      'l.city',
      'l.postal_code',
      'l.country',
      'l.latitude',
      'l.longitude',
      'l.time_zone',
      'l.organisation_id',
    ])
    .where('s.station_id', '=', stationId)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    id: row.id,
    name: row.name,
    address: row.address,
    city: row.city,
    postalCode: row.postal_code,
    country: row.country,
    latitude: row.latitude,
    longitude: row.longitude,
    timeZone: row.time_zone,
    organisationId: row.organisation_id,
  };
}

function locationCache(db: Kysely<Database>) {
  return sharedCache<string, LocationInfo | undefined>(db, 'location-of-station');
}

/**
 * `locationOfStation` through a short-lived cache (per station, negative answers too). A change of a location or
 * of a station's place must call `invalidateStationLocations` (the assets service does); a change made by another
 * process is seen within the cache's TTL.
 */
export function cachedLocationOfStation(db: Kysely<Database>, stationId: string): Promise<LocationInfo | undefined> {
  return locationCache(db).get(stationId, () => locationOfStation(db, stationId));
}

/** Forgets every cached station location of this database handle (after a location or station asset changed). */
export function invalidateStationLocations(db: Kysely<Database>): void {
  locationCache(db).clear();
}
