// What a caller may see. Everyone but a site host sees every station; a site host sees the stations placed
// at its own organisation's locations. Anything outside the caller's scope is answered as if it did not
// exist (404), so a site host cannot even learn which station ids other organisations use.
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { Principal } from './context.ts';
import { notFound } from './errors.ts';

export type Visible = 'all' | string[];

/** Which database a principal was authenticated against (set by the authentication hook). */
const databaseOf = new WeakMap<Principal, Kysely<Database>>();

export function bindPrincipal(principal: Principal, db: Kysely<Database>): void {
  databaseOf.set(principal, db);
}

/** Stations the principal may see: 'all', or the list of their ids. */
export async function visibleStations(principal: Principal): Promise<Visible> {
  if (principal.role !== 'site_host') return 'all';
  const db = databaseOf.get(principal);
  if (!principal.organisationId || !db) return [];
  const rows = await db
    .selectFrom('station_assets as a')
    .innerJoin('locations as l', 'l.id', 'a.location_id')
    .select('a.station_id')
    .where('l.organisation_id', '=', principal.organisationId)
    .execute();
  return rows.map((r) => r.station_id);
}

export function canSee(visible: Visible, stationId: string): boolean {
  return visible === 'all' || visible.includes(stationId);
}

/** Throws 404 unless the station exists and the caller may see it. */
export async function requireVisibleStation(req: FastifyRequest, stationId: string): Promise<void> {
  const visible = req.principal ? await visibleStations(req.principal) : [];
  const exists = canSee(visible, stationId)
    ? await req.server.api.db.selectFrom('stations').select('id').where('id', '=', stationId).executeTakeFirst()
    : undefined;
  if (!exists) throw notFound(`station ${stationId}`);
}
