// 2.0.1 transaction events in the orders chargers really send them, on both backends, with an injected clock: an
// Updated after Ended changes nothing (it is recorded), an Ended leaves the transaction not charging, offline
// replays out of order give the transaction its EVSE and a CDR only once its events are complete, and an event
// that never arrives lets the CDR go out after the wait, corrected by a credit and a new CDR when it does arrive.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw, type RawCharger } from './support/raw-charger.ts';
import { TestClock } from './support/clock.ts';
import { isoAt, MINUTE } from './support/ocpp-time.ts';
import { cdrsOf, pricedSite } from './support/priced-site.ts';

// Raw chargers here answer no CSMS calls: no CostUpdated.
process.env.OPENCPO_COST_UPDATE_INTERVAL_S = 'off';

interface EventSpec {
  seqNo: number;
  type: 'Started' | 'Updated' | 'Ended';
  at: string;
  wh: number;
  state?: string;
  /** Only the events that say so carry the EVSE (2.0.1 requires it in the first one only). */
  evse?: boolean;
  token?: string;
}

function transactionEvent(txId: string, e: EventSpec) {
  const context =
    e.type === 'Started' ? 'Transaction.Begin' : e.type === 'Ended' ? 'Transaction.End' : 'Sample.Periodic';
  return {
    eventType: e.type,
    timestamp: e.at,
    triggerReason: e.type === 'Started' ? 'Authorized' : e.type === 'Ended' ? 'EVDeparted' : 'MeterValuePeriodic',
    seqNo: e.seqNo,
    transactionInfo: {
      transactionId: txId,
      ...(e.state ? { chargingState: e.state } : {}),
      ...(e.type === 'Ended' ? { stoppedReason: 'EVDisconnected' } : {}),
    },
    ...(e.evse ? { evse: { id: 1, connectorId: 1 } } : {}),
    ...(e.token ? { idToken: { idToken: e.token, type: 'ISO14443' } } : {}),
    meterValue: [
      {
        timestamp: e.at,
        sampledValue: [
          { value: e.wh, measurand: 'Energy.Active.Import.Register', context, unitOfMeasure: { unit: 'Wh' } },
        ],
      },
    ],
  };
}

async function send(c: RawCharger, txId: string, e: EventSpec) {
  const answer = await c.call('TransactionEvent', transactionEvent(txId, e));
  assert.equal(answer[0], 3, JSON.stringify(answer));
}

