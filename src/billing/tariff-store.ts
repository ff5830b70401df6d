// Versioned tariffs and where they apply. An edit never changes a stored version: it adds the next one, and the
// tariff's current_version moves. A session pins (tariff, version) at its start, so its price cannot change.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { tariffValidAt, validateTariff, type PinnedTariff, type TariffBody } from './tariff.ts';
import { sharedCache, sharedMap, type BoundedMap, type TtlCache } from '../storage/read-cache.ts';
import { afterCommit, inTransaction, type Executor } from '../storage/transactions.ts';

/** A tariff that may apply to a scope, most specific first; its validity window is checked at each use. */
interface Candidate {
  id: string;
  version: number;
  body: TariffBody;
}

/** An assignment of a tariff that is not retired, with the tariff's current version. */
interface AssignedTariff extends Candidate {
  location_id: string | null;
  station_id: string | null;
  evse_id: number | null;
  customer_group: string | null;
}

/** Up to this many live assignments are kept as one snapshot and resolved in memory; beyond, per scope. */
const SNAPSHOT_MAX = 5000;

/** Whether an assignment covers a scope (the same rule as the per-scope query in `candidatesFor`). */
function covers(a: AssignedTariff, scope: PricingScope): boolean {
  if (a.customer_group !== null && a.customer_group !== scope.customerGroup) return false;
  if (a.station_id !== null)
    return a.station_id === scope.stationId && (a.evse_id === null || a.evse_id === scope.evseId);
  if (a.location_id !== null) return !!scope.locationId && a.location_id === scope.locationId;
  return true; // everywhere
}

/** Most specific first: EVSE, station, location, everywhere; at each scope a customer group before everyone. */
function byPrecedence(rows: AssignedTariff[]): Candidate[] {
  const rank = (r: AssignedTariff) =>
    (r.evse_id !== null ? 0 : r.station_id !== null ? 2 : r.location_id !== null ? 4 : 6) +
    (r.customer_group === null ? 1 : 0);
  return [...rows].sort((a, b) => rank(a) - rank(b)).map((r) => ({ id: r.id, version: r.version, body: r.body }));
}

export interface TariffRecord {
  id: string;
  name: string;
  version: number;
  body: TariffBody;
  retiredAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface AssignmentInput {
  tariffId: string;
  locationId?: string | null;
  stationId?: string | null;
  evseId?: number | null;
  customerGroup?: string | null;
}

export interface Assignment extends Required<AssignmentInput> {
  id: string;
}

/** Where a session takes place and who charges: what tariff resolution looks at. */
export interface PricingScope {
  stationId: string;
  evseId: number;
  locationId: string | null;
  customerGroup: string;
}

export class TariffNotFoundError extends Error {
  constructor(id: string) {
    super(`tariff ${id} not found`);
    this.name = 'TariffNotFoundError';
  }
}

export class TariffStore {
  /** Candidates per pricing scope (short-lived), and pinned versions (immutable: kept while there is room). */
  private readonly candidates: TtlCache<string, Candidate[]>;
  /** Every live assignment (undefined: more than SNAPSHOT_MAX, resolved per scope instead). */
  private readonly snapshot: TtlCache<'all', AssignedTariff[] | undefined>;
  private readonly versionsPinned: BoundedMap<string, Candidate>;

  constructor(private readonly db: Kysely<Database>) {
    this.candidates = sharedCache(db, 'tariff-candidates');
    this.snapshot = sharedCache(db, 'tariff-assignments', 1);
    this.versionsPinned = sharedMap(db, 'tariff-versions');
  }

  /** Forgets which tariffs apply where (every change of a tariff or an assignment through this store calls it). */
  invalidate(): void {
    this.candidates.clear();
    this.snapshot.clear();
  }

  async create(
    name: string,
    body: TariffBody,
    by: string | null = null,
    id: string = randomUUID(),
    db: Executor = this.db,
  ): Promise<TariffRecord> {
    validateTariff(body);
    await inTransaction(db, async (trx) => {
      await trx.insertInto('tariffs').values({ id, name, current_version: 1 }).execute();
      await trx
        .insertInto('tariff_versions')
        .values({ tariff_id: id, version: 1, body: JSON.stringify(body), created_by: by })
        .execute();
    });
    afterCommit(db, () => this.invalidate());
    return (await this.get(id, undefined, db))!;
  }

