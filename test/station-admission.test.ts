// Who may connect as a station: a registered station needs its password unless an operator allows it to
// connect without credentials (security profile 0, audited); registering it again keeps its password and
// its block; a station registered on first contact (--accept-unknown-stations) is admitted without a
// password only while unknown stations are accepted, and the first password it presents is recorded.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKENDS, freshPostgresDatabase, startTestServer, type Backend, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { upgradeStatus } from './support/upgrade.ts';
import { apiClient } from './support/api-client.ts';
import type { Config } from '../src/config/config.ts';
import WebSocket, { WebSocketServer } from 'ws';
import { RpcConnection } from '../src/ocpp/rpc/connection.ts';

const basic = (user: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});
const BOOT_16 = (vendor: string) => ({ chargePointVendor: vendor, chargePointModel: 'AC22' });

/** The close code of a socket the server closes, or a failure when it stays open past the deadline. */
function closedBy(ws: WebSocket, deadlineMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${deadlineMs} ms`)), deadlineMs);
    ws.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Storage that outlives one server (a PGlite data directory, or a PostgreSQL database), to restart on it. */
async function persistentStorage(backend: Backend): Promise<{ config: Partial<Config>; remove: () => unknown }> {
  if (backend === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'opencpo-admission-'));
    return { config: { dataDir: dir }, remove: () => rmSync(dir, { recursive: true, force: true }) };
  }
  const fresh = await freshPostgresDatabase();
  return { config: { databaseUrl: fresh.url }, remove: fresh.drop };
}

for (const backend of BACKENDS) {
  describe(`station admission on ${backend}`, () => {
    let storage: Awaited<ReturnType<typeof persistentStorage>>;
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;
    const status = (id: string, headers: Record<string, string> = {}) =>
      upgradeStatus(server.app.port, `/ocpp/${id}`, { headers }).then((a) => a.status);
    const stationRow = (id: string) =>
      server.app.database.db.selectFrom('stations').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

    before(async () => {
      storage = await persistentStorage(backend);
      server = await startTestServer(backend, { acceptUnknownStations: true, ...storage.config });
      admin = apiClient(server.url, (await server.app.access.createApiKey({ name: 'adm', role: 'admin' })).key);
    });
    after(async () => {
      await server.stop();
      await storage.remove();
    });

    it('a station registered without a password is refused with no credentials and with any password', async () => {
      const created = await admin.post('/api/v1/stations', { id: 'ADM-NOPW' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.hasPassword, false);
      assert.equal(created.body.allowUnauthenticated, false);
      assert.equal(await status('ADM-NOPW'), 403);
      assert.equal(await status('ADM-NOPW', basic('ADM-NOPW', 'any-password-at-all')), 403);
      const row = await stationRow('ADM-NOPW');
      assert.equal(row.password_hash, null, 'no password recorded for an operator-registered station');
      assert.equal(row.last_connected_at, null);
      const refused = await server.app.metrics.refusedConnections.get();
      assert.ok(refused.values.some((v) => v.labels.reason === 'no password registered'));
    });

    it('an operator may let a station connect without credentials (security profile 0), audited', async () => {
      const patched = await admin.patch('/api/v1/stations/ADM-NOPW', { allowUnauthenticated: true });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal(patched.body.allowUnauthenticated, true);
      const c = await openRaw(`${server.wsBase}/ADM-NOPW`, 'ocpp1.6');
      assert.equal(((await c.call('BootNotification', BOOT_16('Acme')))[2] as { status: string }).status, 'Accepted');
      await c.close();
      const audited = await server.app.database.db
        .selectFrom('audit_log')
        .select(['action', 'details'])
        .where('target', '=', 'ADM-NOPW')
        .where('action', '=', 'station.update')
        .execute();
      assert.ok(audited.some((a) => (a.details as { allowUnauthenticated?: boolean }).allowUnauthenticated === true));

      await admin.patch('/api/v1/stations/ADM-NOPW', { allowUnauthenticated: false });
      assert.equal(await status('ADM-NOPW'), 403, 'refused again once the flag is off');

      const open = await admin.post('/api/v1/stations', { id: 'ADM-OPEN', allowUnauthenticated: true });
      assert.equal(open.body.allowUnauthenticated, true);
      assert.equal(await status('ADM-OPEN'), 101);
    });

    it("a station's password keeps an impostor out, and the impostor changes nothing", async () => {
      await admin.post('/api/v1/stations', { id: 'ADM-PW', password: 'genuine-station-secret' });
      const genuine = await openRaw(`${server.wsBase}/ADM-PW`, 'ocpp1.6', basic('ADM-PW', 'genuine-station-secret'));
      await genuine.call('BootNotification', BOOT_16('Genuine'));
      assert.equal(await status('ADM-PW'), 401);
      assert.equal(await status('ADM-PW', basic('ADM-PW', 'a-guessed-password')), 401);
      assert.equal((await stationRow('ADM-PW')).vendor, 'Genuine');
      assert.equal((await genuine.call('Heartbeat', {}))[0], 3, 'the genuine charger is still served');
      await genuine.close();
    });

    it('blocking, retiring or changing access closes the open socket; other changes do not', async () => {
      const password = 'socket-station-secret';
      const connect = async (id: string, pw = password) => {
        const c = await openRaw(`${server.wsBase}/${id}`, 'ocpp1.6', basic(id, pw));
        assert.equal((await c.call('Heartbeat', {}))[0], 3);
        return c;
      };
      for (const id of ['SOCK-BLOCK', 'SOCK-RETIRE', 'SOCK-PW', 'SOCK-NOPW']) {
        assert.equal((await admin.post('/api/v1/stations', { id, password })).status, 201);
      }

      const blocked = await connect('SOCK-BLOCK');
      assert.equal((await admin.patch('/api/v1/stations/SOCK-BLOCK', { name: 'Bay 1' })).status, 200);
      assert.equal((await blocked.call('Heartbeat', {}))[0], 3, 'a new name leaves the socket open');
      const blockClosed = closedBy(blocked.ws);
      await admin.patch('/api/v1/stations/SOCK-BLOCK', { admission: 'blocked' });
      assert.equal(await blockClosed, 1008);
      assert.equal(await status('SOCK-BLOCK', basic('SOCK-BLOCK', password)), 403);

      const retired = await connect('SOCK-RETIRE');
      const retireClosed = closedBy(retired.ws);
      assert.equal((await admin.post('/api/v1/stations/SOCK-RETIRE/retire')).status, 204);
      assert.equal(await retireClosed, 1008);
      assert.equal(await status('SOCK-RETIRE', basic('SOCK-RETIRE', password)), 403);

      const changed = await connect('SOCK-PW');
      const pwClosed = closedBy(changed.ws);
      await admin.patch('/api/v1/stations/SOCK-PW', { password: 'the-new-station-secret' });
      assert.equal(await pwClosed, 1008);
      assert.equal(await status('SOCK-PW', basic('SOCK-PW', password)), 401);
      (await connect('SOCK-PW', 'the-new-station-secret')).ws.terminate();

      // Removing the password of a station allowed unauthenticated closes it too; it comes back without one.
      await admin.patch('/api/v1/stations/SOCK-NOPW', { allowUnauthenticated: true });
      const removed = await connect('SOCK-NOPW');
      const removedClosed = closedBy(removed.ws);
      await admin.patch('/api/v1/stations/SOCK-NOPW', { password: null });
      assert.equal(await removedClosed, 1008);
      const open = await openRaw(`${server.wsBase}/SOCK-NOPW`, 'ocpp1.6');
      const openClosed = closedBy(open.ws);
      await admin.patch('/api/v1/stations/SOCK-NOPW', { allowUnauthenticated: false });
      assert.equal(await openClosed, 1008);
      assert.equal(await status('SOCK-NOPW'), 403);
    });

    it('registering a station again keeps its password and its block', async () => {
      const stations = server.app.stations;
      const password = 'keep-this-password';
      assert.equal(await stations.register({ id: 'ADM-KEEP', password, admission: 'blocked' }), 'registered');
      assert.equal(await stations.register({ id: 'ADM-KEEP' }), 'unchanged');
      assert.equal(await status('ADM-KEEP', basic('ADM-KEEP', password)), 403, 'still blocked');
      await stations.changeAccess('ADM-KEEP', { admission: 'allowed' });
      assert.equal(await stations.register({ id: 'ADM-KEEP' }), 'unchanged');
      assert.equal(await status('ADM-KEEP'), 401, 'still needs its password');
      assert.equal(await status('ADM-KEEP', basic('ADM-KEEP', password)), 101);
    });

    it('first contact: admitted while unknown stations are accepted, and its first password is recorded', async () => {
      assert.equal(await status('FC-OPEN'), 101);
      const open = await stationRow('FC-OPEN');
      assert.equal(open.registered_on_first_contact, true);
      assert.equal(open.password_hash, null);
      assert.equal(await status('FC-OPEN'), 101, 'again, still without a password');

      assert.equal(await status('FC-PW', basic('FC-PW', 'first-contact-secret')), 101);
      assert.match((await stationRow('FC-PW')).password_hash ?? '', /^scrypt\$/);
      assert.equal(await status('FC-PW', basic('FC-PW', 'another-password')), 401);
      assert.equal(await status('FC-PW'), 401);
      assert.equal(await status('FC-PW', basic('FC-PW', 'first-contact-secret')), 101);

      // A station registered without one records the first password it presents, and needs it from then on.
      assert.equal(await status('FC-LATER'), 101);
      assert.equal(await status('FC-LATER', basic('FC-LATER', 'later-secret-123')), 101);
      assert.equal(await status('FC-LATER'), 401);
    });

    it('once unknown stations are no longer accepted, one registered on first contact needs a password', async () => {
      await server.stop(); // its storage stays: it is ours
      server = await startTestServer(backend, { acceptUnknownStations: false, ...storage.config });
      assert.equal(await status('FC-OPEN'), 403);
      assert.equal(await status('FC-PW', basic('FC-PW', 'first-contact-secret')), 101);
      assert.equal(await status('FC-NEW'), 404);
      await server.app.stations.changeAccess('FC-OPEN', { password: 'now-it-has-one-1' });
      assert.equal(await status('FC-OPEN', basic('FC-OPEN', 'now-it-has-one-1')), 101);
    });
  });
}

describe('a connection the CSMS closed', () => {
  it('handles no CALL the charger sends after the close', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'ocpp1.6' });
    const handled: string[] = [];
    const accepted = new Promise<RpcConnection>((resolve) =>
      wss.once('connection', (ws) =>
        resolve(
          new RpcConnection(ws, {
            protocol: 'ocpp1.6',
            acceptsAction: () => true,
            handleCall: (action) => {
              handled.push(action);
              return { currentTime: new Date().toISOString(), interval: 300, status: 'Accepted' };
            },
          }),
        ),
      ),
    );
    await new Promise((resolve) => wss.once('listening', resolve));
    const { port } = wss.address() as { port: number };
    const charger = new WebSocket(`ws://127.0.0.1:${port}/`, 'ocpp1.6');
    await new Promise((resolve) => charger.once('open', resolve));
    const rpc = await accepted;
    const closed = closedBy(charger);
    rpc.close(1008, 'station blocked');
    // Sent before the charger has read the close frame: it reaches a server that has closed.
    charger.send(JSON.stringify([2, 'late-1', 'BootNotification', BOOT_16('Impostor')]));
    assert.equal(await closed, 1008);
    assert.deepEqual(handled, []);
    await new Promise((resolve) => wss.close(resolve));
  });
});
