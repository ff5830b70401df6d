// `opencpo stations add` registers a charger with its password stored hashed, and the server then admits
// it with that password only; adding it again changes only what is given (never removes its password or
// unblocks it).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKENDS, freshPostgresDatabase, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { upgradeStatus } from './support/upgrade.ts';
import type { Config } from '../src/config/config.ts';

const run = promisify(execFile);
const basic = (user: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

describe('opencpo stations add', () => {
  let database: { url: string; drop: () => Promise<void> };
  let server: TestServer | undefined;
  before(async () => {
    database = await freshPostgresDatabase();
  });
  after(async () => {
    await server?.app.close();
    await database.drop();
  });

  it('registers a charger whose password is stored hashed and checked at connection', async () => {
    const { stdout } = await run(process.execPath, [
      'bin/opencpo.js',
      'stations',
      'add',
      'CP-CLI-1',
      '--password',
      'a-long-random-secret',
      '--database-url',
      database.url,
    ]);
    assert.match(stdout, /CP-CLI-1 registered with a password/);
    await assert.rejects(
      run(process.execPath, [
        'bin/opencpo.js',
        'stations',
        'add',
        'CP-CLI-2',
        '--password',
        'short',
        '--database-url',
        database.url,
      ]),
      /at least 8 characters/,
    );

    // A server on the same database (the PostgreSQL URL overrides the embedded default) admits it with the
    // right password only.
    const started = await startTestServer('pglite', { databaseUrl: database.url, acceptUnknownStations: false });
    server = started;
    const row = await started.app.database.db
      .selectFrom('stations')
      .select('password_hash')
      .where('id', '=', 'CP-CLI-1')
      .executeTakeFirstOrThrow();
    assert.ok(row.password_hash?.startsWith('scrypt$'));
    assert.ok(!row.password_hash?.includes('a-long-random-secret'));
    await assert.rejects(
      openRaw(`${started.wsBase}/CP-CLI-1`, 'ocpp1.6', basic('CP-CLI-1', 'wrong-secret')),
      /HTTP 401/,
    );
    const ok = await openRaw(`${started.wsBase}/CP-CLI-1`, 'ocpp1.6', basic('CP-CLI-1', 'a-long-random-secret'));
    await ok.close();
  });
});

for (const backend of BACKENDS) {
  describe(`opencpo stations add again, on ${backend}`, () => {
    let storage: { args: string[]; config: Partial<Config>; remove: () => unknown };
    let server: TestServer | undefined;
    before(async () => {
      if (backend === 'pglite') {
        const dir = mkdtempSync(join(tmpdir(), 'opencpo-cli-'));
        storage = { args: ['--data', dir], config: { dataDir: dir }, remove: () => rmSync(dir, { recursive: true }) };
      } else {
        const fresh = await freshPostgresDatabase();
        storage = { args: ['--database-url', fresh.url], config: { databaseUrl: fresh.url }, remove: fresh.drop };
      }
    });
    after(async () => {
      await server?.stop();
      await storage.remove();
    });
    const add = (...args: string[]) =>
      run(process.execPath, ['bin/opencpo.js', 'stations', 'add', ...args, ...storage.args]);

    it('keeps the password and the block of a registered station, and refuses ids outside the rule', async () => {
      await add('CP-AGAIN', '--password', 'a-long-random-secret', '--blocked');
      assert.match((await add('CP-AGAIN')).stdout, /already registered; nothing changed/);
      await add('CP-OPEN', '--allow-unauthenticated');
      assert.match((await add('CP-SHUT')).stdout, /cannot connect until it has one/);
      await assert.rejects(add('CP 01'), /station id "CP 01" is not valid/);

      // The CLI runs in another process than the server: the server reads what it wrote at each admission.
      server = await startTestServer(backend, { acceptUnknownStations: true, ...storage.config });
      const status = (id: string, headers: Record<string, string> = {}) =>
        upgradeStatus(server!.app.port, `/ocpp/${id}`, { headers }).then((a) => a.status);
      assert.equal(await status('CP-AGAIN', basic('CP-AGAIN', 'a-long-random-secret')), 403, 'still blocked');
      await server.app.stations.changeAccess('CP-AGAIN', { admission: 'allowed' });
      assert.equal(await status('CP-AGAIN'), 401, 'still needs its password');
      assert.equal(await status('CP-AGAIN', basic('CP-AGAIN', 'a-long-random-secret')), 101);
      assert.equal(await status('CP-OPEN'), 101);
      assert.equal(await status('CP-SHUT'), 403);
    });
  });
}