  /** An edit: stores the next version and makes it current. Sessions already pinned keep theirs. */
  async update(
    id: string,
    changes: { name?: string; body?: TariffBody },
    by: string | null = null,
    db: Executor = this.db,
  ): Promise<TariffRecord> {
    if (changes.body) validateTariff(changes.body);
    await inTransaction(db, async (trx) => {
      const row = await trx
        .selectFrom('tariffs')
        .select(['current_version'])
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
      if (!row) throw new TariffNotFoundError(id);
      let version = row.current_version;
      if (changes.body) {
        version += 1;
        await trx
          .insertInto('tariff_versions')
          .values({ tariff_id: id, version, body: JSON.stringify(changes.body), created_by: by })
          .execute();
      }
      await trx
        .updateTable('tariffs')
        .set({ current_version: version, ...(changes.name ? { name: changes.name } : {}), updated_at: new Date() })
        .where('id', '=', id)
        .execute();
    });
    afterCommit(db, () => this.invalidate());
    return (await this.get(id, undefined, db))!;
  }

  /** Retired tariffs are no longer assigned to new sessions; their versions stay for the CDRs that use them. */
  async retire(id: string, db: Executor = this.db): Promise<void> {
    const r = await db
      .updateTable('tariffs')
      .set({ retired_at: new Date(), updated_at: new Date() })
      .where('id', '=', id)
      .executeTakeFirst();
    afterCommit(db, () => this.invalidate());
    if (Number(r.numUpdatedRows) === 0) throw new TariffNotFoundError(id);
  }

  async get(id: string, version?: number, db: Executor = this.db): Promise<TariffRecord | undefined> {
    const row = await db
      .selectFrom('tariffs as t')
      .innerJoin('tariff_versions as v', (j) =>
        j.onRef('v.tariff_id', '=', 't.id').on('v.version', '=', version ?? sql<number>`t.current_version`),
      )
      .select(['t.id', 't.name', 'v.version', 'v.body', 't.retired_at', 't.created_at', 't.updated_at'])
      .where('t.id', '=', id)
      .executeTakeFirst();
    return row
      ? {
          id: row.id,
          name: row.name,
          version: row.version,
          body: row.body,
          retiredAt: row.retired_at,
          createdAt: row.created_at,
          updatedAt: row.updated_at,
        }
      : undefined;
  }

  /** A stored version of a tariff (versions never change: kept in memory once read). */
  async pinned(id: string, version: number): Promise<PinnedTariff | undefined> {
    const key = `${id}\u0000${version}`;
    let c = this.versionsPinned.get(key);
    if (!c) {
      const rec = await this.get(id, version);
      if (!rec) return undefined;
      c = { id: rec.id, version: rec.version, body: rec.body };
      this.versionsPinned.set(key, c);
    }
    return { ...c.body, id: c.id, version: c.version };
  }

  async list(limit: number, offset: number): Promise<{ items: TariffRecord[]; total: number }> {
    const ids = await this.db
      .selectFrom('tariffs')
      .select('id')
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit)
      .offset(offset)
      .execute();
    const total = await this.db
      .selectFrom('tariffs')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    const items = [];
    for (const { id } of ids) items.push((await this.get(id))!);
    return { items, total: Number(total.n) };
  }

  async versions(id: string): Promise<{ version: number; createdAt: Date; createdBy: string | null }[]> {
    const rows = await this.db
      .selectFrom('tariff_versions')
      .select(['version', 'created_at', 'created_by'])
      .where('tariff_id', '=', id)
      .orderBy('version')
      .execute();
    return rows.map((r) => ({ version: r.version, createdAt: r.created_at, createdBy: r.created_by }));
  }

  async assign(input: AssignmentInput, db: Executor = this.db): Promise<Assignment> {
    const values = {
      tariff_id: input.tariffId,
      location_id: input.locationId ?? null,
      station_id: input.stationId ?? null,
      evse_id: input.evseId ?? null,
      customer_group: input.customerGroup ?? null,
    };
    if (!(await this.get(input.tariffId, undefined, db))) throw new TariffNotFoundError(input.tariffId);
    // One tariff per scope and group: assigning again replaces the previous one.
    const row = await inTransaction(db, async (trx) => {
      let del = trx.deleteFrom('tariff_assignments');
      for (const [col, v] of Object.entries(values)) {
        if (col === 'tariff_id') continue;
        del =
          v === null ? del.where(col as 'location_id', 'is', null) : del.where(col as 'location_id', '=', v as string);
      }
      await del.execute();
      return trx.insertInto('tariff_assignments').values(values).returning('id').executeTakeFirstOrThrow();
    });
    afterCommit(db, () => this.invalidate());
    return { id: row.id, ...toInput(values) };
  }

