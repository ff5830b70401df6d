// The two storage backends every acceptance test runs on: embedded PGlite (in memory) and a real
// PostgreSQL server, each test file getting its own fresh PostgreSQL database.
import pg from 'pg';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { startOpenCpo, type OpenCpo } from '../../src/app.ts';
import { silentLogger, type Logger } from '../../src/observability/log.ts';
import { openDatabase, type OpenDatabase } from '../../src/storage/database.ts';

export const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export type Backend = 'pglite' | 'postgres';
export const BACKENDS: Backend[] = ['pglite', 'postgres'];

/** Creates an empty PostgreSQL database and returns its URL and a function that drops it. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `opencpo_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A migrated database of its own on `backend` (PGlite in memory, or a fresh PostgreSQL database dropped on close). */
export async function openTestDatabase(backend: Backend): Promise<OpenDatabase> {
  if (backend === 'pglite') return openDatabase({ dataDir: 'memory' });
  const fresh = await freshPostgresDatabase();
  const database = await openDatabase({ url: fresh.url });
  return {
    ...database,
    close: async () => {
      await database.close();
      await fresh.drop();
    },
  };
}

export interface TestServer {
  app: OpenCpo;
  url: string;
  wsBase: string;
  /** Where this backend keeps its data, to restart on it. */
  storage: { databaseUrl?: string; data?: string };
  stop(): Promise<void>;
}

/** Starts OpenCPO on a free port with the given backend (and options), for one test file. */
export async function startTestServer(
  backend: Backend,
  overrides: Partial<Config> = {},
  log: Logger = silentLogger,
): Promise<TestServer> {
  let drop: (() => Promise<void>) | undefined;
  const storage: { databaseUrl?: string; data?: string } = {};
  if (backend === 'postgres') {
    const fresh = await freshPostgresDatabase();
    storage.databaseUrl = fresh.url;
    drop = fresh.drop;
  } else {
    storage.data = 'memory';
  }
  const config: Config = {
    ...loadConfig({ port: 0, host: '127.0.0.1', ...storage }, {}),
    pingIntervalS: 0,
    ...overrides,
  };
  const app = await startOpenCpo(config, log);
  return {
    app,
    url: `http://127.0.0.1:${app.port}`,
    wsBase: `ws://127.0.0.1:${app.port}/ocpp`,
    storage,
    async stop() {
      await app.close();
      await drop?.();
    },
  };
}
