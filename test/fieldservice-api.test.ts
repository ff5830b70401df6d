// Uptime, reports and field service through the HTTP API on both backends: outages with corrections and
// exclusions, NEVI figures, EV-ChART CSVs under /api/v1/reports, work orders created from an outage, updated
// with idempotency keys (a retry replays, a reused key with another body is refused), resolved as vandalism,
// the technician's own view and remote reset on the asset; bad input answered 4xx naming the field.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startTestServer, type TestServer } from './support/backends.ts';
import { apiClient } from './support/api-client.ts';
import { SimulatedStation } from '../src/simulator/station.ts';

const BOOTSTRAP = 'bootstrap-key-for-uptime-tests-0123456789';

const until = async <T>(what: string, check: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
};

for (const backend of BACKENDS) {
  describe(`uptime and field-service API on ${backend}`, () => {
    let server: TestServer;
    let admin: ReturnType<typeof apiClient>;
    let tech: ReturnType<typeof apiClient>;
    let station: SimulatedStation;
    const S = 'API-UP-1';

    before(async () => {
      process.env.OPENCPO_BOOTSTRAP_API_KEY = BOOTSTRAP;
      try {
        server = await startTestServer(backend, { acceptUnknownStations: true });
      } finally {
        delete process.env.OPENCPO_BOOTSTRAP_API_KEY;
      }
      admin = apiClient(server.url, BOOTSTRAP);
      const key = await server.app.access.createApiKey({ name: 'field-tech', role: 'technician' });
      tech = apiClient(server.url, key.key);
      assert.equal(
        (
          await admin.call('PUT', `/api/v1/technicians/${key.id}`, {
            name: 'Tess',
            zones: ['east'],
            skills: ['electrical'],
          })
        ).status,
        200,
      );
      station = new SimulatedStation({
        url: server.wsBase,
        id: S,
        protocol: 'ocpp2.0.1',
        meterIntervalS: 0,
        autoReconnect: false,
      });
      station.on('problem', () => undefined);
      await station.connect();
      await station.boot();
      await station.reportAllStatuses(true);
      assert.equal(
        (await admin.call('PUT', `/api/v1/stations/${S}/zone`, { zone: 'east', siteId: 'east-1' })).status,
        204,
      );
    });
    after(async () => {
      await station.close();
      await server.stop();
    });

    it('lists outages, corrects causes and excludes them, naming bad fields', async () => {
      assert.equal((await apiClient(server.url).get('/api/v1/uptime/outages')).status, 401);
      await station.sendFault(1, 'CX017');
      const outage = await until('an outage through the API', async () => {
        const res = await admin.get(`/api/v1/uptime/outages?stationId=${S}&open=true`);
        return res.body.items?.[0];
      });
      assert.equal(outage.causeCode, 'CX017');
      assert.equal(outage.responsibleParty, 'oem');
      const badCode = await admin.post(`/api/v1/uptime/outages/${outage.id}/cause`, { code: 'drop table', why: 'x' });
      assert.equal(badCode.status, 400);
      assert.match(JSON.stringify(badCode.body), /code/);
      const badReason = await admin.post(`/api/v1/uptime/outages/${outage.id}/exclusions`, { reason: 9 });
      assert.equal(badReason.status, 400);
      assert.match(JSON.stringify(badReason.body), /reason/);
      assert.equal((await tech.post(`/api/v1/uptime/outages/${outage.id}/exclusions`, { reason: 1 })).status, 403);
      const fixed = await tech.post(`/api/v1/uptime/outages/${outage.id}/cause`, {
        code: 'CX002',
        why: 'RCD found tripped',
      });
      assert.equal(fixed.status, 200);
      assert.equal(fixed.body.causeCode, 'CX002');
      const detail = await admin.get(`/api/v1/uptime/outages/${outage.id}`);
      assert.equal(detail.body.corrections[0].why, 'RCD found tripped');
      assert.match(detail.body.corrections[0].by, /field-tech/);
      assert.equal((await admin.get('/api/v1/uptime/outages/999999')).status, 404);

      const badZone = await admin.call('PUT', `/api/v1/uptime/stations/${S}/location`, { timeZone: 'Mars/Olympus' });
      assert.equal(badZone.status, 400);
      assert.match(JSON.stringify(badZone.body), /timeZone/);
      const located = await admin.call('PUT', `/api/v1/uptime/stations/${S}/location`, {
        locationId: 'loc-east',
        timeZone: 'America/Chicago',
      });
      assert.equal(located.status, 204);
      const window = await admin.post('/api/v1/uptime/maintenance-windows', {
        locationId: 'loc-east',
        startsAt: new Date(Date.now() - 3600_000).toISOString(),
        endsAt: new Date(Date.now() + 3600_000).toISOString(),
        notes: 'site electrical work',
      });
      assert.equal(window.status, 201);
      const figure = await admin.get(
        `/api/v1/uptime/ports/${S}/1/1?from=${new Date(Date.now() - 7200_000).toISOString()}&to=${new Date(Date.now()).toISOString()}`,
      );
      assert.equal(figure.status, 200);
      assert.ok(
        figure.body.outages[0].excludedParts.some((p: any) => p.source === 'maintenance_window' && p.reason === 3),
      );

      const timeline = await admin.get(
        `/api/v1/uptime/ports/${S}/1/1/timeline?from=${new Date(Date.now() - 3600_000).toISOString()}&to=${new Date(Date.now() + 1000).toISOString()}`,
      );
      assert.equal(timeline.status, 200);
      assert.ok(
        timeline.body.segments.some((s: any) => s.state === 'down' && s.evidence?.table === 'connector_status'),
      );
    });

    it('runs a work order through the API with idempotency keys and a technician view', async () => {
      const [outage] = (await admin.get(`/api/v1/uptime/outages?stationId=${S}&open=true`)).body.items;
      // The faulted rule opened one automatically and assigned it by zone and skill.
      const list = await until('the automatic work order', async () => {
        const res = await admin.get(`/api/v1/work-orders?stationId=${S}`);
        return res.body.items?.length ? res.body.items : undefined;
      });
      const wo = list[0];
      assert.equal(wo.outageId, outage.id);
      assert.equal(wo.status, 'assigned');
      const mine = await tech.get('/api/v1/technician/work-orders');
      assert.deepEqual(
        mine.body.map((w: any) => w.id),
        [wo.id],
      );

      const move = { status: 'en_route' };
      const first = await tech.call('PATCH', `/api/v1/work-orders/${wo.id}`, move, {
        'idempotency-key': 'fsm-update-0001',
      });
      assert.equal(first.status, 200);
      assert.equal(first.body.status, 'en_route');
      const replay = await tech.call('PATCH', `/api/v1/work-orders/${wo.id}`, move, {
        'idempotency-key': 'fsm-update-0001',
      });
      assert.equal(replay.status, 200);
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(replay.body, first.body);
      const reused = await tech.call(
        'PATCH',
        `/api/v1/work-orders/${wo.id}`,
        { status: 'on_site' },
        { 'idempotency-key': 'fsm-update-0001' },
      );
      assert.equal(reused.status, 422);
      const illegal = await tech.patch(`/api/v1/work-orders/${wo.id}`, { status: 'open' });
      assert.equal(illegal.status, 409);
      const parts = await tech.patch(`/api/v1/work-orders/${wo.id}`, {
        status: 'on_site',
        note: 'contactor welded',
        parts: [{ part: 'contactor', quantity: 1, unitCostMinor: 8_450, currency: 'USD' }],
        attachments: [{ name: 'before.jpg', contentType: 'image/jpeg', url: 'https://files.example.com/before.jpg' }],
      });
      assert.equal(parts.status, 200);
      assert.equal(parts.body.parts.length, 1);
      const badPart = await tech.patch(`/api/v1/work-orders/${wo.id}`, {
        parts: [{ part: 'x', quantity: 0, unitCostMinor: 1, currency: 'USD' }],
      });
      assert.equal(badPart.status, 400);
      assert.match(JSON.stringify(badPart.body), /quantity/);

      // Alerts are routed per role: the faulted rule goes to operators, so a technician's routed list is empty.
      assert.ok((await admin.get(`/api/v1/alerts?stationId=${S}`)).body.total >= 1);
      assert.equal((await tech.get(`/api/v1/alerts?stationId=${S}&forMyRole=true`)).body.total, 0);
      const unlock = await tech.post(`/api/v1/technician/work-orders/${wo.id}/commands/unlock`, {});
      assert.equal(unlock.status, 200);
      assert.equal(unlock.body.status, 'unlocked');

      const asset = await tech.get(`/api/v1/technician/work-orders/${wo.id}/asset`);
      assert.equal(asset.status, 200);
      assert.ok(asset.body.faults.some((f: any) => f.code === 'CX017'));
      const reset = await tech.post(`/api/v1/technician/work-orders/${wo.id}/commands/reset`, { type: 'soft' });
      assert.equal(reset.status, 200);
      assert.equal(reset.body.status, 'accepted');
      const asset2 = await tech.get(`/api/v1/technician/work-orders/${wo.id}/asset`);
      assert.ok(asset2.body.commands.some((c: any) => c.command === 'reset'));

      const resolved = await tech.call(
        'POST',
        `/api/v1/work-orders/${wo.id}/resolve`,
        { causeCode: 'VANDALISM', exclusionReason: 4, notes: 'contactor smashed' },
        { 'idempotency-key': 'fsm-resolve-0001' },
      );
      assert.equal(resolved.status, 200);
      assert.equal(resolved.body.status, 'resolved');
      const again = await tech.call(
        'POST',
        `/api/v1/work-orders/${wo.id}/resolve`,
        { causeCode: 'VANDALISM', exclusionReason: 4, notes: 'contactor smashed' },
        { 'idempotency-key': 'fsm-resolve-0001' },
      );
      assert.equal(again.status, 200, 'the retry is answered, not refused as already resolved');
      const detail = await admin.get(`/api/v1/uptime/outages/${outage.id}`);
      assert.equal(detail.body.outage.causeCode, 'VANDALISM');
      assert.deepEqual(
        detail.body.exclusions.map((e: any) => e.reason),
        [4],
      );
      const history = await admin.get(`/api/v1/work-orders/${wo.id}`);
      assert.deepEqual(
        history.body.events.map((e: any) => e.type),
        ['created', 'status_changed', 'status_changed', 'updated', 'resolved'],
      );
    });

    it('serves NEVI figures, EV-ChART CSVs, the reliability report and SVG charts', async () => {
      const now = new Date();
      const nevi = await admin.get(
        `/api/v1/uptime/nevi?year=${now.getUTCFullYear()}&month=${now.getUTCMonth() + 1}&stationId=${S}`,
      );
      assert.equal(nevi.status, 200);
      assert.ok(nevi.body.ports.length >= 1);
      assert.equal(nevi.body.stations[0].stationId, S);
      const q = `${now.getUTCFullYear()}Q${Math.floor(now.getUTCMonth() / 3) + 1}`;
      const m4 = await admin.get(`/api/v1/reports/nevi/evchart-module4-outages.csv?quarter=${q}`);
      assert.equal(m4.status, 200);
      assert.match(m4.headers.get('content-type') ?? '', /text\/csv/);
      assert.match(
        String(m4.body).split('\n')[0]!,
        /^station_id,port_id,network_provider,outage_id,outage_duration,excluded_outage,excluded_outage_reason,excluded_outage_notes$/,
      );
      assert.equal((await admin.get(`/api/v1/reports/nevi/evchart-module4-outages.csv`)).status, 400);
      assert.equal((await admin.get(`/api/v1/reports/nevi/evchart-module9.csv?quarter=${q}`)).status, 400);
      const from = new Date(now.getTime() - 86400_000).toISOString();
      const to = new Date(now.getTime() + 60_000).toISOString();
      const rel = await admin.get(`/api/v1/reports/reliability?from=${from}&to=${to}&stationId=${S}`);
      assert.equal(rel.status, 200);
      assert.ok(rel.body.outages.count >= 1);
      const svg = await admin.get(`/api/v1/reports/charts/causes.svg?from=${from}&to=${to}`);
      assert.equal(svg.status, 200);
      assert.match(svg.headers.get('content-type') ?? '', /image\/svg\+xml/);
      assert.match(String(svg.body), /<svg/);
    });
  });
}