  async unassign(id: string, db: Executor = this.db): Promise<boolean> {
    const r = await db.deleteFrom('tariff_assignments').where('id', '=', id).executeTakeFirst();
    afterCommit(db, () => this.invalidate());
    return Number(r.numDeletedRows) > 0;
  }

  async assignments(tariffId?: string): Promise<Assignment[]> {
    let q = this.db.selectFrom('tariff_assignments').selectAll();
    if (tariffId) q = q.where('tariff_id', '=', tariffId);
    const rows = await q.orderBy('id').execute();
    return rows.map((r) => ({ id: r.id, ...toInput(r) }));
  }

  /**
   * The tariff that applies to a session starting now, by precedence (most specific first):
   *   1. the EVSE, 2. the station, 3. the location, 4. the operator-wide default;
   * at each scope an assignment for the session's customer group ('ad_hoc', 'members', 'partner:<party>') beats
   * one for everyone. Retired tariffs, and tariffs outside their validity window at `at`, are skipped.
   */
  async resolve(scope: PricingScope, at: Date): Promise<PinnedTariff | undefined> {
    // What applies to a scope is cached briefly (changes through this store clear it; another node's within the
    // TTL); the validity window depends on `at` and is checked here, every time.
    const all = await this.snapshot.get('all', () => this.liveAssignments());
    const key = [scope.stationId, scope.evseId, scope.locationId ?? '', scope.customerGroup].join('\u0000');
    const candidates = all
      ? byPrecedence(all.filter((a) => covers(a, scope)))
      : await this.candidates.get(key, () => this.candidatesFor(scope));
    for (const c of candidates) {
      if (tariffValidAt(c.body, at)) return { ...c.body, id: c.id, version: c.version };
    }
    return undefined;
  }

  private assigned() {
    return this.db
      .selectFrom('tariff_assignments as a')
      .innerJoin('tariffs as t', 't.id', 'a.tariff_id')
      .innerJoin('tariff_versions as v', (j) =>
        j.onRef('v.tariff_id', '=', 't.id').onRef('v.version', '=', 't.current_version'),
      )
      .select(['a.location_id', 'a.station_id', 'a.evse_id', 'a.customer_group', 't.id', 'v.version', 'v.body'])
      .where('t.retired_at', 'is', null);
  }

  /** Every live assignment, when there are few enough to resolve in memory. */
  private async liveAssignments(): Promise<AssignedTariff[] | undefined> {
    const rows = await this.assigned()
      .orderBy('a.id')
      .limit(SNAPSHOT_MAX + 1)
      .execute();
    return rows.length > SNAPSHOT_MAX ? undefined : rows;
  }

  /** The current versions of the tariffs assigned to a scope, by precedence (the most specific first). */
  private async candidatesFor(scope: PricingScope): Promise<Candidate[]> {
    const rows = await this.assigned()
      .where((eb) => eb.or([eb('a.customer_group', 'is', null), eb('a.customer_group', '=', scope.customerGroup)]))
      .where((eb) =>
        eb.or([
          eb.and([eb('a.station_id', '=', scope.stationId), eb('a.evse_id', '=', scope.evseId)]),
          eb.and([eb('a.station_id', '=', scope.stationId), eb('a.evse_id', 'is', null)]),
          ...(scope.locationId
            ? [eb.and([eb('a.location_id', '=', scope.locationId), eb('a.station_id', 'is', null)])]
            : []),
          eb.and([eb('a.location_id', 'is', null), eb('a.station_id', 'is', null)]),
        ]),
      )
      .execute();
    return byPrecedence(rows);
  }

  /** The version of a tariff that was current at an instant (for sessions whose start was not seen live). */
  async versionAt(id: string, at: Date): Promise<PinnedTariff | undefined> {
    const row =
      (await this.db
        .selectFrom('tariff_versions')
        .select('version')
        .where('tariff_id', '=', id)
        .where('created_at', '<=', at)
        .orderBy('version', 'desc')
        .executeTakeFirst()) ??
      (await this.db
        .selectFrom('tariff_versions')
        .select('version')
        .where('tariff_id', '=', id)
        .orderBy('version')
        .executeTakeFirst());
    return row ? this.pinned(id, row.version) : undefined;
  }
}

function toInput(r: {
  tariff_id: string;
  location_id: string | null;
  station_id: string | null;
  evse_id: number | null;
  customer_group: string | null;
}): Required<AssignmentInput> {
  return {
    tariffId: r.tariff_id,
    locationId: r.location_id,
    stationId: r.station_id,
    evseId: r.evse_id,
    customerGroup: r.customer_group,
  };
}
