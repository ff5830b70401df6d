// The repair loop end to end, on both storage backends and both OCPP versions: a simulated charger reports
// ChargeX CX002 (1.6 StatusNotification vendorErrorCode; 2.0.1 NotifyEvent techCode); OpenCPO opens an outage
// coded CX002 with its responsible party, raises an alert, delivers HMAC-signed webhooks from the outbox and
// opens a work order assigned by zone and skill; resolving it as vandalism excludes the outage and the port's
// uptime rises; the next successful session verifies the work order, and a new fault reopens it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import type { SimulatedStation } from '../src/simulator/station.ts';
import { bootedStation } from './support/stations.ts';
import { addWebhook, verifySignature } from '../src/fieldservice/webhooks.ts';
import type { OcppProtocol } from '../src/ocpp/rpc/protocols.ts';

const until = async <T>(what: string, check: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
};

interface Received {
  deliveryId: string;
  event: string;
  body: any;
  signatureValid: boolean;
}

async function startReceiver(secret: () => string): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      received.push({
        deliveryId: String(req.headers['x-opencpo-delivery']),
        event: String(req.headers['x-opencpo-event']),
        body: JSON.parse(raw),
        signatureValid: verifySignature(
          secret(),
          String(req.headers['x-opencpo-timestamp']),
          raw,
          String(req.headers['x-opencpo-signature']),
        ),
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { server, url: `http://127.0.0.1:${port}/hooks`, received };
}

for (const backend of BACKENDS) {
  describe(`the repair loop on ${backend}`, () => {
    let server: TestServer;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let secret = '';
    const stations: SimulatedStation[] = [];
    const db = () => server.app.database.db;

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true });
      receiver = await startReceiver(() => secret);
      ({ secret } = await addWebhook(db(), { id: 'fsm', url: receiver.url }));
      await server.app.sessions.upsertIdToken({ idToken: 'GOOD' });
      await db()
        .insertInto('technicians')
        .values([
          {
            id: 'tech-north',
            name: 'Nora',
            email: null,
            zones: JSON.stringify(['north']),
            skills: JSON.stringify(['electrical']),
            active: true,
          },
          {
            id: 'tech-south',
            name: 'Sam',
            email: null,
            zones: JSON.stringify(['south']),
            skills: JSON.stringify(['electrical']),
            active: true,
          },
        ])
        .execute();
    });
    after(async () => {
      for (const s of stations) await s.close();
      await server.stop();
      await new Promise((r) => receiver.server.close(r));
    });

    for (const protocol of ['ocpp1.6', 'ocpp2.0.1'] as const satisfies readonly OcppProtocol[]) {
      it(`${protocol}: CX002 → outage, alert, signed webhook, work order; vandalism excludes; a session verifies`, async () => {
        const id = `LOOP-${protocol}`;
        await db().insertInto('station_zones').values({ station_id: id, site_id: 'site-n', zone: 'north' }).execute();
        const s = await bootedStation(server.wsBase, id, protocol);
        stations.push(s);

        await s.sendFault(1, 'CX002');
        const outage = await until('an open CX002 outage', async () => {
          const [o] = await server.app.uptime.listOutages({ stationId: id, evseId: 1, open: true });
          return o?.causeCode === 'CX002' ? o : undefined;
        });
        assert.equal(outage.causeSource, 'charger_mrec');
        assert.equal(outage.responsibleParty, 'oem');
        assert.equal(outage.reason, 'faulted');
        assert.ok(outage.evidence.length > 0);

        const alert = await until('an alert', () =>
          db().selectFrom('alerts').selectAll().where('outage_id', '=', outage.id).executeTakeFirst(),
        );
        assert.equal(alert.status, 'open');
        assert.equal(alert.rule_id, 'faulted');
        const wo = await until('a work order', () =>
          db().selectFrom('work_orders').selectAll().where('outage_id', '=', outage.id).executeTakeFirst(),
        );
        assert.equal(wo.cause_code, 'CX002');
        assert.equal(wo.status, 'assigned');
        assert.equal(wo.technician_id, 'tech-north', 'assigned by zone and skill');
        assert.equal(wo.site_id, 'site-n');

        const mine = (event: string) =>
          receiver.received.filter((r) => r.event === event && JSON.stringify(r.body.data).includes(`"${id}"`));
        await until('webhooks for outage, alert and work order', async () =>
          mine('outage.opened').length && mine('alert.raised').length && mine('work_order.created').length
            ? true
            : undefined,
        );
        for (const r of [...mine('outage.opened'), ...mine('alert.raised'), ...mine('work_order.created')]) {
          assert.ok(r.signatureValid, `${r.event} is signed with HMAC-SHA256`);
          assert.equal(r.body.id, r.deliveryId);
        }
        assert.equal(mine('alert.raised')[0]!.body.data.outageId, outage.id);

        // The fault clears: the outage closes, the alert resolves by itself.
        await s.clearFault(1);
        const closed = await until('the outage to close', async () => {
          const o = await server.app.uptime.getOutage(outage.id);
          return o?.endedAt ? o : undefined;
        });
        await until(
          'the alert to resolve',
          async () =>
            (await db().selectFrom('alerts').select('status').where('id', '=', alert.id).executeTakeFirst())?.status ===
            'resolved',
        );

        const port = { stationId: id, evseId: 1, connectorId: 1 };
        const window = { from: closed.startedAt.getTime() - 3600_000, to: closed.endedAt!.getTime() + 3600_000 };
        const before = await server.app.uptime.portUptime(port, window);
        assert.ok(before.outageMinutes > 0 && before.uptime < 100);

        const wos = server.app.fieldService.workOrders;
        await wos.transition(String(wo.id), 'en_route', 'tech-north');
        await wos.transition(String(wo.id), 'on_site', 'tech-north');
        await wos.update(String(wo.id), 'tech-north', {
          note: 'cable sliced, RCD tripped',
          attachments: [{ name: 'cable.jpg', contentType: 'image/jpeg', url: 'file:///photos/cable.jpg' }],
          parts: [{ part: 'CCS1 cable', quantity: 1, unitCostMinor: 125_000, currency: 'USD' }],
        });
        const resolved = await wos.resolve(String(wo.id), 'tech-north', {
          causeCode: 'VANDALISM',
          exclusionReason: 4,
          notes: 'police report 2211',
        });
        assert.equal(resolved.status, 'resolved');
        const recoded = await server.app.uptime.getOutage(outage.id);
        assert.equal(recoded!.causeCode, 'VANDALISM');
        assert.equal(recoded!.derivedCauseCode, 'CX002');
        const corrections = await server.app.uptime.corrections(outage.id);
        assert.equal(String(corrections.at(-1)!.work_order_id), String(wo.id));
        const afterFix = await server.app.uptime.portUptime(port, window);
        assert.ok(afterFix.uptime > before.uptime, 'uptime rises once the outage is excluded');
        assert.equal(afterFix.uptime, 100);
        assert.ok(Math.abs(afterFix.excludedMinutes - before.outageMinutes) < 1e-9);

        // The next successful session verifies the work order.
        await s.plugIn(1);
        await s.startTransaction(1, 'GOOD');
        await new Promise((r) => setTimeout(r, 60));
        await s.sendMeterValues(1);
        await s.stopTransaction(1, 'Local');
        await until('verification', async () => (await wos.get(String(wo.id)))?.status === 'verified');
        const history = (await wos.events(String(wo.id))).map((e) => e.type);
        assert.deepEqual(history, ['created', 'status_changed', 'status_changed', 'updated', 'resolved', 'verified']);
        await until('work-order webhooks', async () => (mine('work_order.verified').length ? true : undefined));

        // Failing again within the window reopens it instead of opening another.
        await s.sendFault(1, 'CX002');
        const reopened = await until('reopen', async () => {
          const w = await wos.get(String(wo.id));
          return w?.reopenedCount === 1 ? w : undefined;
        });
        assert.equal(reopened.status, 'assigned');
        const count = await db()
          .selectFrom('work_orders')
          .select(db().fn.countAll<string>().as('n'))
          .where('station_id', '=', id)
          .executeTakeFirstOrThrow();
        assert.equal(Number(count.n), 1);
        await s.clearFault(1);
      });
    }

    it('a work order another process resolved is verified by a session once a sweep has seen it', async () => {
      // This process keeps which stations have a resolved work order (so a session end elsewhere reads nothing);
      // another process's resolution reaches it with the next sweep.
      const id = 'LOOP-ELSEWHERE';
      const s = await bootedStation(server.wsBase, id, 'ocpp1.6');
      stations.push(s);
      const wos = server.app.fieldService.workOrders;
      const wo = await db()
        .transaction()
        .execute((trx) => wos.create(trx, { stationId: id, evseId: 1, symptom: 'seen elsewhere', by: 'test' }));
      await db()
        .updateTable('work_orders')
        .set({ status: 'resolved', resolved_at: new Date() })
        .where('id', '=', wo.id)
        .execute();
      await server.app.fieldService.sweep();
      await s.plugIn(1);
      await s.startTransaction(1, 'GOOD');
      await new Promise((r) => setTimeout(r, 60));
      await s.sendMeterValues(1);
      await s.stopTransaction(1, 'Local');
      await until('verification', async () => (await wos.get(wo.id))?.status === 'verified');
    });

    it('refuses illegal work-order moves and bad parts, naming the field', async () => {
      const wo = await db()
        .transaction()
        .execute((trx) =>
          server.app.fieldService.workOrders.create(trx, { stationId: 'NOWHERE', symptom: 'test', by: 'test' }),
        );
      assert.equal(wo.status, 'open');
      await assert.rejects(
        server.app.fieldService.workOrders.transition(wo.id, 'verified', 'x'),
        /cannot go from open to verified/,
      );
      await assert.rejects(
        server.app.fieldService.workOrders.update(wo.id, 'x', {
          parts: [{ part: 'p', quantity: 1, unitCostMinor: 1.5, currency: 'USD' }],
        }),
        (err: any) => err.field === 'parts.unitCostMinor',
      );
    });
  });
}
