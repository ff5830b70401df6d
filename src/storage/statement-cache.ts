// Server-side prepared statements for the statements OpenCPO runs over and over, as JDBC's prepareThreshold
// does: a statement text seen a few times gets a name, and node-postgres then parses it once per connection
// and lets PostgreSQL reuse its plan. Measured on the benchmark's mix, parsing and planning were about 60% of
// PostgreSQL's time for statements whose execution takes microseconds (key lookups, small joins). Texts that
// vary (multi-row inserts of varying length) stay unnamed: only repeated texts pass the threshold, and the
// number of names is capped, so a connection never holds more than MAX_NAMED prepared statements.
import pg from 'pg';

/** Uses of one text before it is prepared: a one-off query (reports, migrations) is not worth a name. */
const THRESHOLD = 3;
/** Prepared statements per connection at most; texts beyond these run unnamed. */
const MAX_NAMED = 256;
/** Texts counted at most; beyond it the counts of unnamed texts start over. */
const MAX_COUNTED = 10_000;

export class StatementCache {
  private readonly seen = new Map<string, number>();
  private readonly named = new Map<string, string>();

  /** The name to prepare `text` under, or undefined to run it unnamed. */
  nameFor(text: string): string | undefined {
    const name = this.named.get(text);
    if (name) return name;
    if (this.named.size >= MAX_NAMED) return undefined;
    const uses = (this.seen.get(text) ?? 0) + 1;
    if (uses < THRESHOLD) {
      if (this.seen.size >= MAX_COUNTED) this.seen.clear();
      this.seen.set(text, uses);
      return undefined;
    }
    this.seen.delete(text);
    const fresh = `opencpo_${this.named.size + 1}`;
    this.named.set(text, fresh);
    return fresh;
  }
}

/** A pg.Client class whose parameterised text queries (what Kysely sends) go through `cache`. */
export function statementCachingClient(cache: StatementCache): typeof pg.Client {
  class StatementCachingClient extends pg.Client {}
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  // node-postgres' query() has many overloads; only (text, values) without a callback is rewritten.
  Object.defineProperty(StatementCachingClient.prototype, 'query', {
    configurable: true,
    writable: true,
    value: function (this: pg.Client, ...args: unknown[]) {
      const [text, values, callback] = args;
      if (typeof text === 'string' && Array.isArray(values) && callback === undefined) {
        const name = cache.nameFor(text);
        if (name) return query.call(this, { name, text, values });
      }
      return query.apply(this, args);
    },
  });
  return StatementCachingClient;
}
