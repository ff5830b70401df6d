// Smaller rules of what chargers send, on both backends: a 2.0.1 token authorizes only with the type it is
// registered with.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';
import { TestClock } from './support/clock.ts';

for (const backend of BACKENDS) {
  describe(`charger messages on ${backend}`, () => {
    let server: TestServer;
    const clock = new TestClock('2030-04-01T12:00:00.000Z');

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true }, { clock: clock.now });
      await server.app.sessions.upsertIdToken({ idToken: 'CARD-1', type: 'ISO14443' });
      await server.app.sessions.upsertIdToken({ idToken: 'CONTRACT-1', type: 'eMAID' });
    });
    after(() => server.stop());

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
        timestamp: clock.iso(),
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
  });
}
