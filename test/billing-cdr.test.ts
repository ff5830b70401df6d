// CDRs end to end on both backends: a 2.0.1 charger on a priced location charges, goes idle and stops; the CDR
// carries the engine's total and OCPI's fields, keeps signed meter data, cannot be edited, and is corrected by a
// credit CDR. A tariff edited mid-session does not change that session's price. Sessions under the minimum
// are not billed and are recorded as failed sessions.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { TestClock } from './support/clock.ts';
import { openRaw, type RawCharger } from './support/raw-charger.ts';
import { priceSession } from '../src/billing/pricing.ts';
import type { TariffBody } from '../src/billing/tariff.ts';

// ENERGY 0.30/kWh, parking 6.00/h per minute, FLAT 0.50 — all at 21 % VAT.
const TARIFF: TariffBody = {
  currency: 'EUR',
  elements: [
    {
      price_components: [
        { type: 'ENERGY', price: 0.3, vat: 21, step_size: 1 },
        { type: 'PARKING_TIME', price: 6, vat: 21, step_size: 60 },
        { type: 'FLAT', price: 0.5, vat: 21, step_size: 0 },
      ],
    },
  ],
};

const at = (base: string, minutes: number) => new Date(Date.parse(base) + minutes * 60_000).toISOString();

async function transactionEvent(
  c: RawCharger,
  txId: string,
  seqNo: number,
  eventType: 'Started' | 'Updated' | 'Ended',
  time: string,
  wh: number,
  chargingState: string,
  extra: Record<string, unknown> = {},
  signed?: string,
) {
  const answer = await c.call('TransactionEvent', {
    eventType,
    timestamp: time,
    triggerReason:
      eventType === 'Started' ? 'Authorized' : eventType === 'Ended' ? 'EVDeparted' : 'ChargingStateChanged',
    seqNo,
    transactionInfo: {
      transactionId: txId,
      chargingState,
      ...(eventType === 'Ended' ? { stoppedReason: 'EVDisconnected' } : {}),
    },
    evse: { id: 1, connectorId: 1 },
    meterValue: [
      {
        timestamp: time,
        sampledValue: [
          {
            value: wh,
            measurand: 'Energy.Active.Import.Register',
            context:
              eventType === 'Started'
                ? 'Transaction.Begin'
                : eventType === 'Ended'
                  ? 'Transaction.End'
                  : 'Sample.Periodic',
            unitOfMeasure: { unit: 'Wh' },
            ...(signed
              ? {
                  signedMeterValue: {
                    signedMeterData: signed,
                    signingMethod: 'ECDSA-secp256r1-SHA256',
                    encodingMethod: 'OCMF',
                    publicKey: 'PUBKEY',
                  },
                }
              : {}),
          },
        ],
      },
    ],
    ...extra,
  });
  assert.equal(answer[0], 3, JSON.stringify(answer));
}

// These tests drive a raw 2.0.1 charger that does not answer CSMS calls: no CostUpdated (billing-live tests it).
process.env.OPENCPO_COST_UPDATE_INTERVAL_S = 'off';

// The sessions below are stamped in early November 2026; the server's clock stands just after them, so what
// depends on the date (how far back catch-up looks) does not depend on the day the test runs.
const clock = new TestClock('2026-11-06T00:00:00Z');

