// `opencpo stations add` registers a charger with its password stored hashed, and the server then admits
// it with that password only.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freshPostgresDatabase, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';

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
