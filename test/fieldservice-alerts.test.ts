// Alert rules on both backends: a fault e-mails the rule's address over SMTP (a real local server from the
// smtp-server package) from the outbox; repeated evaluation does not duplicate an alert; a meter that stops
// advancing while charging raises an alert that resolves once it moves; a month forecast below 97% raises one
// that resolves when the outage is excluded, on fixed dates early, mid and late in a month and at its end.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SMTPServer } from 'smtp-server';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import type { SimulatedStation } from '../src/simulator/station.ts';
import { bootedStation } from './support/stations.ts';
import { TestClock } from './support/clock.ts';

const until = async <T>(what: string, check: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
};

interface Mail {
  to: string[];
  raw: string;
}

for (const backend of BACKENDS) {
  describe(`alerts on ${backend}`, () => {
    let server: TestServer;
    let smtp: SMTPServer;
    const mails: Mail[] = [];
    const stations: SimulatedStation[] = [];
    const db = () => server.app.database.db;
    const alertsOf = (stationId: string, ruleId: string) =>
      db().selectFrom('alerts').selectAll().where('station_id', '=', stationId).where('rule_id', '=', ruleId).execute();

    before(async () => {
      smtp = new SMTPServer({
        disabledCommands: ['STARTTLS', 'AUTH'],
        logger: false,
        onData(stream, session, callback) {
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            mails.push({
              to: session.envelope.rcptTo.map((r) => r.address),
              raw: Buffer.concat(chunks).toString('utf8'),
            });
            callback();
          });
        },
      });
      await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
      const port = (smtp.server.address() as { port: number }).port;
      process.env.OPENCPO_SMTP_URL = `smtp://127.0.0.1:${port}`;
      process.env.OPENCPO_SMTP_FROM = 'alerts@opencpo.test';
      try {
        server = await startTestServer(backend, { acceptUnknownStations: true });
      } finally {
        delete process.env.OPENCPO_SMTP_URL;
        delete process.env.OPENCPO_SMTP_FROM;
      }
      await db()
        .updateTable('alert_rules')
        .set({ route_emails: JSON.stringify(['ops@example.com']) })
        .where('id', '=', 'faulted')
        .execute();
    });
    after(async () => {
      for (const s of stations) await s.close();
      await server.stop();
      await new Promise<void>((r) => smtp.close(() => r()));
    });

    it('e-mails a fault over SMTP from the outbox and de-duplicates the alert', async () => {
      const s = await bootedStation(server.wsBase, 'MAIL-1', 'ocpp1.6', { secondMs: 1000 });
      stations.push(s);
      await s.sendFault(1, 'CX004');
      const mail = await until('the alert e-mail', async () => mails.find((m) => m.raw.includes('MAIL-1')));
      assert.deepEqual(mail.to, ['ops@example.com']);
      assert.match(mail.raw, /^Subject: .*CX004/m);
      assert.match(mail.raw, /^From: alerts@opencpo\.test/m);
      assert.match(mail.raw, /^X-OpenCPO-Delivery: [0-9a-f-]{36}/im);
      await server.app.fieldService.sweep();
      await server.app.fieldService.sweep();
      assert.equal((await alertsOf('MAIL-1', 'faulted')).length, 1);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(mails.filter((m) => m.raw.includes('MAIL-1')).length, 1, 'one e-mail per alert');
      await s.clearFault(1);
      await until('auto-resolution', async () => (await alertsOf('MAIL-1', 'faulted'))[0]?.status === 'resolved');
    });

    it('a boot loop raises an alert per port but opens one work order for the charger', async () => {
      const s = await bootedStation(server.wsBase, 'LOOPY-1', 'ocpp2.0.1', { connectors: 2, secondMs: 1000 });
      stations.push(s);
      await s.boot();
      await s.boot();
      const outages = await until('boot-loop outages on both ports', async () => {
        const list = await server.app.uptime.listOutages({ stationId: 'LOOPY-1', open: true });
        return list.length === 2 && list.every((o) => o.causeCode === 'BOOT_LOOP') ? list : undefined;
      });
      assert.deepEqual(outages.map((o) => o.evseId).sort(), [1, 2]);
      await until('two alerts', async () => ((await alertsOf('LOOPY-1', 'boot-loop')).length === 2 ? true : undefined));
      await server.app.fieldService.sweep();
      const orders = await db().selectFrom('work_orders').selectAll().where('station_id', '=', 'LOOPY-1').execute();
      assert.equal(orders.length, 1);
      assert.equal(orders[0]!.cause_code, 'BOOT_LOOP');
    });

    it('raises and resolves "meter not advancing while charging"', async () => {
      const S = 'METER-1';
      const now = Date.now();
      await db()
        .insertInto('stations')
        .values({ id: S } as any)
        .execute();
      await db().insertInto('evses').values({ station_id: S, evse_id: 1 }).execute();
      await db()
        .insertInto('connectors')
        .values({
          station_id: S,
          evse_id: 1,
          connector_id: 1,
          status: 'charging',
          error_code: null,
          vendor_error_code: null,
          status_at: new Date(now - 20 * 60_000),
        })
        .execute();
      await db()
        .insertInto('transactions')
        .values({
          id: 'tx-meter',
          station_id: S,
          evse_id: 1,
          connector_id: 1,
          charger_transaction_id: '1',
          status: 'active',
          started_at: new Date(now - 20 * 60_000),
          offline: false,
        } as any)
        .execute();
      const sample = (minutesAgo: number, wh: number) =>
        db()
          .insertInto('meter_samples')
          .values({
            station_id: S,
            evse_id: 1,
            connector_id: 1,
            transaction_id: 'tx-meter',
            sampled_at: new Date(now - minutesAgo * 60_000),
            measurand: 'Energy.Active.Import.Register',
            unit: 'Wh',
            value: wh,
            received_at: new Date(),
          } as any)
          .execute();
      await sample(15, 1000);
      await sample(8, 1000);
      await sample(2, 1000);
      await server.app.fieldService.sweep(now);
      const [alert] = await alertsOf(S, 'meter-stuck');
      assert.equal(alert?.status, 'open');
      await sample(0, 1600);
      await server.app.fieldService.sweep(now + 1000);
      assert.equal((await alertsOf(S, 'meter-stuck'))[0]?.status, 'resolved');
    });
  });
}

