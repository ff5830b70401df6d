// Tariff storage and resolution on both backends: versions on edit, the order of precedence of assignments
// (EVSE > station > location > everywhere; a customer-group match beats everyone at the same scope), retired
// tariffs and validity windows skipped, and the price shown before the start.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import type { TariffBody } from '../src/billing/tariff.ts';

const flat = (price: number, extra: Partial<TariffBody> = {}): TariffBody => ({
  currency: 'EUR',
  elements: [{ price_components: [{ type: 'ENERGY', price, step_size: 1 }] }],
  ...extra,
});

for (const backend of BACKENDS) {
  describe(`tariff resolution on ${backend}`, () => {
    let server: TestServer;
    const store = () => server.app.billing.tariffs;
    const ids: Record<string, string> = {};

    before(async () => {
      server = await startTestServer(backend);
      for (const [name, price] of [
        ['default', 0.1],
        ['defaultMembers', 0.11],
        ['location', 0.2],
        ['locationPartner', 0.21],
        ['station', 0.3],
        ['evse', 0.4],
        ['evseAdHoc', 0.41],
      ] as const) {
        ids[name] = (await store().create(name, flat(price))).id;
      }
      await store().assign({ tariffId: ids.default! });
      await store().assign({ tariffId: ids.defaultMembers!, customerGroup: 'members' });
      await store().assign({ tariffId: ids.location!, locationId: 'LOC-1' });
      await store().assign({ tariffId: ids.locationPartner!, locationId: 'LOC-1', customerGroup: 'partner:ABC' });
      await store().assign({ tariffId: ids.station!, stationId: 'ST-1' });
      await store().assign({ tariffId: ids.evse!, stationId: 'ST-1', evseId: 2 });
      await store().assign({ tariffId: ids.evseAdHoc!, stationId: 'ST-1', evseId: 2, customerGroup: 'ad_hoc' });
    });
    after(async () => server.stop());

    const cases: [
      string,
      { stationId: string; evseId: number; locationId: string | null; customerGroup: string },
      string,
    ][] = [
      [
        'EVSE + group beats everything',
        { stationId: 'ST-1', evseId: 2, locationId: 'LOC-1', customerGroup: 'ad_hoc' },
        'evseAdHoc',
      ],
      [
        'EVSE for everyone beats the station',
        { stationId: 'ST-1', evseId: 2, locationId: 'LOC-1', customerGroup: 'members' },
        'evse',
      ],
      [
        'station beats the location',
        { stationId: 'ST-1', evseId: 1, locationId: 'LOC-1', customerGroup: 'partner:ABC' },
        'station',
      ],
      [
        'location + partner group',
        { stationId: 'ST-2', evseId: 1, locationId: 'LOC-1', customerGroup: 'partner:ABC' },
        'locationPartner',
      ],
      [
        'location for everyone',
        { stationId: 'ST-2', evseId: 1, locationId: 'LOC-1', customerGroup: 'members' },
        'location',
      ],
      [
        'default for members',
        { stationId: 'ST-3', evseId: 1, locationId: null, customerGroup: 'members' },
        'defaultMembers',
      ],
      [
        'default for everyone',
        { stationId: 'ST-3', evseId: 1, locationId: 'LOC-9', customerGroup: 'ad_hoc' },
        'default',
      ],
    ];
    for (const [name, scope, expected] of cases) {
      it(`precedence: ${name}`, async () => {
        const t = await store().resolve(scope, new Date());
        assert.equal(t?.id, ids[expected]);
      });
    }

    it('an edit adds a version; the old version stays readable', async () => {
      const v2 = await store().update(ids.station!, { body: flat(0.35) });
      assert.equal(v2.version, 2);
      assert.equal((await store().get(ids.station!, 1))?.body.elements[0]?.price_components[0]?.price, 0.3);
      assert.deepEqual(
        (await store().versions(ids.station!)).map((v) => v.version),
        [1, 2],
      );
      const resolved = await store().resolve(
        { stationId: 'ST-1', evseId: 1, locationId: null, customerGroup: 'members' },
        new Date(),
      );
      assert.equal(resolved?.version, 2);
    });

    it('retired tariffs and tariffs outside their validity window are skipped', async () => {
      await store().retire(ids.evse!);
      const afterRetire = await store().resolve(
        { stationId: 'ST-1', evseId: 2, locationId: null, customerGroup: 'members' },
        new Date(),
      );
      assert.equal(afterRetire?.id, ids.station, 'falls back to the station');
      await store().update(ids.station!, { body: flat(0.35, { end_date_time: '2020-01-01T00:00:00Z' }) });
      const expired = await store().resolve(
        { stationId: 'ST-1', evseId: 2, locationId: null, customerGroup: 'members' },
        new Date(),
      );
      assert.equal(expired?.id, ids.defaultMembers, 'an expired station tariff falls back to the default');
    });

    it('refuses an invalid tariff naming the field', async () => {
      await assert.rejects(
        store().create('bad', {
          currency: 'EUR',
          elements: [{ price_components: [{ type: 'ENERGY', price: 1, step_size: 1.5 }] }],
        }),
        /elements\[0\]\.price_components\[0\]\.step_size/,
      );
      await assert.rejects(store().create('bad', { currency: 'EURO', elements: flat(1).elements }), /currency/);
      await assert.rejects(store().create('bad', { currency: 'XXY', elements: flat(1).elements }), /currency/);
    });
  });
}
