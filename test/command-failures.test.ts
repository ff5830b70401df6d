// Commands that get no usable answer: the command log names the OCPP action of every attempt (offline,
// timed out, CALLERROR, broken answer), and an answer that breaks its schema is a 502 naming the problem,
// as a CALLERROR is, not a 500. Raw chargers answer exactly what each case needs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { openRaw, type RawCharger } from './support/raw-charger.ts';
import { apiClient } from './support/api-client.ts';
import { CommandTimeoutError, StationOfflineError } from '../src/stations/commands.ts';

/** Polls until `check` holds, with a deadline. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Answers every CALL the server sends with what `answer` builds (or nothing when it returns undefined). */
function answering(c: RawCharger, answer: (id: string, action: string) => unknown[] | undefined): void {
  c.ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as unknown[];
    if (frame[0] !== 2) return;
    const reply = answer(frame[1] as string, frame[2] as string);
    if (reply) c.ws.send(JSON.stringify(reply));
  });
}

for (const backend of BACKENDS) {
  describe(`commands without a usable answer on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;
    const logOf = (stationId: string) =>
      server.app.database.db
        .selectFrom('command_log')
        .select(['command', 'action', 'status', 'error'])
        .where('station_id', '=', stationId)
        .orderBy('id')
        .execute();

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true, callTimeoutMs: 500 });
      admin = apiClient(server.url, (await server.app.access.createApiKey({ name: 'cmd', role: 'admin' })).key);
    });
    after(() => server.stop());

    it('the command log names the action of offline, timed-out and refused commands', async () => {
      const c16 = await openRaw(`${server.wsBase}/FAIL-16`, 'ocpp1.6');
      const c201 = await openRaw(`${server.wsBase}/FAIL-201`, 'ocpp2.0.1');
      answering(c16, (id, action) => (action === 'Reset' ? [4, id, 'NotSupported', 'no resets here', {}] : undefined));
      await assert.rejects(server.app.commands.send('FAIL-16', { name: 'reset', type: 'hard' }));
      await assert.rejects(server.app.commands.send('FAIL-16', { name: 'clearCache' }), CommandTimeoutError);
      await c16.close();
      await c201.close();
      await until(
        'both offline',
        () => !server.app.ocpp.isConnected('FAIL-16') && !server.app.ocpp.isConnected('FAIL-201'),
      );
      await assert.rejects(
        server.app.commands.send('FAIL-201', { name: 'remoteStart', idToken: 'TAG-1' }),
        StationOfflineError,
      );
      await assert.rejects(server.app.commands.send('FAIL-16', { name: 'unlock', evseId: 1 }), StationOfflineError);
      await server.app.stations.register({ id: 'FAIL-NEVER', allowUnauthenticated: true });
      await assert.rejects(server.app.commands.send('FAIL-NEVER', { name: 'clearCache' }), StationOfflineError);

      assert.deepEqual(
        (await logOf('FAIL-16')).map((r) => [r.command, r.action, r.status]),
        [
          ['reset', 'Reset', 'callerror'],
          ['clearCache', 'ClearCache', 'timeout'],
          ['unlock', 'UnlockConnector', 'offline'],
        ],
      );
      assert.deepEqual(
        (await logOf('FAIL-201')).map((r) => [r.command, r.action, r.status]),
        [['remoteStart', 'RequestStartTransaction', 'offline']],
      );
      // A station that never connected speaks no version yet: there is no action to name.
      assert.deepEqual(
        (await logOf('FAIL-NEVER')).map((r) => [r.action, r.status]),
        [[null, 'offline']],
      );
      const listed = await admin.get('/api/v1/commands?stationId=FAIL-16');
      assert.deepEqual(
        listed.body.items.map((i: { action: string }) => i.action),
        ['UnlockConnector', 'ClearCache', 'Reset'],
      );
    });

    it('an answer that breaks its schema is a 502 naming the problem, logged with its action', async () => {
      for (const protocol of ['ocpp1.6', 'ocpp2.0.1'] as const) {
        const id = `BROKEN-${protocol === 'ocpp1.6' ? '16' : '201'}`;
        const c = await openRaw(`${server.wsBase}/${id}`, protocol);
        answering(c, (msgId) => [3, msgId, { status: 'Maybe' }]);
        const answer = await admin.post(`/api/v1/stations/${id}/commands/clear-cache`, {});
        assert.equal(answer.status, 502, JSON.stringify(answer.body));
        assert.equal(answer.body.error, 'station_invalid_answer');
        assert.match(answer.body.message, /ClearCache: \/status must be equal to one of the allowed values/);
        const [logged] = await logOf(id);
        assert.equal(logged!.action, 'ClearCache');
        assert.equal(logged!.status, 'invalid_answer');
        const audited = await server.app.database.db
          .selectFrom('audit_log')
          .select('outcome')
          .where('target', '=', id)
          .where('action', '=', 'command.clear-cache')
          .executeTakeFirstOrThrow();
        assert.equal(audited.outcome, 'invalid_answer');
        // The charger is still served: the next command gets its (valid) answer.
        c.ws.removeAllListeners('message');
        answering(c, (msgId) => [3, msgId, { status: 'Accepted' }]);
        const next = await admin.post(`/api/v1/stations/${id}/commands/clear-cache`, {});
        assert.equal(next.status, 200);
        await c.close();
      }
    });
  });
}