for (const backend of BACKENDS) {
  describe(`2.0.1 transaction event order on ${backend}`, () => {
    let server: TestServer;
    const clock = new TestClock('2030-02-01T08:00:00.000Z');
    const db = () => server.app.database.db;
    const billing = () => server.app.billing;
    const transaction = (chargerId: string) =>
      db()
        .selectFrom('transactions')
        .selectAll()
        .where('charger_transaction_id', '=', chargerId)
        .executeTakeFirstOrThrow();
    const failedSession = (id: string) =>
      db().selectFrom('failed_sessions').selectAll().where('transaction_id', '=', id).executeTakeFirst();

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true }, { clock });
      await pricedSite(server.app, ['ORDER-1', 'ORDER-2', 'ORDER-3', 'ORDER-4'], 'DRIVER-1');
    });
    after(() => server.stop());

    it('an Updated after Ended does not change the ended transaction; it is recorded, and the CDR agrees', async () => {
      const c = await openRaw(`${server.wsBase}/ORDER-1`, 'ocpp2.0.1');
      const t0 = isoAt(clock);
      await send(c, 'AFTER-END', {
        seqNo: 0,
        type: 'Started',
        at: t0,
        wh: 10_000,
        state: 'Charging',
        evse: true,
        token: 'DRIVER-1',
      });
      await send(c, 'AFTER-END', {
        seqNo: 1,
        type: 'Updated',
        at: isoAt(clock, 20 * MINUTE),
        wh: 13_000,
        state: 'Charging',
      });
      clock.advance(30 * MINUTE);
      await send(c, 'AFTER-END', { seqNo: 2, type: 'Ended', at: isoAt(clock), wh: 15_000, state: 'EVConnected' });
      await billing().settled();
      // What the SAP simulator sends a millisecond after Ended.
      await send(c, 'AFTER-END', { seqNo: 3, type: 'Updated', at: isoAt(clock, 1), wh: 283_840, state: 'Charging' });
      await billing().settled();

      const tx = await transaction('AFTER-END');
      assert.equal(tx.status, 'ended');
      assert.equal(tx.meter_stop_wh, 15_000);
      assert.equal(tx.energy_wh, 5000);
      assert.equal(tx.charging_state, 'ev_connected');
      const logged = await db()
        .selectFrom('transaction_events')
        .select(['seq_no', 'event_type'])
        .where('transaction_id', '=', tx.id)
        .orderBy('seq_no')
        .execute();
      assert.deepEqual(
        logged.map((e) => [e.seq_no, e.event_type]),
        [
          [0, 'started'],
          [1, 'updated'],
          [2, 'ended'],
          [3, 'updated'],
        ],
        'the late event is recorded',
      );
      const cdrs = await cdrsOf(server.app, tx.id);
      assert.equal(cdrs.length, 1);
      assert.equal(Number(cdrs[0]!.total_energy_kwh) * 1000, tx.energy_wh, 'the CDR says what the transaction says');
      await c.close();
    });

    it('an Ended without a charging state leaves the transaction not charging', async () => {
      const c = await openRaw(`${server.wsBase}/ORDER-2`, 'ocpp2.0.1');
      await send(c, 'NO-STATE', {
        seqNo: 0,
        type: 'Started',
        at: isoAt(clock),
        wh: 0,
        state: 'Charging',
        evse: true,
        token: 'DRIVER-1',
      });
      clock.advance(10 * MINUTE);
      await send(c, 'NO-STATE', { seqNo: 1, type: 'Ended', at: isoAt(clock), wh: 2000 });
      await billing().settled();
      const tx = await transaction('NO-STATE');
      assert.equal(tx.status, 'ended');
      assert.notEqual(tx.charging_state, 'charging');
      assert.equal(tx.charging_state, 'idle');
      await c.close();
    });

    it('offline events replayed out of order: the EVSE of the event that has it, and a CDR once every event is in', async () => {
      const c = await openRaw(`${server.wsBase}/ORDER-3`, 'ocpp2.0.1');
      const t0 = isoAt(clock, -60 * MINUTE);
      const started: EventSpec = {
        seqNo: 0,
        type: 'Started',
        at: t0,
        wh: 10_000,
        state: 'Charging',
        evse: true,
        token: 'DRIVER-1',
      };
      const updated: EventSpec = {
        seqNo: 1,
        type: 'Updated',
        at: isoAt(clock, -40 * MINUTE),
        wh: 14_000,
        state: 'Charging',
      };
      const ended: EventSpec = {
        seqNo: 2,
        type: 'Ended',
        at: isoAt(clock, -20 * MINUTE),
        wh: 18_000,
        state: 'EVConnected',
      };
      await send(c, 'REPLAYED', ended);
      await billing().settled();
      const early = await transaction('REPLAYED');
      assert.equal(await billing().getCdr(early.id), undefined, 'no CDR while events are missing');
      assert.equal(await failedSession(early.id), undefined, 'and no failed session either');
      await send(c, 'REPLAYED', updated);
      await billing().settled();
      assert.equal(await billing().getCdr(early.id), undefined, 'still one missing');
      await send(c, 'REPLAYED', started);
      await billing().settled();

      const tx = await transaction('REPLAYED');
      assert.equal(tx.evse_id, 1);
      assert.equal(tx.connector_id, 1);
      assert.equal(tx.energy_wh, 8000);
      assert.equal(tx.started_at?.toISOString(), t0);
      const cdrs = await cdrsOf(server.app, tx.id);
      assert.equal(cdrs.length, 1, 'one CDR, issued when the events were complete');
      assert.equal(Number(cdrs[0]!.total_energy_kwh), 8);
      assert.equal(cdrs[0]!.evse_id, 1);
      assert.equal(cdrs[0]!.start_date_time.toISOString(), t0);
      assert.equal(cdrs[0]!.end_date_time.toISOString(), ended.at);
      // 8 kWh × 0.30 + 0.50 flat.
      assert.equal(Number(cdrs[0]!.total_excl_vat), 290);
      const ports = await db()
        .selectFrom('meter_samples')
        .select(['evse_id', 'connector_id'])
        .where('transaction_id', '=', tx.id)
        .execute();
      assert.deepEqual(
        ports.map((p) => [p.evse_id, p.connector_id]),
        [
          [1, 1],
          [1, 1],
          [1, 1],
        ],
      );
      await c.close();
    });

    it('an event that never arrives: the CDR goes out after the wait, and a late event is a credit and a new CDR', async () => {
      const c = await openRaw(`${server.wsBase}/ORDER-4`, 'ocpp2.0.1');
      const t0 = isoAt(clock);
      const started: EventSpec = { seqNo: 0, type: 'Started', at: t0, wh: 10_000, state: 'Charging', evse: true };
      // The Started is lost for now; the token came with the first update.
      await send(c, 'LATE', {
        seqNo: 1,
        type: 'Updated',
        at: isoAt(clock, 20 * MINUTE),
        wh: 14_000,
        state: 'Charging',
        evse: true,
        token: 'DRIVER-1',
      });
      clock.advance(40 * MINUTE);
      await send(c, 'LATE', { seqNo: 2, type: 'Ended', at: isoAt(clock), wh: 18_000, state: 'EVConnected' });
      await billing().settled();
      const id = (await transaction('LATE')).id;
      assert.equal(await billing().getCdr(id), undefined, 'waiting for the missing event');

      clock.advance(billing().options.lateEventsWaitS * 1000 + 1);
      const issued = await billing().sessionEnded(id);
      assert.ok(issued, 'issued after the wait with what had arrived');
      assert.equal(Number(issued.totalEnergyKwh), 4);
      assert.equal(issued.totalExclVat, 170); // 4 kWh × 0.30 + 0.50

      await send(c, 'LATE', started);
      await billing().settled();
      const tx = await transaction('LATE');
      assert.equal(tx.energy_wh, 8000);
      const cdrs = await cdrsOf(server.app, id);
      assert.deepEqual(
        cdrs.map((r) => [r.credit, r.credit_reference_id, Number(r.total_excl_vat), Number(r.total_energy_kwh)]),
        [
          [false, null, 170, 4],
          [true, issued.id, -170, 4],
          [false, null, 290, 8],
        ],
        'the first CDR credited and a new one issued',
      );
      assert.notEqual(cdrs[2]!.id, issued.id);
      assert.equal(cdrs[2]!.start_date_time.toISOString(), t0);
      await c.close();
    });
  });
}
