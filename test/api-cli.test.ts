// The first administrator of a fresh install, from the command line, on both backends: `opencpo users
// add-admin` prints a generated password once, `opencpo api-keys create` prints a key once, and both work
// against a server started on the same storage.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BACKENDS, freshPostgresDatabase } from './support/backends.ts';
import { apiClient } from './support/api-client.ts';
import { loadConfig } from '../src/config/config.ts';
import { startOpenCpo } from '../src/app.ts';
import { silentLogger } from '../src/observability/log.ts';

const run = promisify(execFile);
const opencpo = (args: string[]) => run(process.execPath, ['bin/opencpo.js', ...args], { env: { ...process.env } });

for (const backend of BACKENDS) {
  describe(`first administrator from the CLI on ${backend}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
    });

    it('add-admin and api-keys create print secrets that the API accepts', async () => {
      let storage: string[];
      let config;
      if (backend === 'postgres') {
        const fresh = await freshPostgresDatabase();
        cleanups.push(fresh.drop);
        storage = ['--database-url', fresh.url];
        config = loadConfig({ port: 0, host: '127.0.0.1', databaseUrl: fresh.url }, {});
      } else {
        const dir = await mkdtemp(join(tmpdir(), 'opencpo-cli-'));
        cleanups.push(() => rm(dir, { recursive: true, force: true }));
        storage = ['--data', dir];
        config = loadConfig({ port: 0, host: '127.0.0.1', data: dir }, {});
      }
      const admin = await opencpo(['users', 'add-admin', 'first@example.com', ...storage]);
      const password = /password \(shown once\): (\S+)/.exec(admin.stdout)?.[1];
      assert.ok(password, admin.stdout);
      const keyed = await opencpo(['api-keys', 'create', 'ci', '--role', 'operator', ...storage]);
      const key = /^(ocpo_\S+)$/m.exec(keyed.stdout)?.[1];
      assert.ok(key, keyed.stdout);

      const app = await startOpenCpo({ ...config, pingIntervalS: 0 }, silentLogger);
      cleanups.push(() => app.close());
      const url = `http://127.0.0.1:${app.port}`;
      const login = await apiClient(url).post('/api/v1/auth/login', { email: 'first@example.com', password });
      assert.equal(login.status, 200);
      assert.equal(login.body.user.role, 'admin');
      const me = await apiClient(url, key).get('/api/v1/auth/me');
      assert.equal(me.status, 200);
      assert.equal(me.body.role, 'operator');
    });
  });
}
