// The per-session path's caches (src/storage/read-cache.ts): bounded, expiring, never storing a read that raced a change;
// and on both backends, every change made through this process (tariffs and assignments, token links, locations and
// station places through the assets service) is seen at once by the next lookup.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { TtlCache } from '../src/storage/read-cache.ts';
import { cachedLocationOfStation } from '../src/billing/locations.ts';
import { AssetsService } from '../src/assets/service.ts';
import type { TariffBody } from '../src/billing/tariff.ts';

describe('TtlCache', () => {
  it('serves a value until its TTL, then loads again; negative answers are cached too', async () => {
    const cache = new TtlCache<string, number | undefined>(10, 1000);
    let loads = 0;
    const load = async () => (++loads === 1 ? undefined : loads);
    assert.equal(await cache.get('k', load, 0), undefined);
    assert.equal(await cache.get('k', load, 999), undefined);
    assert.equal(loads, 1);
    assert.equal(await cache.get('k', load, 1000), 2);
    assert.equal(loads, 2);
  });

  it('is bounded: the oldest entry goes first', async () => {
    const cache = new TtlCache<number, number>(3, 60_000);
    for (let i = 0; i < 5; i++) await cache.get(i, async () => i, 0);
    assert.equal(cache.size, 3);
    let reloaded = false;
    await cache.get(0, async () => ((reloaded = true), 0), 0);
    assert.ok(reloaded, 'the oldest key was evicted');
  });

  it('does not store a read that was in flight when the cache was cleared', async () => {
    const cache = new TtlCache<string, string>(10, 60_000);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const stale = cache.get('k', async () => {
      await gate;
      return 'old';
    });
    cache.clear(); // a change lands while the old value is being read
    release();
    assert.equal(await stale, 'old');
    assert.equal(await cache.get('k', async () => 'new'), 'new');
  });

  it('forgets one key on delete, and does not store a read of it that was in flight', async () => {
    const cache = new TtlCache<string, string>(10, 60_000);
    await cache.get('other', async () => 'kept');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const stale = cache.get('k', async () => {
      await gate;
      return 'old';
    });
    cache.delete('k');
    release();
    assert.equal(await stale, 'old');
    assert.equal(await cache.get('k', async () => 'new'), 'new');
    assert.equal(await cache.get('other', async () => 'reloaded'), 'kept', 'other keys stay');
  });

  it('a read in flight while another key changes is not stored, and is not served again after it settles', async () => {
    const cache = new TtlCache<string, string>(10, 60_000);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = cache.get('k', async () => {
      await gate;
      return 'old';
    });
    cache.delete('other'); // a change to another key while 'k' is being read
    release();
    assert.equal(await first, 'old');
    // The settled read must not linger as 'in flight': the next lookup reads again and sees the change.
    assert.equal(await cache.get('k', async () => 'new'), 'new');
    assert.equal(await cache.get('k', async () => 'newer'), 'new', 'and the fresh value is stored');
  });
});

const energy = (price: number): TariffBody => ({
  currency: 'EUR',
  elements: [{ price_components: [{ type: 'ENERGY', price, step_size: 1 }] }],
});

