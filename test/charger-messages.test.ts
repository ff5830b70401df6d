// Smaller rules of what chargers send, on both backends: a 1.6 StopTransaction's transactionData does not store its
// Transaction.End reading twice; a 2.0.1 token authorizes only with the type it is registered with; a NotifyEvent is
// stored as a device-model event, and only one that reports a failure is a fault, with a code that says what.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { TestClock } from './support/clock.ts';
import { isoAt, MINUTE } from './support/ocpp-time.ts';

for (const backend of BACKENDS) {
  describe(`charger messages on ${backend}`, () => {
    let server: TestServer;
    const clock = new TestClock('2030-04-01T12:00:00.000Z');
    const db = () => server.app.database.db;

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true }, { clock });
      await server.app.sessions.upsertIdToken({ idToken: 'CARD-1', type: 'ISO14443' });
      await server.app.sessions.upsertIdToken({ idToken: 'CONTRACT-1', type: 'eMAID' });
    });
    after(() => server.stop());

    it('1.6: a StopTransaction whose transactionData has the Transaction.End reading stores it once', async () => {
      const c = await openRaw(`${server.wsBase}/DATA-16`, 'ocpp1.6');
      const start = await c.call('StartTransaction', {
        connectorId: 1,
        idTag: 'CARD-1',
        meterStart: 1000,
        timestamp: isoAt(clock),
      });
      const transactionId = (start[2] as { transactionId: number }).transactionId;
      clock.advance(30 * MINUTE);
      await c.call('StopTransaction', {
        transactionId,
        meterStop: 7000,
        timestamp: isoAt(clock),
        transactionData: [
          { timestamp: isoAt(clock, -15 * MINUTE), sampledValue: [{ value: '4000', context: 'Sample.Periodic' }] },
          {
            timestamp: isoAt(clock),
            sampledValue: [
              { value: '7.000', unit: 'kWh', context: 'Transaction.End' },
              { value: '11000', measurand: 'Power.Active.Import', context: 'Transaction.End' },
            ],
          },
        ],
      });
      const tx = await db()
        .selectFrom('transactions')
        .selectAll()
        .where('station_id', '=', 'DATA-16')
        .executeTakeFirstOrThrow();
      const ends = await db()
        .selectFrom('meter_samples')
        .select(['measurand', 'value'])
        .where('transaction_id', '=', tx.id)
        .where('context', '=', 'Transaction.End')
        .orderBy('measurand')
        .execute();
      assert.deepEqual(
        ends.map((s) => [s.measurand, s.value]),
        [
          ['Energy.Active.Import.Register', 7000],
          ['Power.Active.Import', 11_000],
        ],
        'one end reading of the register',
      );
      assert.equal(tx.energy_wh, 6000);
      await c.close();
    });

    it('2.0.1: a token authorizes only with the type it is registered with; 1.6 idTags carry no type', async () => {
      const c201 = await openRaw(`${server.wsBase}/TYPE-201`, 'ocpp2.0.1');
      const authorize = async (idToken: string, type: string) => {
        const answer = await c201.call('Authorize', { idToken: { idToken, type } });
        return (answer[2] as { idTokenInfo: { status: string } }).idTokenInfo.status;
      };
      assert.equal(await authorize('CARD-1', 'ISO14443'), 'Accepted');
      assert.equal(await authorize('CARD-1', 'eMAID'), 'Unknown', 'an RFID card number sent as a contract id');
      assert.equal(await authorize('CONTRACT-1', 'eMAID'), 'Accepted');
      assert.equal(await authorize('CONTRACT-1', 'ISO14443'), 'Unknown');
      // A remote start hands the charger the token as Central; the charger's events then carry that type.
      assert.equal(await authorize('CARD-1', 'Central'), 'Accepted');
      const started = await c201.call('TransactionEvent', {
        eventType: 'Started',
        timestamp: isoAt(clock),
        triggerReason: 'Authorized',
        seqNo: 0,
        transactionInfo: { transactionId: 'TYPED' },
        evse: { id: 1, connectorId: 1 },
        idToken: { idToken: 'CARD-1', type: 'eMAID' },
      });
      assert.equal((started[2] as { idTokenInfo: { status: string } }).idTokenInfo.status, 'Unknown');
      await c201.close();

      const c16 = await openRaw(`${server.wsBase}/TYPE-16`, 'ocpp1.6');
      for (const idTag of ['CARD-1', 'CONTRACT-1']) {
        const answer = await c16.call('Authorize', { idTag });
        assert.equal((answer[2] as { idTagInfo: { status: string } }).idTagInfo.status, 'Accepted', idTag);
      }
      await c16.close();
    });

    it('2.0.1: NotifyEvent is a device-model event; only a reported failure is a fault, with a meaningful code', async () => {
      const c = await openRaw(`${server.wsBase}/NOTIFY-201`, 'ocpp2.0.1');
      const data = (eventId: number, extra: Record<string, unknown>) => ({
        eventId,
        timestamp: isoAt(clock),
        eventNotificationType: 'HardWiredNotification',
        ...extra,
      });
      const answer = await c.call('NotifyEvent', {
        generatedAt: isoAt(clock),
        seqNo: 0,
        eventData: [
          // A periodic reading with the vendor's code for it: monitoring, not a failure.
          data(1, {
            trigger: 'Periodic',
            actualValue: '41.5',
            techCode: 'T-OK',
            component: { name: 'TemperatureSensor', evse: { id: 1 } },
            variable: { name: 'Temperature' },
            eventNotificationType: 'PreconfiguredMonitor',
          }),
          // A threshold crossed: an alert of a monitor, still not a failure.
          data(2, {
            trigger: 'Alerting',
            actualValue: '60',
            component: { name: 'TemperatureSensor', evse: { id: 1 } },
            variable: { name: 'Temperature' },
            eventNotificationType: 'CustomMonitor',
          }),
          // The RCD tripped, with its ChargeX code.
          data(3, {
            trigger: 'Alerting',
            actualValue: 'true',
            techCode: 'CX002',
            techInfo: 'residual current 32 mA',
            component: { name: 'RCD', evse: { id: 1 } },
            variable: { name: 'Problem' },
          }),
          // A tamper alarm without a code.
          data(4, {
            trigger: 'Alerting',
            actualValue: 'true',
            component: { name: 'ChargingStation' },
            variable: { name: 'Tamper' },
          }),
          // The RCD problem cleared.
          data(5, {
            trigger: 'Alerting',
            actualValue: 'false',
            cleared: true,
            cause: 3,
            techCode: 'CX002',
            component: { name: 'RCD', evse: { id: 1 } },
            variable: { name: 'Problem' },
          }),
        ],
      });
      assert.equal(answer[0], 3);
      const rows = await db()
        .selectFrom('station_events')
        .select([
          'kind',
          'event_ref',
          'component',
          'variable',
          'actual_value',
          'vendor_error_code',
          'error_code',
          'cleared',
        ])
        .where('station_id', '=', 'NOTIFY-201')
        .where('kind', 'in', ['event', 'fault'])
        .orderBy('event_ref')
        .execute();
      assert.deepEqual(
        rows.map((r) => [r.event_ref, r.kind, r.component, r.variable, r.actual_value, r.vendor_error_code]),
        [
          ['1', 'event', 'TemperatureSensor', 'Temperature', '41.5', 'T-OK'],
          ['2', 'event', 'TemperatureSensor', 'Temperature', '60', null],
          ['3', 'fault', 'RCD', 'Problem', 'true', 'CX002'],
          ['4', 'fault', 'ChargingStation', 'Tamper', 'true', null],
          ['5', 'fault', 'RCD', 'Problem', 'false', 'CX002'],
        ],
      );
      const faults = rows.filter((r) => r.kind === 'fault');
      assert.deepEqual(
        faults.map((r) => [r.event_ref, r.error_code, r.cleared]),
        [
          ['3', 'GroundFailure', false],
          ['4', 'ChargingStation.Tamper', false],
          ['5', 'GroundFailure', true],
        ],
        'codes that say what failed, never the variable name alone',
      );
      const triggers = await db()
        .selectFrom('station_events')
        .select(['event_ref', 'trigger'])
        .where('station_id', '=', 'NOTIFY-201')
        .where('kind', 'in', ['event', 'fault'])
        .orderBy('event_ref')
        .execute();
      assert.deepEqual(
        triggers.map((r) => r.trigger),
        ['Periodic', 'Alerting', 'Alerting', 'Alerting', 'Alerting'],
      );
      await c.close();
    });
  });
}
