// /health says whether the node can work: 503 when its database does not answer (unreachable PostgreSQL, or a
// database busy past the probe's timeout), 200 again once it does; and it stays cheap when polled hard.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { sql } from 'kysely';
import { ADMIN_URL, startTestServer, type TestServer } from './support/backends.ts';
import { Health } from '../src/observability/health.ts';

/** Polls /health until its status is `status`; resolves with the body. */
async function healthBecomes(server: TestServer, status: number, ms = 20_000): Promise<any> {
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await fetch(`${server.url}/health`);
    const body = await res.json();
    if (res.status === status) return body;
    if (Date.now() > deadline) throw new Error(`/health stayed ${res.status}: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('/health on PostgreSQL', () => {
  let server: TestServer;
  let admin: pg.Client;
  let name: string;
  before(async () => {
    server = await startTestServer('postgres');
    name = new URL(server.storage.databaseUrl!).pathname.slice(1);
    admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
  });
  after(async () => {
    await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`);
    await admin.end();
    await server.stop();
  });

  it('answers 503 naming the database while it is unreachable, and 200 once it is back', async () => {
    const ok = await healthBecomes(server, 200);
    assert.equal(ok.status, 'ok');
    assert.deepEqual(ok.checks, { database: { ok: true } });

    // The server's connections are cut and no new one is let in: as with a PostgreSQL that is down.
    await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [name]);
    const down = await healthBecomes(server, 503);
    assert.equal(down.status, 'unavailable');
    assert.equal(down.checks.database.ok, false);
    assert.match(down.checks.database.error, /not currently accepting connections|terminat/);

    await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`);
    assert.equal((await healthBecomes(server, 200)).status, 'ok');
  });
});

describe('/health on PGlite', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer('pglite');
  });
  after(() => server.stop());

  it('answers 503 while the database is too busy to answer within the timeout, and 200 after', async () => {
    await healthBecomes(server, 200);
    // The embedded database runs one statement at a time: behind this one, the probe waits past its timeout.
    const busy = sql`SELECT pg_sleep(8)`.execute(server.app.database.db);
    const down = await healthBecomes(server, 503);
    assert.deepEqual(down.checks.database, { ok: false, error: 'no answer within 2000 ms' });
    await busy;
    await healthBecomes(server, 200);
  });
});

describe('Health', () => {
  it('runs its probe once for any number of requests within the cache period', async () => {
    let runs = 0;
    const health = new Health({ database: async () => runs++ }, { cacheMs: 60_000 });
    const reports = await Promise.all(Array.from({ length: 50 }, () => health.report()));
    assert.ok(reports.every((r) => r.ok));
    await health.report();
    assert.equal(runs, 1);
  });

  it('does not start a probe again while the last one still hangs', async () => {
    let runs = 0;
    let answer!: () => void;
    const hanging = new Promise<void>((resolve) => (answer = resolve));
    const health = new Health(
      {
        database: () => {
          runs++;
          return hanging;
        },
      },
      { cacheMs: 0, timeoutMs: 20 },
    );
    assert.deepEqual(await health.report(), {
      ok: false,
      checks: { database: { ok: false, error: 'no answer within 20 ms' } },
    });
    assert.equal((await health.report()).ok, false);
    assert.equal(runs, 1, 'the second report waited for the same probe');
    answer();
    await hanging;
    assert.equal((await health.report()).ok, true, 'once it answered, the next run probes afresh');
    assert.equal(runs, 2);
  });
});