for (const backend of BACKENDS) {
  describe(`billing caches see this process's changes at once on ${backend}`, () => {
    let server: TestServer;
    const db = () => server.app.database.db;
    const billing = () => server.app.billing;

    before(async () => {
      server = await startTestServer(backend);
    });
    after(async () => server.stop());

    it('tariff resolution follows assign, update, retire and unassign', async () => {
      const scope = { stationId: 'CACHE-ST', evseId: 1, locationId: null, customerGroup: 'ad_hoc' };
      const store = billing().tariffs;
      assert.equal(await store.resolve(scope, new Date()), undefined);
      const a = await store.create('A', energy(0.1));
      const assignment = await store.assign({ tariffId: a.id, stationId: 'CACHE-ST' });
      assert.equal((await store.resolve(scope, new Date()))?.id, a.id, 'a new assignment is seen at once');
      await store.update(a.id, { body: energy(0.2) });
      const edited = await store.resolve(scope, new Date());
      assert.equal(edited?.version, 2, 'an edit is seen at once');
      assert.equal(edited?.elements[0]!.price_components[0]!.price, 0.2);
      const b = await store.create('B', energy(0.3));
      await store.assign({ tariffId: b.id, stationId: 'CACHE-ST', evseId: 1 });
      assert.equal((await store.resolve(scope, new Date()))?.id, b.id, 'a more specific assignment wins at once');
      await store.retire(b.id);
      assert.equal((await store.resolve(scope, new Date()))?.id, a.id, 'a retired tariff drops out at once');
      assert.ok(await store.unassign(assignment.id));
      assert.equal(await store.resolve(scope, new Date()), undefined, 'an unassigned tariff drops out at once');
      // The validity window is judged at each lookup, not when the candidates were cached.
      const windowed = await store.create('W', { ...energy(0.5), end_date_time: '2030-01-01T00:00:00Z' });
      await store.assign({ tariffId: windowed.id, stationId: 'CACHE-ST' });
      assert.equal((await store.resolve(scope, new Date('2029-12-31T00:00:00Z')))?.id, windowed.id);
      assert.equal(await store.resolve(scope, new Date('2030-06-01T00:00:00Z')), undefined);
    });

    it('the account of a token follows addToken and removeToken', async () => {
      const accounts = billing().accounts;
      assert.equal(await accounts.forToken('CACHE-TOKEN'), undefined);
      const ada = await accounts.create({ kind: 'driver', name: 'Ada', currency: 'EUR' });
      await accounts.addToken(ada.id, 'CACHE-TOKEN');
      const linked = await accounts.forToken('CACHE-TOKEN');
      assert.equal(linked?.id, ada.id, 'a new link is seen at once');
      assert.deepEqual(linked?.tokens, ['CACHE-TOKEN']);
      const bob = await accounts.create({ kind: 'driver', name: 'Bob', currency: 'EUR', customerGroup: 'ad_hoc' });
      await accounts.addToken(bob.id, 'CACHE-TOKEN');
      assert.equal((await accounts.forToken('CACHE-TOKEN'))?.id, bob.id, 'a moved token is seen at once');
      assert.deepEqual((await accounts.cached(ada.id))?.tokens, []);
      assert.ok(await accounts.removeToken(bob.id, 'CACHE-TOKEN'));
      assert.equal(await accounts.forToken('CACHE-TOKEN'), undefined, 'an unlinked token is seen at once');
    });

    it('a session pinned at its start is priced from the pin at its end; one without account settles nothing', async () => {
      await server.app.stations.register({ id: 'CACHE-PIN-ST' });
      const tariff = await billing().tariffs.create('Pin', energy(0.5));
      await billing().tariffs.assign({ tariffId: tariff.id, stationId: 'CACHE-PIN-ST' });
      const started = new Date(Date.now() - 3_600_000);
      for (const [id, wh] of [
        ['cache-pin-billed', 10_000],
        ['cache-pin-free', 10],
      ] as const) {
        await db()
          .insertInto('transactions')
          .values({
            id,
            station_id: 'CACHE-PIN-ST',
            evse_id: 1,
            connector_id: 1,
            charger_transaction_id: id,
            id_token: 'NO-ACCOUNT',
            status: 'active',
            started_at: started,
          } as never)
          .execute();
        await billing().sessionStarted(id);
        // A new version while the session runs: the session keeps the one it pinned.
        await billing().tariffs.update(tariff.id, { body: energy(0.9) });
        await db()
          .updateTable('transactions')
          .set({ status: 'ended', stopped_at: new Date(), energy_wh: wh } as never)
          .where('id', '=', id)
          .execute();
        await db()
          .insertInto('meter_samples')
          .values(
            [
              [started, 0],
              [new Date(), wh],
            ].map(([sampled_at, value]) => ({
              transaction_id: id,
              station_id: 'CACHE-PIN-ST',
              evse_id: 1,
              connector_id: 1,
              sampled_at,
              measurand: 'Energy.Active.Import.Register',
              unit: 'Wh',
              value,
              received_at: new Date(),
            })) as never,
          )
          .execute();
      }
      const cdr = await billing().sessionEnded('cache-pin-billed');
      assert.equal(cdr?.tariffVersion, 1, 'priced with the pinned version');
      assert.equal(cdr?.totalExclVat, 500); // 10 kWh × 0.50
      assert.deepEqual(await billing().getCdr('cache-pin-billed'), cdr, 'the CDR returned is the stored one');
      assert.deepEqual(await billing().sessionEnded('cache-pin-billed'), cdr, 'pricing again returns the stored CDR');
      assert.equal(await billing().sessionEnded('cache-pin-free'), undefined);
      const failed = await db()
        .selectFrom('failed_sessions')
        .select('reason')
        .where('transaction_id', '=', 'cache-pin-free')
        .executeTakeFirst();
      assert.equal(failed?.reason, 'below_min_energy');
      const payments = await db()
        .selectFrom('payments')
        .select('id')
        .where('transaction_id', 'in', ['cache-pin-billed', 'cache-pin-free'])
        .execute();
      assert.equal(payments.length, 0, 'no account: no payment row');
    });

    it('where a station stands follows the assets service (station place, location edits)', async () => {
      const assets = new AssetsService(db(), server.app.stations);
      await assets.registerStation({ id: 'CACHE-LOC-ST' });
      assert.equal(await cachedLocationOfStation(db(), 'CACHE-LOC-ST'), undefined);
      const org = await assets.createOrganisation({ name: 'Host', kind: 'site_host' });
      const loc = await assets.createLocation({
        organisationId: org.id,
        name: 'Depot',
        address: 'Weg 1',
        city: 'Utrecht',
        country: 'NLD',
        timeZone: 'Europe/Amsterdam',
      });
      await assets.updateStation('CACHE-LOC-ST', { locationId: loc.id });
      assert.equal((await cachedLocationOfStation(db(), 'CACHE-LOC-ST'))?.id, loc.id, 'a move is seen at once');
      await assets.updateLocation(loc.id, { timeZone: 'Europe/Lisbon' });
      assert.equal((await cachedLocationOfStation(db(), 'CACHE-LOC-ST'))?.timeZone, 'Europe/Lisbon');
      await assets.updateStation('CACHE-LOC-ST', { locationId: null });
      assert.equal(await cachedLocationOfStation(db(), 'CACHE-LOC-ST'), undefined);
    });
  });
}
