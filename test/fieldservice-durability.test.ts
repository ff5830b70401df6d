// Webhooks survive a crash: `opencpo serve` is killed with SIGKILL while its webhook deliveries are in flight
// (the receiver has them but has not answered); after a restart every one is delivered again with the same
// delivery id, and the receiver, de-duplicating on that id, processes each exactly once. Nothing queued is
// lost. Run on PGlite (a data directory) and on PostgreSQL.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKENDS, freshPostgresDatabase } from './support/backends.ts';
import { exited, freePort, startServe } from './support/serve-process.ts';
import { openDatabase } from '../src/storage/database.ts';
import { addWebhook, verifySignature } from '../src/fieldservice/webhooks.ts';
import { SimulatedStation } from '../src/simulator/station.ts';

const until = async (what: string, check: () => boolean, ms: number) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
};

/** A receiver that holds requests unanswered while `hold` is set, and processes each delivery id once. */
function receiver(secret: () => string) {
  const state = {
    hold: true,
    seen: [] as string[],
    processed: new Map<string, string>(),
    duplicates: 0,
    badSignatures: 0,
    held: [] as ServerResponse[],
  };
  const server = createHttpServer((req, res) => {
    res.on('error', () => undefined);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const id = String(req.headers['x-opencpo-delivery']);
      state.seen.push(id);
      if (state.hold) {
        state.held.push(res); // never answered: the sender is killed meanwhile
        return;
      }
      const sig = String(req.headers['x-opencpo-signature']);
      if (!verifySignature(secret(), String(req.headers['x-opencpo-timestamp']), raw, sig)) {
        state.badSignatures++;
        res.writeHead(401).end();
        return;
      }
      if (state.processed.has(id)) state.duplicates++;
      else state.processed.set(id, String(req.headers['x-opencpo-event']));
      res.writeHead(204).end();
    });
  });
  return { server, state };
}

for (const backend of BACKENDS) {
  describe(`webhooks across a crash on ${backend}`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
    });

    it('delivers every pending webhook after a restart, each once by delivery id', async () => {
      const storage: { data?: string; databaseUrl?: string } = {};
      if (backend === 'pglite') {
        storage.data = mkdtempSync(join(tmpdir(), 'opencpo-webhooks-'));
        cleanups.push(() => rmSync(storage.data!, { recursive: true, force: true }));
      } else {
        const fresh = await freshPostgresDatabase();
        storage.databaseUrl = fresh.url;
        cleanups.push(fresh.drop);
      }
      let secret = '';
      const { server: hookServer, state } = receiver(() => secret);
      await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', () => r()));
      cleanups.push(
        () =>
          new Promise<void>((r) => {
            hookServer.closeAllConnections();
            hookServer.close(() => r());
          }),
      );
      const hookUrl = `http://127.0.0.1:${(hookServer.address() as { port: number }).port}/hooks`;

      // Subscribe before the server starts (PGlite is one process's at a time).
      const seed = await openDatabase({ url: storage.databaseUrl, dataDir: storage.data });
      ({ secret } = await addWebhook(seed.db, { id: 'crash-test', url: hookUrl }));
      await seed.close();

      const port = await freePort();
      let child = await startServe(port, storage, 'error');
      cleanups.push(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      const station = new SimulatedStation({
        url: `ws://127.0.0.1:${port}/ocpp`,
        id: 'CRASH-1',
        protocol: 'ocpp1.6',
        connectors: 2,
        meterIntervalS: 0,
        autoReconnect: false,
      });
      station.on('problem', () => undefined);
      await station.connect();
      await station.boot();
      await station.reportAllStatuses(true);
      await station.sendFault(1, 'CX002');
      await station.sendFault(2, 'CX004');
      // Each fault: outage.opened, alert.raised, work_order.created; all six reach the receiver and hang there.
      await until('six deliveries in flight', () => new Set(state.seen).size >= 6, 20_000);
      const inFlight = new Set(state.seen);
      child.kill('SIGKILL');
      await exited(child);
      await station.close();
      assert.equal(state.processed.size, 0, 'nothing was acknowledged before the crash');

      state.hold = false;
      child = await startServe(port, storage, 'error');
      // The dead node's leases expire, then the new one delivers everything again, with the same ids.
      await until('redelivery after restart', () => [...inFlight].every((id) => state.processed.has(id)), 45_000);
      child.kill('SIGTERM');
      await exited(child);

      const check = await openDatabase({ url: storage.databaseUrl, dataDir: storage.data });
      try {
        const rows = await check.db.selectFrom('outbox').selectAll().where('channel', '=', 'webhook').execute();
        assert.ok(rows.length >= 6);
        for (const row of rows) {
          assert.equal(row.status, 'delivered', `${row.topic} ${row.delivery_id} delivered`);
          assert.ok(state.processed.has(row.delivery_id), `receiver processed ${row.delivery_id}`);
        }
        assert.equal(state.processed.size, rows.length, 'each delivery processed once');
        assert.deepEqual([...state.processed.values()].sort(), [
          'alert.raised',
          'alert.raised',
          'outage.opened',
          'outage.opened',
          'work_order.created',
          'work_order.created',
        ]);
        assert.equal(state.badSignatures, 0);
        for (const id of inFlight)
          assert.ok(
            rows.some((r) => r.delivery_id === id && r.attempts >= 2),
            'retried after the crash',
          );
      } finally {
        await check.close();
      }
    });
  });
}
