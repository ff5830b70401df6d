// The assets domain: the operator and its site-host organisations, their locations (address, coordinates,
// time zone, opening hours, parking restrictions), which location each station stands at, and the
// technical specification of each connector (standard, power type, max power). Retiring keeps the history:
// nothing is deleted, retired things drop out of lists and a retired station may no longer connect.
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { afterCommit, inTransaction, type Executor } from '../storage/transactions.ts';
import type { StationsService } from '../stations/service.ts';
import type { OpeningHours } from './tables.ts';
import { invalidateStationLocations } from '../billing/locations.ts';

export class AssetError extends Error {
  constructor(
    readonly code: 'not_found' | 'conflict' | 'invalid',
    readonly field: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'AssetError';
  }
}

export interface OrganisationInput {
  name: string;
  kind: 'operator' | 'site_host';
  contactEmail?: string | null;
}

export interface LocationInput {
  organisationId: string;
  name: string;
  address: string;
  city: string;
  postalCode?: string | null;
  country: string;
  latitude?: number | null;
  longitude?: number | null;
  timeZone: string;
  openingHours?: OpeningHours | null;
  parkingRestrictions?: string[];
}

export interface ConnectorSpec {
  evseId: number;
  connectorId: number;
  standard: string;
  powerType: string;
  maxPowerW: number;
}

export interface StationAssetInput {
  id: string;
  password?: string;
  admission?: 'allowed' | 'blocked';
  allowUnauthenticated?: boolean;
  locationId?: string | null;
  name?: string | null;
  connectors?: ConnectorSpec[];
}

