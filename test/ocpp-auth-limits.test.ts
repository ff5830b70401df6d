// Basic-auth guessing at the OCPP door is limited: after a few failed passwords an identity (or an address)
// is refused with 429 for a while, without its password being checked; a charger at an address it has
// authenticated from before is not locked out by guesses from elsewhere; a lock ends when its time is up.
// Attempts come from several loopback addresses (127.0.0.x) to play charger and attacker.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { BACKENDS, openTestDatabase, startTestServer, type TestServer } from './support/backends.ts';
import { upgradeStatus } from './support/upgrade.ts';
import { AuthAttemptLimiter, networkOf } from '../src/ocpp/auth-limiter.ts';
import { OcppServer } from '../src/ocpp/server.ts';
import { StationsService } from '../src/stations/service.ts';
import { SessionsService } from '../src/sessions/service.ts';
import { BatchWriter } from '../src/storage/batch-writer.ts';
import { Metrics } from '../src/observability/metrics.ts';
import { silentLogger } from '../src/observability/log.ts';
import type { OpenDatabase } from '../src/storage/database.ts';
import { ChargerClock } from '../src/ocpp/charger-clock.ts';
import { TestClock } from './support/clock.ts';

const basic = (user: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});
const LIMITS = { identityFailures: 3, addressFailures: 5, lockoutS: 300 };

