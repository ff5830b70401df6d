// OpenCPO on PostgreSQL as a role that owns nothing, as the README recommends: the owner applies the migrations
// and grants the role what OpenCPO does (`opencpo migrate --grant-to <role>`); the role then runs OpenCPO (opening
// the database finds nothing to migrate) but may not truncate, alter or drop a table, disable a trigger, change or
// delete evidence, or switch triggers off with replica mode, whatever event triggers exist. PostgreSQL only:
// PGlite has one user, a superuser.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import pg from 'pg';
import { ADMIN_URL, freshPostgresDatabase } from './support/backends.ts';
import { EXTERNAL, post, walletOf } from '../src/billing/ledger.ts';
import { SYSTEM, TABLES, insertCdr, refused, seedProtectedRows } from './support/billing-rows.ts';
import { openDatabase, type OpenDatabase } from '../src/storage/database.ts';
import { AccountsService } from '../src/billing/accounts.ts';
import { AccessService } from '../src/access/service.ts';
import { buildProgram } from '../src/cli/main.ts';
import { startOpenCpo, type OpenCpo } from '../src/app.ts';
import { loadConfig } from '../src/config/config.ts';
import { silentLogger } from '../src/observability/log.ts';
import { apiClient } from './support/api-client.ts';

const BOOTSTRAP = 'app-role-bootstrap-key-0123456789abcdef';

describe('OpenCPO as a non-owner role on postgres', () => {
  const role = `opencpo_app_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  let fresh: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let owner: OpenDatabase;
  let app: OpenDatabase;
  let invoiceId: string;
  let appUrl: string;

  before(async () => {
    fresh = await freshPostgresDatabase();
    owner = await openDatabase({ url: fresh.url });
    ({ invoiceId } = await seedProtectedRows(owner.db));
    await sql`CREATE ROLE ${sql.id(role)} LOGIN`.execute(owner.db);
    // What the README tells the owner to run.
    await buildProgram().parseAsync(['node', 'opencpo', 'migrate', '--database-url', fresh.url, '--grant-to', role]);
    const url = new URL(fresh.url);
    url.username = role;
    appUrl = url.toString();
    app = await openDatabase({ url: appUrl });
  });
  after(async () => {
    await app?.close();
    await owner?.close();
    await fresh?.drop();
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  });

  it('writes and reads what OpenCPO writes, and sets a CDR’s invoice once', async () => {
    const account = await new AccountsService(app.db).create({ kind: 'fleet', name: 'As app', currency: 'EUR' });
    await insertCdr(app.db, { id: 'APP-1', accountId: account.id, endedAt: '2026-10-11T10:00:00Z', inclVat: 300 });
    await new AccessService(app.db).audit(SYSTEM, { action: 'test.as_app', outcome: 'success' }, null);
    await post(app.db, 'EUR', 'top_up', 'card', [
      { account: EXTERNAL, amount: -100 },
      { account: walletOf(account.id), amount: 100 },
    ]);
    await app.db.updateTable('cdrs').set({ invoice_id: invoiceId }).where('id', '=', 'APP-1').execute();
    await refused(app.db, sql`UPDATE cdrs SET invoice_id = NULL WHERE id = 'APP-1'`, /immutable/);
    await app.db.updateTable('billing_accounts').set({ name: 'Renamed' }).where('id', '=', account.id).execute();
    const cdrs = await app.db.selectFrom('cdrs').select('id').orderBy('id').execute();
    assert.deepEqual(
      cdrs.map((c) => c.id),
      ['APP-1', 'KEEP-1'],
    );
  });

  it('serves the API as the role: a change and its audit entry', async () => {
    process.env.OPENCPO_BOOTSTRAP_API_KEY = BOOTSTRAP;
    let server: OpenCpo | undefined;
    try {
      server = await startOpenCpo(
        { ...loadConfig({ port: 0, host: '127.0.0.1', databaseUrl: appUrl }, {}), pingIntervalS: 0 },
        silentLogger,
      );
    } finally {
      delete process.env.OPENCPO_BOOTSTRAP_API_KEY;
    }
    try {
      const admin = apiClient(`http://127.0.0.1:${server.port}`, BOOTSTRAP);
      const created = await admin.post('/api/v1/accounts', { kind: 'driver', name: 'Via API', currency: 'EUR' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const audit = await admin.get('/api/v1/audit-log?action=account.create');
      assert.equal(audit.body.items[0]?.target, created.body.id);
    } finally {
      await server.close();
    }
  });

  it('may not truncate, alter, drop, or change the protected tables, nor use replica mode', async () => {
    for (const table of TABLES) {
      const t = sql.table(table);
      await refused(app.db, sql`TRUNCATE ${t}`, /permission denied/);
      await refused(app.db, sql`ALTER TABLE ${t} DISABLE TRIGGER ALL`, /must be owner/);
      await refused(app.db, sql`DROP TABLE ${t}`, /must be owner/);
      await refused(app.db, sql`DELETE FROM ${t}`, /permission denied/);
    }
    await refused(app.db, sql`UPDATE cdrs SET total_incl_vat = 1`, /permission denied/);
    await refused(app.db, sql`UPDATE audit_log SET outcome = 'forged'`, /permission denied/);
    await refused(app.db, sql`SET session_replication_role = replica`, /permission denied/);
  });
});
