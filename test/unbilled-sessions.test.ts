// Sessions that are recorded but billed to no one, on both backends: a session whose token was refused at its start
// (1.6 Invalid or Blocked, 2.0.1 Unknown) and a StopTransaction for a transaction id OpenCPO never issued. Each is
// kept as a transaction, flagged, and recorded as not billed (failed_sessions with its reason): no CDR, even on a
// priced location where the same session of a known driver costs money.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { TestClock } from './support/clock.ts';
import { isoAt, MINUTE } from './support/ocpp-time.ts';
import { cdrsOf, pricedSite } from './support/priced-site.ts';

// Raw chargers here answer no CSMS calls: no CostUpdated.
process.env.OPENCPO_COST_UPDATE_INTERVAL_S = 'off';

for (const backend of BACKENDS) {
  describe(`unbilled sessions on ${backend}`, () => {
    let server: TestServer;
    const clock = new TestClock('2030-03-01T10:00:00.000Z');
    const db = () => server.app.database.db;
    const billing = () => server.app.billing;
    const transactionOf = (stationId: string, chargerId: string) =>
      db()
        .selectFrom('transactions')
        .selectAll()
        .where('station_id', '=', stationId)
        .where('charger_transaction_id', '=', chargerId)
        .executeTakeFirstOrThrow();
    const notBilled = async (id: string) => {
      assert.deepEqual(await cdrsOf(server.app, id), [], 'no CDR');
      const record = await db()
        .selectFrom('failed_sessions')
        .selectAll()
        .where('transaction_id', '=', id)
        .executeTakeFirstOrThrow();
      return record.reason;
    };

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true }, { clock });
      await pricedSite(server.app, ['UNBILLED-16', 'UNBILLED-201', 'UNBILLED-ORPHAN'], 'DRIVER-1');
      await server.app.sessions.upsertIdToken({ idToken: 'BLOCKED-1', status: 'blocked' });
    });
    after(() => server.stop());

    it('1.6: a session started with a refused token is recorded and flagged, not billed; a known driver’s is', async () => {
      const c = await openRaw(`${server.wsBase}/UNBILLED-16`, 'ocpp1.6');
      const session = async (connectorId: number, idTag: string) => {
        const start = await c.call('StartTransaction', {
          connectorId,
          idTag,
          meterStart: 1000,
          timestamp: isoAt(clock),
        });
        const answer = start[2] as { transactionId: number; idTagInfo: { status: string } };
        clock.advance(20 * MINUTE);
        await c.call('StopTransaction', {
          transactionId: answer.transactionId,
          meterStop: 3000,
          timestamp: isoAt(clock),
          reason: 'Local',
        });
        await billing().settled();
        return { ...answer, tx: await transactionOf('UNBILLED-16', String(answer.transactionId)) };
      };
      const unknown = await session(1, 'NOBODY');
      assert.equal(unknown.idTagInfo.status, 'Invalid');
      assert.equal(unknown.tx.auth_status, 'unknown', 'flagged with the answer it got');
      assert.equal(unknown.tx.energy_wh, 2000, 'recorded as it happened');
      assert.equal(await notBilled(unknown.tx.id), 'token_refused');

      const blocked = await session(2, 'BLOCKED-1');
      assert.equal(blocked.idTagInfo.status, 'Blocked');
      assert.equal(await notBilled(blocked.tx.id), 'token_refused');

      // The same session of a known driver costs 2 kWh × 0.30 + 0.50.
      const known = await session(1, 'DRIVER-1');
      assert.equal((await billing().getCdr(known.tx.id))?.totalExclVat, 110);
      await c.close();
    });

    it('2.0.1: a session of an Unknown token is recorded and flagged, not billed', async () => {
      const c = await openRaw(`${server.wsBase}/UNBILLED-201`, 'ocpp2.0.1');
      const event = (seqNo: number, eventType: string, wh: number) => ({
        eventType,
        timestamp: isoAt(clock),
        triggerReason: eventType === 'Started' ? 'Authorized' : 'EVDeparted',
        seqNo,
        transactionInfo: {
          transactionId: 'STRANGER',
          chargingState: eventType === 'Started' ? 'Charging' : 'EVConnected',
        },
        evse: { id: 1, connectorId: 1 },
        ...(eventType === 'Started' ? { idToken: { idToken: 'NOBODY', type: 'ISO14443' } } : {}),
        meterValue: [
          { timestamp: isoAt(clock), sampledValue: [{ value: wh, measurand: 'Energy.Active.Import.Register' }] },
        ],
      });
      const started = await c.call('TransactionEvent', event(0, 'Started', 5000));
      assert.equal((started[2] as { idTokenInfo: { status: string } }).idTokenInfo.status, 'Unknown');
      clock.advance(30 * MINUTE);
      await c.call('TransactionEvent', event(1, 'Ended', 9000));
      await billing().settled();
      const tx = await transactionOf('UNBILLED-201', 'STRANGER');
      assert.equal(tx.auth_status, 'unknown');
      assert.equal(tx.energy_wh, 4000);
      assert.equal(await notBilled(tx.id), 'token_refused');
      await c.close();
    });

    it('1.6: a StopTransaction for a transaction OpenCPO never issued is recorded and flagged, not billed', async () => {
      const c = await openRaw(`${server.wsBase}/UNBILLED-ORPHAN`, 'ocpp1.6');
      const stop = await c.call('StopTransaction', {
        transactionId: 987_654,
        idTag: 'DRIVER-1',
        meterStop: 5000,
        timestamp: isoAt(clock),
        reason: 'EVDisconnected',
        transactionData: [
          {
            timestamp: isoAt(clock, -30 * MINUTE),
            sampledValue: [{ value: '1000', context: 'Transaction.Begin' }],
          },
        ],
      });
      assert.equal(stop[0], 3, 'accepted, never rejected into a retry loop');
      await billing().settled();
      const tx = await transactionOf('UNBILLED-ORPHAN', '987654');
      assert.equal(tx.status, 'ended');
      assert.equal(await notBilled(tx.id), 'unknown_transaction');
      assert.equal(tx.id_unknown, true, 'flagged: not an id OpenCPO issued');
      await c.close();
    });
  });
}