/** True when the name is an IANA time zone this runtime knows (e.g. Europe/Amsterdam). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return /\//.test(name) || name === 'UTC';
  } catch {
    return false;
  }
}

export class AssetsService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly stations: StationsService,
  ) {}

  // ---- organisations -----------------------------------------------------------------------------

  async createOrganisation(input: OrganisationInput, db: Executor = this.db): Promise<{ id: string }> {
    return db
      .insertInto('organisations')
      .values({ name: input.name, kind: input.kind, contact_email: input.contactEmail ?? null, retired_at: null })
      .returning('id')
      .executeTakeFirstOrThrow();
  }

  async updateOrganisation(id: string, patch: Partial<OrganisationInput>, db: Executor = this.db): Promise<void> {
    await this.requireOrganisation(db, id);
    await db
      .updateTable('organisations')
      .set({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.kind !== undefined ? { kind: patch.kind } : {}),
        ...(patch.contactEmail !== undefined ? { contact_email: patch.contactEmail } : {}),
        updated_at: new Date(),
      })
      .where('id', '=', id)
      .execute();
  }

  async retireOrganisation(id: string, db: Executor = this.db): Promise<void> {
    await this.requireOrganisation(db, id);
    const active = await db
      .selectFrom('locations')
      .select('id')
      .where('organisation_id', '=', id)
      .where('retired_at', 'is', null)
      .executeTakeFirst();
    if (active) throw new AssetError('conflict', null, "retire the organisation's locations first");
    await db
      .updateTable('organisations')
      .set({ retired_at: new Date(), updated_at: new Date() })
      .where('id', '=', id)
      .execute();
  }

  private async requireOrganisation(db: Executor, id: string, field: string | null = null): Promise<void> {
    const row = await db
      .selectFrom('organisations')
      .select(['id', 'retired_at'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw new AssetError(field ? 'invalid' : 'not_found', field, `no organisation ${id}`);
    if (row.retired_at && field) throw new AssetError('invalid', field, `organisation ${id} is retired`);
  }

  // ---- locations ---------------------------------------------------------------------------------

  async createLocation(input: LocationInput, db: Executor = this.db): Promise<{ id: string }> {
    await this.requireOrganisation(db, input.organisationId, 'organisationId');
    this.checkLocation(input);
    return db
      .insertInto('locations')
      .values({
        organisation_id: input.organisationId,
        name: input.name,
        address: input.address,
        city: input.city,
        postal_code: input.postalCode ?? null,
        country: input.country,
        latitude: input.latitude ?? null,
        longitude: input.longitude ?? null,
        time_zone: input.timeZone,
        opening_hours: JSON.stringify(input.openingHours ?? null),
        parking_restrictions: JSON.stringify(input.parkingRestrictions ?? []),
        retired_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
  }

  async updateLocation(id: string, patch: Partial<LocationInput>, db: Executor = this.db): Promise<void> {
    const row = await db.selectFrom('locations').select('id').where('id', '=', id).executeTakeFirst();
    if (!row) throw new AssetError('not_found', null, `no location ${id}`);
    if (patch.organisationId !== undefined) await this.requireOrganisation(db, patch.organisationId, 'organisationId');
    this.checkLocation(patch);
    const set: Record<string, unknown> = { updated_at: new Date() };
    const columns: [keyof LocationInput, string][] = [
      ['organisationId', 'organisation_id'],
      ['name', 'name'],
      ['address', 'address'],
      ['city', 'city'],
      ['postalCode', 'postal_code'],
      ['country', 'country'],
      ['latitude', 'latitude'],
      ['longitude', 'longitude'],
      ['timeZone', 'time_zone'],
    ];
    for (const [key, column] of columns) if (patch[key] !== undefined) set[column] = patch[key];
    if (patch.openingHours !== undefined) set.opening_hours = JSON.stringify(patch.openingHours);
    if (patch.parkingRestrictions !== undefined) set.parking_restrictions = JSON.stringify(patch.parkingRestrictions);
    await db.updateTable('locations').set(set).where('id', '=', id).execute();
    afterCommit(db, () => invalidateStationLocations(this.db)); // billing caches where stations stand
  }

  async retireLocation(id: string, db: Executor = this.db): Promise<void> {
    const row = await db.selectFrom('locations').select('id').where('id', '=', id).executeTakeFirst();
    if (!row) throw new AssetError('not_found', null, `no location ${id}`);
    const active = await db
      .selectFrom('station_assets')
      .select('station_id')
      .where('location_id', '=', id)
      .where('retired_at', 'is', null)
      .executeTakeFirst();
    if (active)
      throw new AssetError('conflict', null, `station ${active.station_id} still stands here: move or retire it first`);
    await db
      .updateTable('locations')
      .set({ retired_at: new Date(), updated_at: new Date() })
      .where('id', '=', id)
      .execute();
  }

  private checkLocation(input: Partial<LocationInput>): void {
    if (input.timeZone !== undefined && !isTimeZone(input.timeZone)) {
      throw new AssetError('invalid', 'timeZone', `${input.timeZone} is not an IANA time zone`);
    }
    if (
      (input.latitude === undefined) !== (input.longitude === undefined) ||
      (input.latitude === null) !== (input.longitude === null)
    ) {
      throw new AssetError('invalid', 'latitude', 'give latitude and longitude together');
    }
    for (const period of input.openingHours?.regular ?? []) {
      if (period.from >= period.to) {
        throw new AssetError(
          'invalid',
          'openingHours',
          `a period must end after it starts (${period.from}-${period.to})`,
        );
      }
    }
  }

  // ---- stations ----------------------------------------------------------------------------------

  /** Registers a station (password stored hashed by the stations domain) with its place and connectors. */
  async registerStation(input: StationAssetInput, db: Executor = this.db): Promise<void> {
    const existing = await db.selectFrom('stations').select('id').where('id', '=', input.id).executeTakeFirst();
    if (existing) throw new AssetError('conflict', 'id', `station ${input.id} is already registered`);
    if (input.locationId) await this.requireActiveLocation(db, input.locationId);
    // The station, its place and its connectors exist together or not at all.
    await inTransaction(db, async (trx) => {
      await this.stations.register(
        {
          id: input.id,
          password: input.password,
          admission: input.admission ?? 'allowed',
          allowUnauthenticated: input.allowUnauthenticated,
        },
        trx,
      );
      await trx
        .insertInto('station_assets')
        .values({
          station_id: input.id,
          location_id: input.locationId ?? null,
          name: input.name ?? null,
          retired_at: null,
        })
        .execute();
      afterCommit(trx, () => invalidateStationLocations(this.db));
      if (input.connectors) await this.setConnectors(input.id, input.connectors, trx);
    });
  }

  async updateStation(
    id: string,
    patch: {
      name?: string | null;
      locationId?: string | null;
      admission?: 'allowed' | 'blocked';
      password?: string | null;
      allowUnauthenticated?: boolean;
    },
    db: Executor = this.db,
  ): Promise<void> {
    await this.requireStation(db, id);
    if (patch.locationId) await this.requireActiveLocation(db, patch.locationId);
    await this.ensureAssetRow(db, id);
    if (patch.name !== undefined || patch.locationId !== undefined) {
      await db
        .updateTable('station_assets')
        .set({
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.locationId !== undefined ? { location_id: patch.locationId } : {}),
          updated_at: new Date(),
        })
        .where('station_id', '=', id)
        .execute();
      afterCommit(db, () => invalidateStationLocations(this.db));
    }
    const { admission, password, allowUnauthenticated } = patch;
    if (admission !== undefined || password !== undefined || allowUnauthenticated !== undefined) {
      await this.stations.changeAccess(id, { admission, password, allowUnauthenticated }, db);
    }
  }

  /** Retires a station: it leaves the lists and may no longer connect; its history stays. */
  async retireStation(id: string, db: Executor = this.db): Promise<void> {
    await this.requireStation(db, id);
    await this.ensureAssetRow(db, id);
    await db
      .updateTable('station_assets')
      .set({ retired_at: new Date(), updated_at: new Date() })
      .where('station_id', '=', id)
      .execute();
    await this.stations.changeAccess(id, { admission: 'blocked' }, db);
  }

  /** Replaces a station's connector specification. */
  async setConnectors(id: string, connectors: ConnectorSpec[], db: Executor = this.db): Promise<void> {
    await this.requireStation(db, id);
    const seen = new Set<string>();
    for (const c of connectors) {
      const key = `${c.evseId}/${c.connectorId}`;
      if (seen.has(key))
        throw new AssetError('invalid', 'connectors', `EVSE ${c.evseId} connector ${c.connectorId} is listed twice`);
      seen.add(key);
    }
    await inTransaction(db, async (trx) => {
      await trx.deleteFrom('connector_specs').where('station_id', '=', id).execute();
      if (connectors.length === 0) return;
      await trx
        .insertInto('connector_specs')
        .values(
          connectors.map((c) => ({
            station_id: id,
            evse_id: c.evseId,
            connector_id: c.connectorId,
            standard: c.standard,
            power_type: c.powerType,
            max_power_w: c.maxPowerW,
          })),
        )
        .execute();
    });
  }

  private async requireStation(db: Executor, id: string): Promise<void> {
    const row = await db.selectFrom('stations').select('id').where('id', '=', id).executeTakeFirst();
    if (!row) throw new AssetError('not_found', null, `no station ${id}`);
  }

  private async requireActiveLocation(db: Executor, id: string): Promise<void> {
    const row = await db.selectFrom('locations').select(['id', 'retired_at']).where('id', '=', id).executeTakeFirst();
    if (!row) throw new AssetError('invalid', 'locationId', `no location ${id}`);
    if (row.retired_at) throw new AssetError('invalid', 'locationId', `location ${id} is retired`);
  }

  /** Stations that connected on their own (accept-unknown) have no asset row yet. */
  private async ensureAssetRow(db: Executor, id: string): Promise<void> {
    await db
      .insertInto('station_assets')
      .values({ station_id: id, location_id: null, name: null, retired_at: null })
      .onConflict((oc) => oc.column('station_id').doNothing())
      .execute();
  }
}