describe('the guess limiter, on its own clock', () => {
  it('locks an identity after its failures, not at the address it is known at, and until the lock ends', () => {
    const clock = new TestClock(new Date(1_000_000));
    const limiter = new AuthAttemptLimiter(LIMITS, clock);
    limiter.succeeded('CP-1', '10.0.0.1');
    for (let i = 0; i < 3; i++) {
      assert.equal(limiter.lockedFor('CP-1', '10.9.9.9'), undefined);
      limiter.failed('CP-1', '10.9.9.9');
    }
    assert.equal(limiter.lockedFor('CP-1', '10.9.9.9'), 300);
    assert.equal(limiter.lockedFor('CP-1', '10.7.7.7'), 300, 'from any address it is not known at');
    assert.equal(limiter.lockedFor('CP-1', '10.0.0.1'), undefined, 'not where it authenticated before');
    assert.equal(limiter.lockedFor('CP-2', '10.9.9.9'), undefined, 'other identities are not locked');
    clock.advance(299_000);
    assert.equal(limiter.lockedFor('CP-1', '10.9.9.9'), 1);
    clock.advance(1_000);
    assert.equal(limiter.lockedFor('CP-1', '10.9.9.9'), undefined, 'the lock ends when its time is up');
    limiter.failed('CP-1', '10.9.9.9');
    assert.equal(limiter.lockedFor('CP-1', '10.9.9.9'), undefined, 'a new window starts from nothing');
  });

  it('locks an address that guesses many identities, except for identities known there', () => {
    const clock = new TestClock(new Date(1_000_000));
    const limiter = new AuthAttemptLimiter(LIMITS, clock);
    limiter.succeeded('CP-HOME', '10.9.9.9');
    for (let i = 0; i < 5; i++) limiter.failed(`CP-${i}`, '10.9.9.9');
    assert.equal(limiter.lockedFor('CP-NEW', '10.9.9.9'), 300);
    assert.equal(limiter.lockedFor('CP-NEW', '10.8.8.8'), undefined);
    assert.equal(limiter.lockedFor('CP-HOME', '10.9.9.9'), undefined);
    clock.advance(300_000);
    assert.equal(limiter.lockedFor('CP-NEW', '10.9.9.9'), undefined);
  });

  it("still limits guesses from a charger's own address (a shared NAT), by locking that pair", () => {
    const limiter = new AuthAttemptLimiter(LIMITS, new TestClock(new Date(0)));
    limiter.succeeded('CP-1', '10.0.0.1');
    for (let i = 0; i < 3; i++) limiter.failed('CP-1', '10.0.0.1');
    assert.equal(limiter.lockedFor('CP-1', '10.0.0.1'), 300);
  });

  it('counts an IPv6 subscriber by its /64, and IPv4-mapped addresses as IPv4', () => {
    assert.equal(networkOf('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(networkOf('2001:0db8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64');
    assert.equal(networkOf('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(networkOf('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(networkOf('10.1.2.3'), '10.1.2.3');
  });
});

for (const backend of BACKENDS) {
  describe(`Basic-auth guesses at the OCPP door on ${backend}`, () => {
    let server: TestServer;
    const attempt = (id: string, from: string, password?: string) =>
      upgradeStatus(server.app.port, `/ocpp/${id}`, {
        localAddress: from,
        headers: password === undefined ? {} : basic(id, password),
      });

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: false, ocppAuthLimits: LIMITS });
      await server.app.stations.register({ id: 'GUESS-1', password: 'the-right-password' });
      for (let i = 0; i < 6; i++) await server.app.stations.register({ id: `SPRAY-${i}`, password: 'spray-password' });
    });
    after(() => server.stop());

    it('refuses an identity after its failed passwords without checking the next one, but not where it is known', async () => {
      assert.equal((await attempt('GUESS-1', '127.0.0.1', 'the-right-password')).status, 101, 'the charger');
      for (let i = 0; i < 3; i++) {
        assert.equal((await attempt('GUESS-1', '127.0.0.2', `guess-${i}`)).status, 401);
      }
      const locked = await attempt('GUESS-1', '127.0.0.2', 'the-right-password');
      assert.equal(locked.status, 429, 'even the right password is not checked');
      assert.equal(locked.headers['retry-after'], '300');
      assert.equal((await attempt('GUESS-1', '127.0.0.3', 'the-right-password')).status, 429);
      assert.equal((await attempt('GUESS-1', '127.0.0.1', 'the-right-password')).status, 101, 'known address');
      const refused = await server.app.metrics.refusedConnections.get();
      assert.ok(refused.values.some((v) => v.labels.reason === 'too many failed passwords'));
    });

    it('refuses an address that guesses many identities', async () => {
      for (let i = 0; i < 5; i++) assert.equal((await attempt(`SPRAY-${i}`, '127.0.0.4', 'nope-nope')).status, 401);
      assert.equal((await attempt('SPRAY-5', '127.0.0.4', 'spray-password')).status, 429);
      assert.equal((await attempt('SPRAY-5', '127.0.0.5', 'spray-password')).status, 101);
    });
  });

  describe(`a lock at the OCPP door ends with its time, on ${backend}`, () => {
    let database: OpenDatabase;
    let http: Server;
    let ocpp: OcppServer;
    let stations: StationsService;
    let writer: BatchWriter;
    const clock = new TestClock('2027-01-01T00:00:00Z');

    before(async () => {
      database = await openTestDatabase(backend);
      writer = new BatchWriter(database.db, { windowMs: 0, maxRows: 100 });
      stations = new StationsService(database.db, writer, { acceptUnknownStations: false, heartbeatIntervalS: 60 });
      const sessions = new SessionsService(database.db, writer, stations);
      const chargerClock = new ChargerClock((stationId, event) => stations.recordEvent(stationId, event), clock);
      ocpp = new OcppServer({ stations, sessions, log: silentLogger, clock: chargerClock }, new Metrics(), {
        maxFrameBytes: 65536,
        callTimeoutMs: 1000,
        pingIntervalS: 0,
        authLimits: LIMITS,
        clock,
      });
      http = createServer();
      ocpp.attach(http);
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      await stations.register({ id: 'CLOCK-1', password: 'clock-password-1' });
    });
    after(async () => {
      await ocpp.close();
      await new Promise((resolve) => http.close(resolve));
      await writer.close();
      await stations.close();
      await database.close();
    });

    it('admits the right password again once the lock is over', async () => {
      const port = (http.address() as { port: number }).port;
      const attempt = (password: string) =>
        upgradeStatus(port, '/ocpp/CLOCK-1', { headers: basic('CLOCK-1', password) }).then((a) => a.status);
      for (let i = 0; i < 3; i++) assert.equal(await attempt(`wrong-${i}`), 401);
      assert.equal(await attempt('clock-password-1'), 429);
      clock.advance(299_999);
      assert.equal(await attempt('clock-password-1'), 429, 'refused attempts do not extend the lock');
      clock.advance(1);
      assert.equal(await attempt('clock-password-1'), 101);
    });
  });
}
