// Transactions end to end on both storage backends: simulated 1.6 and 2.0.1 chargers boot, report status,
// authorize, charge, send meter values and stop; duplicates and offline replays are stored once and in
// order; a remote start through the command entry point starts a transaction on each version.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { SimulatedStation } from '../src/simulator/station.ts';
import type { OcppProtocol } from '../src/ocpp/rpc/protocols.ts';

const until = async (what: string, check: () => Promise<boolean>, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
};

// Charger timestamps of the replay tests: days of a month before the test runs (a charger clock is believed up to a
// year back), at midnight UTC, so the outcome is the same whatever the date.
const FIRST_DAY = Math.floor(Date.now() / 86_400_000 - 30) * 86_400_000;
const day = (n: number) => new Date(FIRST_DAY + n * 86_400_000).toISOString().slice(0, 10);

for (const backend of BACKENDS) {
  describe(`transactions on ${backend}`, () => {
    let server: TestServer;
    const stations: SimulatedStation[] = [];
    const station = (id: string, protocol: OcppProtocol) => {
      const s = new SimulatedStation({
        url: server.wsBase,
        id,
        protocol,
        meterIntervalS: 0,
        secondMs: 1, // one protocol second per real millisecond: meters advance quickly
        autoReconnect: false,
      });
      s.on('problem', () => undefined);
      stations.push(s);
      return s;
    };
    const db = () => server.app.database.db;

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true });
      await server.app.sessions.upsertIdToken({ idToken: 'GOOD', groupId: 'FLEET-1' });
      await server.app.sessions.upsertIdToken({ idToken: 'BLOCKED', status: 'blocked' });
      await server.app.sessions.upsertIdToken({ idToken: 'OLD', expiresAt: new Date('2020-01-01T00:00:00Z') });
      await server.app.sessions.upsertIdToken({ idToken: 'BAD', status: 'invalid' });
    });
    after(async () => {
      for (const s of stations) await s.close();
      await server.stop();
    });

    for (const protocol of ['ocpp1.6', 'ocpp2.0.1'] as const) {
      it(`${protocol}: boot, status, authorize, charge, meter values, stop`, async () => {
        const id = `TX-${protocol}`;
        const s = station(id, protocol);
        await s.connect();
        assert.equal(await s.boot(), 'Accepted');
        await s.reportAllStatuses(true);
        await s.plugIn(1);
        const auth = await s.authorize('GOOD');
        assert.equal(auth.status, 'Accepted');
        const before = new Date();
        const started = await s.startTransaction(1, 'GOOD');
        const meterStart = s.connector(1).transaction!.meterStartWh;
        await new Promise((r) => setTimeout(r, 30));
        await s.sendMeterValues(1);
        await new Promise((r) => setTimeout(r, 30));
        await s.sendMeterValues(1);
        await s.stopTransaction(1, 'Local');
        const meterStop = s.connector(1).meter.read(s.simNowMs()).energyWh;
        const afterStop = new Date();

        const tx = await db()
          .selectFrom('transactions')
          .selectAll()
          .where('station_id', '=', id)
          .where('charger_transaction_id', '=', String(started.transactionId))
          .executeTakeFirstOrThrow();
        assert.equal(tx.status, 'ended');
        assert.equal(tx.id_token, 'GOOD');
        assert.equal(tx.evse_id, 1);
        assert.ok(tx.started_at && tx.started_at >= new Date(before.getTime() - 1000) && tx.started_at <= afterStop);
        assert.ok(
          tx.stopped_at && tx.stopped_at >= tx.started_at && tx.stopped_at <= new Date(afterStop.getTime() + 1000),
        );
        assert.equal(tx.meter_start_wh, meterStart);
        assert.equal(tx.meter_stop_wh, meterStop);
        assert.ok(meterStop > meterStart, 'the simulated meter advanced');
        assert.equal(tx.energy_wh, meterStop - meterStart);
        assert.equal(tx.stop_reason, 'Local');

        const samples = await db()
          .selectFrom('meter_samples')
          .select(['measurand', 'unit', 'value'])
          .where('transaction_id', '=', tx.id)
          .execute();
        assert.ok(samples.some((x) => x.measurand === 'Power.Active.Import' && x.unit === 'W'));
        const statuses = await db()
          .selectFrom('connector_status')
          .select('status')
          .where('station_id', '=', id)
          .where('evse_id', '=', 1)
          .orderBy('id')
          .execute();
        assert.ok(statuses.map((r) => r.status).includes('charging'), 'the timeline shows charging');
      });
    }

    for (const protocol of ['ocpp1.6', 'ocpp2.0.1'] as const) {
      it(`${protocol}: authorize answers Accepted, Blocked, Expired and Invalid/Unknown from the token table`, async () => {
        const s = station(`AUTH-${protocol}`, protocol);
        await s.connect();
        await s.boot();
        assert.equal((await s.authorize('GOOD')).status, 'Accepted');
        assert.equal((await s.authorize('BLOCKED')).status, 'Blocked');
        assert.equal((await s.authorize('OLD')).status, 'Expired');
        assert.equal((await s.authorize('BAD')).status, 'Invalid');
        assert.equal((await s.authorize('NOBODY')).status, protocol === 'ocpp1.6' ? 'Invalid' : 'Unknown');
      });
    }

    it('1.6: a repeated StartTransaction gets the same id; a stop for an unknown transaction is accepted and kept', async () => {
      const c = await openRaw(`${server.wsBase}/DUP-16`, 'ocpp1.6');
      const start = { connectorId: 1, idTag: 'GOOD', meterStart: 1000, timestamp: `${day(0)}T10:00:00.000Z` };
      const a = await c.call('StartTransaction', start);
      const b = await c.call('StartTransaction', start);
      assert.equal(a[0], 3);
      const first = a[2] as { transactionId: number; idTagInfo: { status: string } };
      assert.equal(first.idTagInfo.status, 'Accepted');
      assert.equal((b[2] as { transactionId: number }).transactionId, first.transactionId);
      const count = await db().selectFrom('transactions').select('id').where('station_id', '=', 'DUP-16').execute();
      assert.equal(count.length, 1);

      const stop = await c.call('StopTransaction', {
        transactionId: 987654,
        meterStop: 5000,
        timestamp: `${day(0)}T11:00:00.000Z`,
        reason: 'EVDisconnected',
      });
      assert.equal(stop[0], 3, 'accepted, never rejected into a retry loop');
      const orphan = await db()
        .selectFrom('transactions')
        .selectAll()
        .where('station_id', '=', 'DUP-16')
        .where('charger_transaction_id', '=', '987654')
        .executeTakeFirstOrThrow();
      assert.equal(orphan.status, 'ended');
      assert.equal(orphan.stop_reason, 'EVDisconnected');
      await c.close();
    });

    it('2.0.1: transaction events replayed after an outage are stored once and in order', async () => {
      const c = await openRaw(`${server.wsBase}/REPLAY-201`, 'ocpp2.0.1');
      const event = (seqNo: number, eventType: string, minute: number, wh: number, extra: object = {}) => ({
        eventType,
        timestamp: `${day(1)}T08:${String(minute).padStart(2, '0')}:00.000Z`,
        triggerReason:
          eventType === 'Started' ? 'Authorized' : eventType === 'Ended' ? 'EVDeparted' : 'MeterValuePeriodic',
        seqNo,
        offline: true,
        transactionInfo: {
          transactionId: 'OFFLINE-1',
          chargingState: eventType === 'Ended' ? 'Idle' : 'Charging',
          ...(eventType === 'Ended' ? { stoppedReason: 'EVDisconnected' } : {}),
        },
        evse: { id: 1, connectorId: 1 },
        meterValue: [
          {
            timestamp: `${day(1)}T08:${String(minute).padStart(2, '0')}:00.000Z`,
            sampledValue: [{ value: wh, measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'Wh' } }],
          },
        ],
        ...extra,
      });
      const started = event(0, 'Started', 0, 10_000, { idToken: { idToken: 'GOOD', type: 'ISO14443' } });
      const u1 = event(1, 'Updated', 10, 12_000);
      const u2 = event(2, 'Updated', 20, 14_500);
      const ended = event(3, 'Ended', 30, 16_000);
      // Out of order, then repeated: the charger resends what it was not sure we got.
      for (const e of [started, u2, u1, ended, u1, u2, ended, started]) {
        const answer = await c.call('TransactionEvent', e);
        assert.equal(answer[0], 3);
      }
      const tx = await db()
        .selectFrom('transactions')
        .selectAll()
        .where('station_id', '=', 'REPLAY-201')
        .executeTakeFirstOrThrow();
      const events = await db()
        .selectFrom('transaction_events')
        .select(['seq_no', 'event_type'])
        .where('transaction_id', '=', tx.id)
        .orderBy('seq_no')
        .execute();
      assert.deepEqual(
        events.map((e) => [e.seq_no, e.event_type]),
        [
          [0, 'started'],
          [1, 'updated'],
          [2, 'updated'],
          [3, 'ended'],
        ],
      );
      const samples = await db()
        .selectFrom('meter_samples')
        .select(['value', 'sampled_at'])
        .where('transaction_id', '=', tx.id)
        .orderBy('sampled_at')
        .execute();
      assert.deepEqual(
        samples.map((s) => s.value),
        [10_000, 12_000, 14_500, 16_000],
        'each sample once, in time order',
      );
      assert.equal(tx.status, 'ended');
      assert.equal(tx.offline, true);
      assert.equal(tx.energy_wh, 6000);
      assert.equal(tx.started_at?.toISOString(), `${day(1)}T08:00:00.000Z`);
      assert.equal(tx.stopped_at?.toISOString(), `${day(1)}T08:30:00.000Z`);
      assert.equal(tx.charging_state, 'idle', 'the state of the last event, not of the last one received');
      await c.close();
    });

    it('1.6: meter values with past timestamps keep the energy right', async () => {
      const c = await openRaw(`${server.wsBase}/LATE-16`, 'ocpp1.6');
      const start = await c.call('StartTransaction', {
        connectorId: 2,
        idTag: 'GOOD',
        meterStart: 500,
        timestamp: `${day(2)}T09:00:00.000Z`,
      });
      const transactionId = (start[2] as { transactionId: number }).transactionId;
      const mv = (minute: number, wh: number) => ({
        connectorId: 2,
        transactionId,
        meterValue: [{ timestamp: `${day(2)}T09:${minute}:00.000Z`, sampledValue: [{ value: String(wh) }] }],
      });
      await c.call('MeterValues', mv(30, 3500));
      await c.call('MeterValues', mv(10, 1500)); // arrives late
      await c.call('StopTransaction', { transactionId, meterStop: 4000, timestamp: `${day(2)}T09:45:00.000Z` });
      const tx = await db()
        .selectFrom('transactions')
        .selectAll()
        .where('station_id', '=', 'LATE-16')
        .executeTakeFirstOrThrow();
      assert.equal(tx.meter_start_wh, 500);
      assert.equal(tx.meter_stop_wh, 4000);
      assert.equal(tx.energy_wh, 3500);
      await c.close();
    });

    it("writes each station's last-seen time, never moving one back", async () => {
      const chargers = await Promise.all(
        ['SEEN-A', 'SEEN-B'].map((id) => openRaw(`${server.wsBase}/${id}`, 'ocpp1.6')),
      );
      const before = new Date();
      for (const c of chargers) await c.call('Heartbeat', {});
      // SEEN-B already has a later time than this write carries: it must keep it.
      const later = new Date(Date.now() + 3_600_000);
      await db().updateTable('stations').set({ last_seen_at: later }).where('id', '=', 'SEEN-B').execute();
      await server.app.stations.flushLastSeen();
      const rows = await db()
        .selectFrom('stations')
        .select(['id', 'last_seen_at'])
        .where('id', 'in', ['SEEN-A', 'SEEN-B'])
        .orderBy('id')
        .execute();
      assert.ok(rows[0]!.last_seen_at! >= before, `SEEN-A seen at ${rows[0]!.last_seen_at?.toISOString()}`);
      assert.equal(rows[1]!.last_seen_at!.toISOString(), later.toISOString());
      for (const c of chargers) await c.close();
    });

    it('1.6: meter values of several transactions written together give each its own energy', async () => {
      const chargers = await Promise.all(
        ['BATCH-A', 'BATCH-B', 'BATCH-C'].map((id) => openRaw(`${server.wsBase}/${id}`, 'ocpp1.6')),
      );
      const ids = await Promise.all(
        chargers.map(async (c, i) => {
          const start = await c.call('StartTransaction', {
            connectorId: 1,
            idTag: 'GOOD',
            meterStart: 1000 * (i + 1),
            timestamp: `${day(3)}T08:00:00.000Z`,
          });
          return (start[2] as { transactionId: number }).transactionId;
        }),
      );
      // Sent at once, so that the group commit takes them in one batch (and one energy statement) where it can.
      await Promise.all(
        chargers.map((c, i) =>
          c.call('MeterValues', {
            connectorId: 1,
            transactionId: ids[i],
            meterValue: [
              {
                timestamp: `${day(3)}T08:30:00.000Z`,
                sampledValue: [{ value: String(1000 * (i + 1) + 100 * (i + 1)) }],
              },
            ],
          }),
        ),
      );
      const rows = await db()
        .selectFrom('transactions')
        .select(['station_id', 'meter_start_wh', 'meter_stop_wh', 'energy_wh'])
        .where('station_id', 'in', ['BATCH-A', 'BATCH-B', 'BATCH-C'])
        .orderBy('station_id')
        .execute();
      assert.deepEqual(
        rows.map((r) => [r.station_id, r.meter_start_wh, r.meter_stop_wh, r.energy_wh]),
        [
          ['BATCH-A', 1000, 1100, 100],
          ['BATCH-B', 2000, 2200, 200],
          ['BATCH-C', 3000, 3300, 300],
        ],
      );
      for (const c of chargers) await c.close();
    });

    for (const protocol of ['ocpp1.6', 'ocpp2.0.1'] as const) {
      it(`${protocol}: a remote start through the command entry point starts a transaction`, async () => {
        const id = `REMOTE-${protocol}`;
        const s = station(id, protocol);
        await s.connect();
        await s.boot();
        await s.reportAllStatuses(true);
        const outcome = await server.app.commands.send(id, { name: 'remoteStart', idToken: 'GOOD', evseId: 1 }, 'test');
        assert.equal(outcome.result.status, 'accepted');
        await until('the remote transaction', async () => {
          const rows = await db()
            .selectFrom('transactions')
            .select('id')
            .where('station_id', '=', id)
            .where('status', '=', 'active')
            .execute();
          return rows.length === 1;
        });
        const logged = await db()
          .selectFrom('command_log')
          .selectAll()
          .where('id', '=', outcome.commandId)
          .executeTakeFirstOrThrow();
        assert.equal(logged.command, 'remoteStart');
        assert.equal(logged.action, protocol === 'ocpp1.6' ? 'RemoteStartTransaction' : 'RequestStartTransaction');
        assert.equal(logged.status, 'accepted');
        assert.equal(logged.requested_by, 'test');

        // And a remote stop of that transaction through the same entry point, once the charger itself has
        // its transaction id (it learns it from our answer, a moment after we stored the start).
        await until('the charger to know its transaction', async () => Boolean(s.connector(1).transaction?.id));
        const tx = await db()
          .selectFrom('transactions')
          .select(['charger_transaction_id'])
          .where('station_id', '=', id)
          .executeTakeFirstOrThrow();
        const stop = await server.app.commands.send(id, {
          name: 'remoteStop',
          chargerTransactionId: tx.charger_transaction_id,
        });
        assert.equal(
          stop.result.status,
          'accepted',
          JSON.stringify({ tx, known: s.connectors.map((c) => c.transaction?.id) }),
        );
        await until('the remote stop', async () => {
          const row = await db()
            .selectFrom('transactions')
            .select('status')
            .where('station_id', '=', id)
            .executeTakeFirst();
          return row?.status === 'ended';
        });
      });
    }

    it('a command to a charger that is not connected fails at once and is logged as offline', async () => {
      await assert.rejects(server.app.commands.send('NOT-HERE', { name: 'clearCache' }), /not connected/);
      const row = await db()
        .selectFrom('command_log')
        .selectAll()
        .where('station_id', '=', 'NOT-HERE')
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'offline');
    });
  });
}
