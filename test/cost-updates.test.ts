// CostUpdated goes only to chargers that take it: a 2.0.1 charger that answers NotImplemented gets it once,
// one log line says so, and it gets none again until it reboots (BootNotification); then it is offered again.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw } from './support/raw-charger.ts';

process.env.OPENCPO_COST_UPDATE_INTERVAL_S = '0'; // every progress report, so the test need not wait

const BOOT_201 = { reason: 'PowerUp', chargingStation: { vendorName: 'Acme', model: 'NoDisplay' } };

/**
 * A 2.0.1 charger that answers CostUpdated with NotImplemented (and counts them), and whose own CALLs wait for
 * the answer with their id (the server's CALLs arrive in between).
 */
async function chargerWithoutCostUpdated(wsBase: string, id: string) {
  const c = await openRaw(`${wsBase}/${id}`, 'ocpp2.0.1');
  let costUpdates = 0;
  let next = 0;
  const waiting = new Map<string, (frame: unknown[]) => void>();
  c.ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as unknown[];
    if (frame[0] === 2 && frame[2] === 'CostUpdated') {
      costUpdates += 1;
      c.ws.send(JSON.stringify([4, frame[1], 'NotImplemented', 'CostUpdated is not implemented', {}]));
    } else if (frame[0] !== 2) {
      waiting.get(frame[1] as string)?.(frame);
    }
  });
  const call = (action: string, payload: unknown) =>
    new Promise<unknown[]>((resolve, reject) => {
      const messageId = `own-${++next}`;
      const timer = setTimeout(() => reject(new Error(`${action} not answered within 5 s`)), 5000);
      waiting.set(messageId, (frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
      c.ws.send(JSON.stringify([2, messageId, action, payload]));
    });
  return { call, close: () => c.close(), costUpdates: () => costUpdates };
}

for (const backend of BACKENDS) {
  describe(`CostUpdated to a charger that does not implement it, on ${backend}`, () => {
    let server: TestServer;
    /** Warnings and errors the server logged, as written. */
    const problems: string[] = [];

    before(async () => {
      const log = pino(
        { level: 'info' },
        { write: (line: string) => void ((JSON.parse(line) as { level: number }).level >= 40 && problems.push(line)) },
      );
      server = await startTestServer(backend, { acceptUnknownStations: true }, { log });
      const tariff = await server.app.billing.tariffs.create('Everywhere', {
        currency: 'EUR',
        elements: [{ price_components: [{ type: 'FLAT', price: 0.5, vat: 21, step_size: 0 }] }],
      });
      await server.app.billing.tariffs.assign({ tariffId: tariff.id });
    });
    after(() => server.stop());

    it('is sent once, logged once, and not again until the charger reboots', async () => {
      const c = await chargerWithoutCostUpdated(server.wsBase, 'NOCOST-1');
      await c.call('BootNotification', BOOT_201);
      let seqNo = 0;
      const event = async (eventType: 'Started' | 'Updated') => {
        const answer = await c.call('TransactionEvent', {
          eventType,
          timestamp: new Date().toISOString(),
          triggerReason: eventType === 'Started' ? 'CablePluggedIn' : 'MeterValuePeriodic',
          seqNo: seqNo++,
          transactionInfo: { transactionId: 'NOCOST-TX-1', chargingState: 'Charging' },
          evse: { id: 1, connectorId: 1 },
          meterValue: [
            {
              timestamp: new Date().toISOString(),
              sampledValue: [{ value: 1000 * seqNo, measurand: 'Energy.Active.Import.Register' }],
            },
          ],
        });
        assert.equal(answer[0], 3, JSON.stringify(answer));
        await server.app.billing.settled();
      };
      await event('Started');
      for (let i = 0; i < 5; i++) await event('Updated');
      assert.equal(c.costUpdates(), 1, 'one CostUpdated, answered NotImplemented');
      const aboutIt = problems.filter((line) => line.includes('NOCOST-1') || line.includes('CostUpdated'));
      assert.equal(aboutIt.length, 1, aboutIt.join('\n'));
      assert.match(aboutIt[0]!, /does not take this command/);
      const logged = await server.app.database.db
        .selectFrom('command_log')
        .select(['action', 'status'])
        .where('station_id', '=', 'NOCOST-1')
        .where('command', '=', 'costUpdated')
        .execute();
      assert.deepEqual(logged, [{ action: 'CostUpdated', status: 'callerror' }]);

      // A reboot (perhaps into firmware that has it): offered again, once.
      await c.call('BootNotification', { ...BOOT_201, reason: 'FirmwareUpdate' });
      for (let i = 0; i < 3; i++) await event('Updated');
      assert.equal(c.costUpdates(), 2);
      await c.close();
    });
  });
}
