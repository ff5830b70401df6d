// Local authorization lists: which tokens a station may accept while offline. Built from the id token
// register (sessions domain), numbered per station, and recorded once the station accepted them.
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { LocalListEntry } from '../stations/commands.ts';

export interface LocalListPlan {
  version: number;
  entries: LocalListEntry[];
}

export class LocalListError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'LocalListError';
  }
}

/**
 * The next list for a station: a full list (the given tokens, or every token in the register) or a
 * differential one (the given tokens updated, the removed ones deleted). Unknown tokens are refused.
 */
export async function planLocalList(
  db: Kysely<Database>,
  stationId: string,
  updateType: 'full' | 'differential',
  idTokens: string[] | undefined,
  remove: string[] = [],
): Promise<LocalListPlan> {
  if (updateType === 'full' && remove.length)
    throw new LocalListError('remove', 'a full list replaces everything: nothing to remove');
  if (updateType === 'differential' && !idTokens?.length && !remove.length) {
    throw new LocalListError('idTokens', 'a differential list needs tokens to update or remove');
  }
  let query = db.selectFrom('id_tokens').select(['id_token', 'type', 'status', 'expires_at', 'group_id']);
  if (idTokens) query = idTokens.length ? query.where('id_token', 'in', idTokens) : query.where((eb) => eb.val(false));
  const rows = await query.orderBy('id_token').execute();
  if (idTokens) {
    const known = new Set(rows.map((r) => r.id_token));
    const missing = idTokens.filter((t) => !known.has(t));
    if (missing.length) throw new LocalListError('idTokens', `unknown id tokens: ${missing.slice(0, 10).join(', ')}`);
  }
  const current = await db
    .selectFrom('local_list_versions')
    .select('version')
    .where('station_id', '=', stationId)
    .executeTakeFirst();
  const entries: LocalListEntry[] = rows.map((r) => ({
    idToken: r.id_token,
    type: r.type,
    status: r.status as LocalListEntry['status'],
    ...(r.expires_at ? { expiresAt: new Date(r.expires_at).toISOString() } : {}),
    ...(r.group_id ? { groupId: r.group_id } : {}),
  }));
  for (const idToken of remove) entries.push({ idToken });
  return { version: (current?.version ?? 0) + 1, entries };
}

/** Records the list version a station accepted. */
export async function recordLocalList(
  db: Kysely<Database>,
  stationId: string,
  version: number,
  entries: number,
): Promise<void> {
  const values = { station_id: stationId, version, entries, sent_at: new Date() };
  await db
    .insertInto('local_list_versions')
    .values(values)
    .onConflict((oc) => oc.column('station_id').doUpdateSet({ version, entries, sent_at: values.sent_at }))
    .execute();
}
