// Opens the one database OpenCPO runs on: PostgreSQL when a URL is given, else embedded PGlite (a directory,
// or memory for a throw-away instance). Both speak PostgreSQL's dialect, so every query is written once.
import { Kysely, PostgresDialect } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { PGliteThread } from './pglite-thread.ts';
import { StatementCache, statementCachingClient } from './statement-cache.ts';
import type { Database } from './schema.ts';
import { migrateToLatest } from './migrate.ts';

export type DatabaseKind = 'pglite' | 'postgres';

export interface DatabaseOptions {
  /** PostgreSQL connection string; when set, the embedded database is not used. */
  url?: string;
  /** PGlite data directory, or 'memory' for a throw-away database. */
  dataDir?: string;
  /** Connections in the PostgreSQL pool. */
  poolSize?: number;
  /** Connections kept for the group commit only (PostgreSQL), besides the pool. */
  commitConnections?: number;
  /** Connections kept for background derivations only (PostgreSQL), besides the pool. */
  backgroundConnections?: number;
  /**
   * Told when a PostgreSQL connection is lost (a restart, a failover, a terminated backend), idle or in use:
   * its statement in flight fails to its caller, and the pool opens a new connection for the next one. Told
   * too if PGlite's thread dies (see PGliteThread.start).
   */
  onConnectionLost?: (err: Error) => void;
}

export interface OpenDatabase {
  db: Kysely<Database>;
  /**
   * The group commit's own connections (PostgreSQL): a flush that acknowledges chargers never queues for a
   * connection behind background work (billing, uptime, API reads). On PGlite, the one connection (`db`).
   */
  commitDb: Kysely<Database>;
  /** Flushes the group commit may run at once: its connections. */
  commitConnections: number;
  /**
   * Connections for work that follows the chargers' messages but that no charger waits for: uptime's live
   * derivations and sweeps, field service's alerts and sweeps (PostgreSQL). With 5,000 chargers in the bench's
   * closed loop, uptime's statements were a third of the shared pool's, and a charger's Authorize or
   * StartTransaction waited seconds for a connection behind them. Here that work queues behind itself only, and
   * catches up when the load falls. On PGlite, the one connection (`db`).
   */
  backgroundDb: Kysely<Database>;
  kind: DatabaseKind;
  /** Where the data lives, without secrets, for logs. */
  describe: string;
  close(): Promise<void>;
}

// PostgreSQL bigint (bigserial ids, counts) arrives as a string; numeric too. Keep the defaults: ids stay strings.
// Timestamps come back as Date from both drivers.

export async function openDatabase(options: DatabaseOptions): Promise<OpenDatabase> {
  let db: Kysely<Database>;
  let kind: DatabaseKind;
  let describe: string;
  let commitDb: Kysely<Database> | undefined;
  let backgroundDb: Kysely<Database> | undefined;
  let commitConnections = 1;
  if (options.url) {
    const url = options.url;
    const connect = (max: number) => {
      const pool = new pg.Pool({
        connectionString: url,
        max,
        // Statements run again and again are prepared once per connection (see statement-cache.ts).
        Client: statementCachingClient(new StatementCache()),
      });
      // A connection the server closes (restart, failover, pg_terminate_backend) is an 'error' event on its
      // client, and an unheard 'error' event ends the process. The pool listens only while a client is idle,
      // so every client gets a listener of its own for its whole life, checked out or not: the statement in
      // flight fails to its caller (nothing it carried is acknowledged), and the pool, seeing the client no
      // longer queryable when it comes back, drops it and opens a new one for the next statement.
      pool.on('connect', (client) => client.on('error', (err) => options.onConnectionLost?.(err)));
      // The pool re-emits an idle client's error after the client's own listener has told it: heard once.
      pool.on('error', () => undefined);
      return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    };
    db = connect(options.poolSize ?? 10);
    // Measured under the benchmark's closed loop: with one shared pool of 10, about 3.6 statements were
    // waiting for a connection on average, and a flush waited with them.
    commitConnections = options.commitConnections ?? 2;
    commitDb = connect(commitConnections);
    backgroundDb = connect(options.backgroundConnections ?? 3);
    kind = 'postgres';
    describe = `postgres ${redactUrl(options.url)}`;
  } else {
    const dir = options.dataDir ?? './data';
    // PGlite runs on a thread of its own; the dialect needs only its query() and close().
    const thread = await PGliteThread.start(dir, options.onConnectionLost);
    describe = dir === 'memory' ? 'pglite (memory)' : `pglite ${dir}`;
    db = new Kysely<Database>({ dialect: new PGliteDialect(thread as unknown as PGlite) });
    kind = 'pglite';
  }
  await migrateToLatest(db);
  const commit = commitDb ?? db;
  const background = backgroundDb ?? db;
  return {
    db,
    commitDb: commit,
    commitConnections,
    backgroundDb: background,
    kind,
    describe,
    close: async () => {
      if (commit !== db) await commit.destroy();
      if (background !== db) await background.destroy();
      await db.destroy();
    },
  };
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