for (const backend of BACKENDS) {
  describe(`billing CDRs on ${backend}`, () => {
    let server: TestServer;
    let tariffId: string;
    const db = () => server.app.database.db;
    const billing = () => server.app.billing;

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true }, { clock });
      await server.app.sessions.upsertIdToken({ idToken: 'DRIVER-1' });
      for (const id of ['PRICED-1', 'PRICED-2', 'PRICED-3'])
        await server.app.stations.register({ id, allowUnauthenticated: true });
      const org = await db()
        .insertInto('organisations')
        .values({ name: 'Site host', kind: 'site_host', contact_email: null, retired_at: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      const loc = await db()
        .insertInto('locations')
        .values({
          organisation_id: org.id,
          name: 'Harbour car park',
          address: 'Kade 1',
          city: 'Amsterdam',
          postal_code: '1011AA',
          country: 'NLD',
          latitude: 52.37,
          longitude: 4.9,
          time_zone: 'Europe/Amsterdam',
          opening_hours: null,
          parking_restrictions: '[]',
          retired_at: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      for (const id of ['PRICED-1', 'PRICED-2', 'PRICED-3'])
        await db()
          .insertInto('station_assets')
          .values({ station_id: id, location_id: loc.id, name: id, retired_at: null })
          .execute();
      const tariff = await billing().tariffs.create('Harbour AC', TARIFF, 'test');
      tariffId = tariff.id;
      await billing().tariffs.assign({ tariffId, locationId: loc.id });
      const account = await billing().accounts.create({ kind: 'driver', name: 'Ada', currency: 'EUR' });
      await billing().accounts.addToken(account.id, 'DRIVER-1');
    });
    after(async () => {
      await server.stop();
    });

    it('a session with idle time ends with a CDR whose total is the engine’s, and a tariff edit mid-session does not reprice it', async () => {
      const c = await openRaw(`${server.wsBase}/PRICED-1`, 'ocpp2.0.1');
      const t0 = '2026-11-02T08:00:00.000Z';
      await transactionEvent(
        c,
        'S1',
        0,
        'Started',
        t0,
        10_000,
        'Charging',
        {
          idToken: { idToken: 'DRIVER-1', type: 'ISO14443' },
        },
        'OCMF|{"RD":[{"RV":10.0}]}|{"SD":"AAA"}',
      );
      await billing().settled(); // the tariff is pinned when the start is heard
      // Edit the tariff while the session runs: energy now costs 0.99/kWh.
      const edited = structuredClone(TARIFF);
      edited.elements[0]!.price_components[0]!.price = 0.99;
      const v2 = await billing().tariffs.update(tariffId, { body: edited }, 'test');
      assert.equal(v2.version, 2);

      await transactionEvent(c, 'S1', 1, 'Updated', at(t0, 30), 25_000, 'SuspendedEV');
      const live = await billing().costSoFar(
        (
          await db()
            .selectFrom('transactions')
            .select('id')
            .where('charger_transaction_id', '=', 'S1')
            .executeTakeFirstOrThrow()
        ).id,
        new Date(at(t0, 35)),
      );
      // 15 kWh × 0.30 = 4.50; 5 min idle × 6.00/h = 0.50; flat 0.50 → 5.50 excl.; 21 % → 1.155 → 6.655 → 6.66 incl.
      assert.equal(live?.exclVat, '5.50');
      assert.equal(live?.inclVat, '6.66');
      assert.equal(live?.tariffVersion, 1);

      await transactionEvent(
        c,
        'S1',
        2,
        'Ended',
        at(t0, 40),
        25_000,
        'EVConnected',
        {},
        'OCMF|{"RD":[{"RV":25.0}]}|{"SD":"BBB"}',
      );
      await billing().settled();
      const tx = await db()
        .selectFrom('transactions')
        .selectAll()
        .where('charger_transaction_id', '=', 'S1')
        .executeTakeFirstOrThrow();
      const cdr = await billing().getCdr(tx.id);
      assert.ok(cdr, 'a CDR was issued');
      // By hand: 15 kWh × 0.30 = 4.50; 10 min idle × 6.00/h = 1.00; flat 0.50. Excl. 6.00, VAT 21 % 1.26, incl. 7.26.
      assert.equal(cdr.totalExclVat, 600);
      assert.equal(cdr.totalVat, 126);
      assert.equal(cdr.totalInclVat, 726);
      assert.equal(cdr.tariffVersion, 1, 'the version pinned at the start, not the edit');

      // And it is the engine's figure for the same session.
      const engine = priceSession(
        { ...TARIFF, id: tariffId, version: 1 },
        {
          startedAt: new Date(t0),
          endedAt: new Date(at(t0, 40)),
          timeZone: 'Europe/Amsterdam',
          energy: [
            { at: new Date(t0), wh: 10_000 },
            { at: new Date(at(t0, 30)), wh: 25_000 },
          ],
          states: [
            { at: new Date(t0), state: 'charging' },
            { at: new Date(at(t0, 30)), state: 'idle' },
          ],
        },
      );
      assert.deepEqual(
        [cdr.totalExclVat, cdr.totalVat, cdr.totalInclVat],
        [engine.total.exclVat, engine.total.vat, engine.total.inclVat],
      );

      const body = cdr.body as Record<string, any>;
      assert.equal(body.country_code, 'NL');
      assert.equal(body.id, tx.id);
      assert.equal(body.currency, 'EUR');
      assert.equal(body.auth_method, 'AUTH_REQUEST');
      assert.equal(body.cdr_token.uid, 'DRIVER-1');
      assert.equal(body.cdr_token.type, 'RFID');
      assert.equal(body.cdr_location.city, 'Amsterdam');
      assert.equal(body.cdr_location.connector_id, '1');
      assert.equal(body.total_energy, 15);
      assert.equal(body.total_time, 0.666667);
      assert.equal(body.total_parking_time, 0.166667);
      assert.deepEqual(body.total_cost, { excl_vat: 6, incl_vat: 7.26 });
      assert.deepEqual(body.total_energy_cost, { excl_vat: 4.5, incl_vat: 5.45 });
      assert.deepEqual(
        body.charging_periods.map((p: any) => [
          p.start_date_time,
          p.dimensions.map((d: any) => `${d.type}=${d.volume}`).join(' '),
        ]),
        [
          ['2026-11-02T08:00:00.000Z', 'ENERGY=15 TIME=0.5'],
          ['2026-11-02T08:30:00.000Z', 'PARKING_TIME=0.166667'],
        ],
      );
      assert.equal(body.signed_data.encoding_method, 'OCMF');
      assert.equal(body.signed_data.public_key, 'PUBKEY');
      assert.deepEqual(
        body.signed_data.signed_values.map((v: any) => [v.nature, v.signed_data]),
        [
          ['Start', 'OCMF|{"RD":[{"RV":10.0}]}|{"SD":"AAA"}'],
          ['End', 'OCMF|{"RD":[{"RV":25.0}]}|{"SD":"BBB"}'],
        ],
      );
      const lines = body.opencpo_cost_lines as { exclVat: number; inclVat: number }[];
      assert.equal(
        lines.reduce((s, l) => s + l.inclVat, 0),
        726,
      );

      // A second session after the edit is priced with version 2: 1 kWh × 0.99 + 0.50 flat = 1.49 excl.
      await transactionEvent(c, 'S2', 0, 'Started', at(t0, 60), 30_000, 'Charging', {
        idToken: { idToken: 'DRIVER-1', type: 'ISO14443' },
      });
      await billing().settled();
      await transactionEvent(c, 'S2', 1, 'Ended', at(t0, 70), 31_000, 'EVConnected');
      await billing().settled();
      const tx2 = await db()
        .selectFrom('transactions')
        .select('id')
        .where('charger_transaction_id', '=', 'S2')
        .executeTakeFirstOrThrow();
      const cdr2 = await billing().getCdr(tx2.id);
      assert.equal(cdr2?.tariffVersion, 2);
      assert.equal(cdr2?.totalExclVat, 149);
      await c.close();
    });

    it('CDRs are immutable; a correction is a credit CDR with negated amounts', async () => {
      const tx = await db()
        .selectFrom('transactions')
        .select('id')
        .where('charger_transaction_id', '=', 'S1')
        .executeTakeFirstOrThrow();
      await assert.rejects(
        db().updateTable('cdrs').set({ total_excl_vat: 1 }).where('id', '=', tx.id).execute(),
        /immutable/,
      );
      await assert.rejects(db().deleteFrom('cdrs').where('id', '=', tx.id).execute(), /immutable/);
      const credit = await billing().credit(tx.id, 'wrong connector');
      assert.equal(credit.credit, true);
      assert.equal(credit.creditReferenceId, tx.id);
      assert.equal(credit.totalInclVat, -726);
      assert.deepEqual((credit.body as any).total_cost, { excl_vat: -6, incl_vat: -7.26 });
      const original = await billing().getCdr(tx.id);
      assert.equal(original?.totalInclVat, 726, 'the original is unchanged');
    });

    it('a session under the minimum energy is not billed and is recorded as a failed session', async () => {
      const c = await openRaw(`${server.wsBase}/PRICED-2`, 'ocpp2.0.1');
      const t0 = '2026-11-03T09:00:00.000Z';
      await transactionEvent(c, 'F1', 0, 'Started', t0, 5_000, 'Charging', {
        idToken: { idToken: 'DRIVER-1', type: 'ISO14443' },
      });
      await transactionEvent(c, 'F1', 1, 'Ended', at(t0, 3), 5_020, 'EVConnected');
      await billing().settled();
      const tx = await db()
        .selectFrom('transactions')
        .select('id')
        .where('charger_transaction_id', '=', 'F1')
        .executeTakeFirstOrThrow();
      assert.equal(await billing().getCdr(tx.id), undefined);
      const failed = await db()
        .selectFrom('failed_sessions')
        .selectAll()
        .where('transaction_id', '=', tx.id)
        .executeTakeFirstOrThrow();
      assert.equal(failed.reason, 'below_min_energy');
      assert.equal(failed.station_id, 'PRICED-2');
      assert.equal(failed.energy_wh, 20);
      await c.close();
    });

    it('an ended session missed while nobody listened is priced at catch-up, with the version current at its start', async () => {
      const c = await openRaw(`${server.wsBase}/PRICED-3`, 'ocpp2.0.1');
      const stop = billing();
      stop.stop(); // nobody listens
      const t0 = '2026-11-04T10:00:00.000Z';
      await transactionEvent(c, 'M1', 0, 'Started', t0, 0, 'Charging', {
        idToken: { idToken: 'DRIVER-1', type: 'ISO14443' },
      });
      await transactionEvent(c, 'M1', 1, 'Ended', at(t0, 20), 2_000, 'EVConnected');
      assert.equal(await stop.catchUp(), 1);
      await stop.start(server.app.events);
      const tx = await db()
        .selectFrom('transactions')
        .select('id')
        .where('charger_transaction_id', '=', 'M1')
        .executeTakeFirstOrThrow();
      const cdr = await billing().getCdr(tx.id);
      // Both versions were stored (today) after this session's start (2026-11-04), so the first version is the one
      // closest to its start, not the current one: 2 kWh × 0.30 + 0.50 = 1.10 (version 2 would give 2.48).
      assert.equal(cdr?.tariffVersion, 1);
      assert.equal(cdr?.totalExclVat, 110);
      await c.close();
    });
  });
}