// The forecast projects an open outage to the end of the month, so its outcome depends on the date: each case runs
// at a fixed instant of the server's clock. Twelve days down is below 97% of a year whatever the date; excluded
// (open-ended, as a flood would be), nothing of it counts, not even the projected rest of the month.
const FORECAST_DATES = [
  ['the first of a month', '2027-03-01T06:00:00Z'],
  ['mid-month', '2027-06-15T12:00:00Z'],
  ['late in a month', '2027-09-28T18:00:00Z'],
  ['the last minute of a year', '2027-12-31T23:59:00Z'],
  ['a leap day', '2028-02-29T12:00:00Z'],
] as const;

for (const backend of BACKENDS) {
  describe(`uptime forecast alerts on ${backend}`, () => {
    const clock = new TestClock(FORECAST_DATES[0][1]);
    let server: TestServer;
    const db = () => server.app.database.db;

    before(async () => {
      server = await startTestServer(backend, { acceptUnknownStations: true }, { clock });
    });
    after(async () => {
      await server.stop();
    });

    for (const [i, [when, at]] of FORECAST_DATES.entries()) {
      it(`raises a forecast below 97% on ${when} and resolves it when the outage is excluded`, async () => {
        clock.set(at);
        const S = `FORECAST-${i}`;
        const started = new Date(clock.now() - 12 * 86400_000);
        await db()
          .insertInto('stations')
          .values({ id: S } as any)
          .execute();
        await db()
          .insertInto('connector_status')
          .values({
            station_id: S,
            evse_id: 1,
            connector_id: 1,
            status: 'faulted',
            error_code: 'InternalError',
            vendor_id: null,
            vendor_error_code: null,
            info: null,
            occurred_at: started,
            received_at: started,
          })
          .execute();
        await server.app.uptime.syncStation(S);
        const [outage] = await server.app.uptime.listOutages({ stationId: S, open: true });
        assert.ok(outage);
        assert.equal(outage.startedAt.toISOString(), started.toISOString());
        const alertOf = () =>
          db()
            .selectFrom('alerts')
            .selectAll()
            .where('station_id', '=', S)
            .where('rule_id', '=', 'uptime-forecast')
            .executeTakeFirst();
        await server.app.fieldService.sweepForecast();
        const alert = await alertOf();
        assert.equal(alert?.status, 'open');
        assert.match(alert!.summary, /below 97%/);
        assert.equal(new Date(alert!.opened_at).toISOString(), new Date(at).toISOString());
        await server.app.uptime.addExclusion(outage.id, { reason: 5, notes: 'flood', by: 'ops' });
        await server.app.fieldService.sweepForecast();
        assert.equal((await alertOf())?.status, 'resolved');
      });
    }
  });
}
