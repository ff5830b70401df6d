// In-process caches for read-mostly lookups on the per-message and per-session paths (an id token's row, where a
// station stands, the account of a token, which tariff applies to a scope). Short-lived and bounded: a change made
// through this process clears the cache at once; a change made on another node is seen within the TTL (see
// src/billing/README.md, "Caches").

/** The default time an entry is trusted, ms. */
export const CACHE_TTL_MS = 10_000;

/**
 * A map with a time to live and a bounded size (the oldest entry goes first). `undefined` is a value like any
 * other (a negative lookup is cached too). A fill that started before a `clear()` or `delete()` of its key is
 * not stored: a read that raced a change never brings the old answer back.
 */
export class TtlCache<K, V> {
  private readonly entries = new Map<K, { value: V; expires: number }>();
  /** Loads in flight: concurrent misses of one key share a single read. */
  private readonly pending = new Map<K, Promise<V>>();
  private generation = 0;

  constructor(
    private readonly maxSize = 10_000,
    private readonly ttlMs = CACHE_TTL_MS,
  ) {}

  /** The cached value, or the loader's (stored unless the cache was invalidated meanwhile). */
  async get(key: K, load: () => Promise<V>, now = Date.now()): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && hit.expires > now) return hit.value;
    if (hit) this.entries.delete(key);
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const generation = this.generation;
    // A settled read always leaves `pending` (if it is still the one there: a delete or clear may have dropped
    // it, and a newer read taken its place). It is stored only when nothing was invalidated meanwhile.
    const settle = () => {
      if (this.pending.get(key) === loading) this.pending.delete(key);
    };
    const loading: Promise<V> = load().then(
      (value) => {
        settle();
        if (generation === this.generation && this.ttlMs > 0) this.set(key, value, now);
        return value;
      },
      (err: unknown) => {
        settle();
        throw err;
      },
    );
    this.pending.set(key, loading);
    return loading;
  }

  private set(key: K, value: V, now: number): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxSize) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, expires: now + this.ttlMs });
  }

  /** Forgets one key; a fill in flight is not stored (nor are others in flight: they are simply read again). */
  delete(key: K): void {
    this.generation++;
    this.entries.delete(key);
    this.pending.delete(key);
  }

  /** Forgets everything; fills in flight are not stored. */
  clear(): void {
    this.generation++;
    this.entries.clear();
    this.pending.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

/** A bounded map of values that never change once written (e.g. a session's pin): the oldest entry goes first. */
export class BoundedMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly maxSize = 10_000) {}

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxSize) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, value);
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Per database handle, objects by name. */
type Registry<T> = WeakMap<object, Map<string, T>>;

function named<T>(registry: Registry<T>, db: object, name: string, make: () => T): T {
  let byName = registry.get(db);
  if (!byName) registry.set(db, (byName = new Map()));
  let found = byName.get(name);
  if (found === undefined) byName.set(name, (found = make()));
  return found;
}

const caches: Registry<TtlCache<unknown, unknown>> = new WeakMap();
const maps: Registry<BoundedMap<unknown, unknown>> = new WeakMap();

/**
 * The cache named `name` for one database handle: every service of this process on that database shares it, so
 * a change made through any of them clears what the others read.
 */
export function sharedCache<K, V>(db: object, name: string, maxSize?: number): TtlCache<K, V> {
  return named(caches, db, name, () => new TtlCache(maxSize)) as TtlCache<K, V>;
}

/** Like `sharedCache`, for values that never change once written (no TTL). */
export function sharedMap<K, V>(db: object, name: string, maxSize?: number): BoundedMap<K, V> {
  return named(maps, db, name, () => new BoundedMap(maxSize)) as BoundedMap<K, V>;
}
