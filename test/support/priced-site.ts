// A location with a tariff assigned, its stations registered at it and a driver token linked to an account: the
// smallest setup in which an ended session is billed with a CDR.
import type { OpenCpo } from '../../src/app.ts';
import type { TariffBody } from '../../src/billing/tariff.ts';

/** ENERGY 0.30/kWh and a FLAT 0.50 per session, no VAT: any session of a known driver costs something. */
export const ENERGY_AND_FLAT: TariffBody = {
  currency: 'EUR',
  elements: [
    {
      price_components: [
        { type: 'ENERGY', price: 0.3, step_size: 1 },
        { type: 'FLAT', price: 0.5, step_size: 0 },
      ],
    },
  ],
};

export async function pricedSite(
  app: OpenCpo,
  stationIds: string[],
  driverToken: string,
  tariff: TariffBody = ENERGY_AND_FLAT,
): Promise<{ tariffId: string; locationId: string }> {
  const db = app.database.db;
  // Test chargers connect without credentials: security profile 0, allowed explicitly.
  for (const id of stationIds) await app.stations.register({ id, allowUnauthenticated: true });
  const org = await db
    .insertInto('organisations')
    .values({ name: 'Site host', kind: 'site_host', contact_email: null, retired_at: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const location = await db
    .insertInto('locations')
    .values({
      organisation_id: org.id,
      name: 'Depot',
      address: 'Kade 1',
      city: 'Amsterdam',
      postal_code: '1011AA',
      country: 'NLD',
      latitude: 52.37,
      longitude: 4.9,
      time_zone: 'Europe/Amsterdam',
      opening_hours: null,
      parking_restrictions: '[]',
      retired_at: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  for (const id of stationIds) {
    await db
      .insertInto('station_assets')
      .values({ station_id: id, location_id: location.id, name: id, retired_at: null })
      .execute();
  }
  const created = await app.billing.tariffs.create('Depot AC', tariff, 'test');
  await app.billing.tariffs.assign({ tariffId: created.id, locationId: location.id });
  await app.sessions.upsertIdToken({ idToken: driverToken });
  const account = await app.billing.accounts.create({ kind: 'driver', name: 'Ada', currency: 'EUR' });
  await app.billing.accounts.addToken(account.id, driverToken);
  return { tariffId: created.id, locationId: location.id };
}

/** The CDRs of a transaction (originals, credits and re-issues), oldest first. */
export async function cdrsOf(app: OpenCpo, transactionId: string) {
  return app.database.db
    .selectFrom('cdrs')
    .selectAll()
    .where('transaction_id', '=', transactionId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}
