// NEVI uptime from evidence: the pure timeline (grace period, boot loops, failed sessions, causes and their
// evidence) and, on both storage backends, a synthetic year of port history with known outages, some crossing
// month and year boundaries, some excluded in part, by hand, by a maintenance window or by opening hours,
// whose monthly trailing-twelve-month figures must match values computed by hand to 0.01.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, openTestDatabase } from './support/backends.ts';
import type { OpenDatabase } from '../src/storage/database.ts';
import { UptimeService } from '../src/uptime/service.ts';
import { analysePort, DEFAULT_TIMELINE_OPTIONS, type Evidence } from '../src/uptime/timeline.ts';
import { closedIntervals, monthWindow, neviUptime, trailingTwelveMonths } from '../src/uptime/nevi.ts';
import { uptimeSettingsFromEnv } from '../src/uptime/options.ts';

const t = (iso: string) => new Date(iso).getTime();
const near = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 0.01, `${what}: ${actual} should be ${expected} (to 0.01)`);

describe('port timeline (pure)', () => {
  let n = 0;
  const ref = (table: 'connector_status' | 'station_events' | 'transactions' = 'connector_status') => ({
    table,
    id: String(++n),
  });
  const status = (at: string, s: string, extra: Partial<Extract<Evidence, { kind: 'status' }>> = {}): Evidence => ({
    kind: 'status',
    ref: ref(),
    at: t(at),
    evseId: 1,
    connectorId: 1,
    status: s,
    ...extra,
  });
  const options = { ...DEFAULT_TIMELINE_OPTIONS, now: t('2026-01-01T00:00:00Z') };
  const port = { evseId: 1, connectorId: 1 };

  it('is gap-free, unknown before the first report, and each change carries its evidence', () => {
    const ev = [
      status('2025-01-01T01:00:00Z', 'available'),
      status('2025-01-01T02:00:00Z', 'faulted', { errorCode: 'GroundFailure', vendorErrorCode: 'CX002' }),
      status('2025-01-01T03:00:00Z', 'available'),
    ];
    const { segments, outages } = analysePort(ev, port, t('2025-01-01T00:00:00Z'), t('2025-01-02T00:00:00Z'), options);
    assert.deepEqual(
      segments.map((s) => [new Date(s.from).toISOString().slice(11, 16), s.state, s.evidence?.id ?? null]),
      [
        ['00:00', 'unknown', null],
        ['01:00', 'up', ev[0]!.ref.id],
        ['02:00', 'down', ev[1]!.ref.id],
        ['03:00', 'up', ev[2]!.ref.id],
      ],
    );
    for (let i = 1; i < segments.length; i++) assert.equal(segments[i]!.from, segments[i - 1]!.to);
    assert.equal(outages.length, 1);
    assert.equal(outages[0]!.causeCode, 'CX002');
    assert.equal(outages[0]!.causeSource, 'charger_mrec');
    assert.equal(outages[0]!.party, 'oem');
    assert.equal(outages[0]!.to - outages[0]!.from, 3600_000);
  });

  it('ignores connection loss within the grace period and counts a longer one from the loss', () => {
    const ev: Evidence[] = [
      status('2025-01-01T00:00:00Z', 'available'),
      { kind: 'connection', ref: ref('station_events'), at: t('2025-01-01T01:00:00Z'), connected: false },
      { kind: 'connection', ref: ref('station_events'), at: t('2025-01-01T01:04:00Z'), connected: true },
      { kind: 'connection', ref: ref('station_events'), at: t('2025-01-01T05:00:00Z'), connected: false },
      { kind: 'connection', ref: ref('station_events'), at: t('2025-01-01T05:30:00Z'), connected: true },
    ];
    const { outages } = analysePort(ev, port, t('2025-01-01T00:00:00Z'), t('2025-01-02T00:00:00Z'), options);
    assert.equal(outages.length, 1);
    assert.equal(new Date(outages[0]!.from).toISOString(), '2025-01-01T05:00:00.000Z');
    assert.equal(outages[0]!.causeCode, 'OFFLINE');
    assert.equal(outages[0]!.party, 'network');
    // A disconnect still inside the grace period is not downtime yet.
    const pending = analysePort(
      [ev[0]!, { kind: 'connection', ref: ref('station_events'), at: t('2025-06-01T00:00:00Z'), connected: false }],
      port,
      t('2025-05-31T00:00:00Z'),
      t('2025-06-01T00:02:00Z'),
      { ...options, now: t('2025-06-01T00:02:00Z') },
    );
    assert.equal(pending.outages.length, 0);
  });

  it('detects a boot loop and a run of failed sessions, and takes a 2.0.1 techCode as the cause', () => {
    const boots: Evidence[] = ['10:00', '10:05', '10:09'].map((hm) => ({
      kind: 'boot',
      ref: ref('station_events'),
      at: t(`2025-04-01T${hm}:00Z`),
    }));
    const sessions: Evidence[] = [
      ['08:00', false],
      ['09:00', false],
      ['10:00', false],
      ['12:00', true],
    ].map(([hm, ok]) => ({
      kind: 'session',
      ref: ref('transactions'),
      at: t(`2025-05-01T${hm}:00Z`),
      evseId: 1,
      connectorId: 1,
      success: ok as boolean,
    }));
    const v201: Evidence[] = [
      {
        kind: 'fault',
        ref: ref('station_events'),
        at: t('2025-06-01T00:00:00Z'),
        evseId: 1,
        connectorId: 1,
        code: 'CX026',
        errorCode: 'Problem',
        cleared: false,
      },
      status('2025-06-01T00:00:01Z', 'faulted'),
      status('2025-06-01T01:00:01Z', 'available'),
    ];
    const { outages } = analysePort(
      [status('2025-03-01T00:00:00Z', 'available'), ...boots, ...sessions, ...v201],
      port,
      t('2025-03-01T00:00:00Z'),
      t('2025-07-01T00:00:00Z'),
      options,
    );
    assert.deepEqual(
      outages.map((o) => [o.causeCode, (o.to - o.from) / 60_000]),
      [
        ['BOOT_LOOP', 9],
        ['FAILED_SESSIONS', 240],
        ['CX026', 60],
      ],
    );
    assert.ok(
      outages[2]!.evidence.some((e) => e.id === v201[0]!.ref.id),
      'the NotifyEvent is part of the evidence',
    );
  });

  it('takes the grace period and loop thresholds from the environment, naming a bad variable', () => {
    const settings = uptimeSettingsFromEnv({ OPENCPO_OFFLINE_GRACE_S: '60', OPENCPO_BOOT_LOOP_COUNT: '5' });
    assert.equal(settings.uptime.timeline?.offlineGraceMs, 60_000);
    assert.equal(settings.uptime.timeline?.bootLoopCount, 5);
    assert.equal(settings.reopenWindowMs, 168 * 3600_000);
    assert.throws(() => uptimeSettingsFromEnv({ OPENCPO_OFFLINE_GRACE_S: '-1' }), /OPENCPO_OFFLINE_GRACE_S/);
    // With a one-minute grace, the four-minute drop that the default ignores is downtime.
    const ev: Evidence[] = [
      status('2025-01-01T00:00:00Z', 'available'),
      { kind: 'connection', ref: ref('station_events'), at: t('2025-01-01T01:00:00Z'), connected: false },
      { kind: 'connection', ref: ref('station_events'), at: t('2025-01-01T01:04:00Z'), connected: true },
    ];
    const strict = { ...DEFAULT_TIMELINE_OPTIONS, ...settings.uptime.timeline, now: options.now };
    assert.equal(analysePort(ev, port, t('2025-01-01T00:00:00Z'), t('2025-01-02T00:00:00Z'), strict).outages.length, 1);
    assert.equal(
      analysePort(ev, port, t('2025-01-01T00:00:00Z'), t('2025-01-02T00:00:00Z'), options).outages.length,
      0,
    );
  });

  it('derives closed intervals from opening hours in the local time zone, across daylight saving', () => {
    const spans = [1, 2, 3, 4, 5, 6, 7].map((day) => ({ day, open: '06:00', close: '22:00' }));
    const winter = closedIntervals(spans, 'America/New_York', {
      from: t('2025-01-15T00:00:00Z'),
      to: t('2025-01-15T12:00:00Z'),
    });
    assert.deepEqual(winter, [{ from: t('2025-01-15T03:00:00Z'), to: t('2025-01-15T11:00:00Z') }]);
    const summer = closedIntervals(spans, 'America/New_York', {
      from: t('2025-07-10T00:00:00Z'),
      to: t('2025-07-10T12:00:00Z'),
    });
    assert.deepEqual(summer, [{ from: t('2025-07-10T02:00:00Z'), to: t('2025-07-10T10:00:00Z') }]);
  });
});

for (const backend of BACKENDS) {
  describe(`a synthetic year of port history on ${backend}`, () => {
    let database: OpenDatabase;
    let uptime: UptimeService;
    const S = 'YEAR-1';
    const H = 'HOURS-1';

    before(async () => {
      database = await openTestDatabase(backend);
      uptime = new UptimeService(database.db);
      const db = database.db;
      await db
        .insertInto('stations')
        .values([{ id: S }, { id: H }] as any)
        .execute();
      let tx = 0;
      const status = async (
        station: string,
        evse: number,
        at: string,
        s: string,
        extra: { error_code?: string; vendor_id?: string; vendor_error_code?: string } = {},
      ) =>
        db
          .insertInto('connector_status')
          .values({
            station_id: station,
            evse_id: evse,
            connector_id: evse === 0 ? 0 : 1,
            status: s,
            error_code: extra.error_code ?? null,
            vendor_id: extra.vendor_id ?? null,
            vendor_error_code: extra.vendor_error_code ?? null,
            info: null,
            occurred_at: at,
            received_at: at,
          })
          .execute();
      const event = async (station: string, kind: string, at: string, extra: Record<string, unknown> = {}) =>
        db
          .insertInto('station_events')
          .values({
            station_id: station,
            kind,
            occurred_at: at,
            received_at: at,
            payload: JSON.stringify({}),
            ...extra,
          } as any)
          .execute();
      const session = async (
        evse: number,
        at: string,
        energyWh: number,
        flags: { auth_status?: string; id_unknown?: boolean } = {},
      ) =>
        db
          .insertInto('transactions')
          .values({
            id: `T${++tx}`,
            station_id: S,
            evse_id: evse,
            connector_id: 1,
            charger_transaction_id: String(tx),
            status: 'ended',
            started_at: at,
            stopped_at: new Date(t(at) + 600_000),
            energy_wh: energyWh,
            offline: false,
            ...flags,
          } as any)
          .execute();

      await status(S, 1, '2025-01-01T00:00:00Z', 'available');
      await status(S, 2, '2025-01-01T00:00:00Z', 'available');
      // O1, port 1: 1.6 ground failure with its ChargeX code, across the January/February boundary: 180 min.
      await status(S, 1, '2025-01-31T23:00:00Z', 'faulted', {
        error_code: 'GroundFailure',
        vendor_id: 'https://chargex.inl.gov',
        vendor_error_code: 'CX002',
      });
      await status(S, 1, '2025-02-01T02:00:00Z', 'available');
      // O2, port 1: unavailable 270 min, the first 120 inside a scheduled maintenance window.
      await status(S, 1, '2025-03-10T10:00:00Z', 'unavailable');
      await status(S, 1, '2025-03-10T14:30:00Z', 'available');
      // Boot loop, both ports: 9 min.
      for (const hm of ['10:00', '10:05', '10:09']) await event(S, 'boot', `2025-04-01T${hm}:00Z`);
      // Port 2: three sessions without energy, then one that charges: 240 min.
      await session(2, '2025-05-01T08:00:00Z', 0);
      await session(2, '2025-05-01T09:00:00Z', 0);
      await session(2, '2025-05-01T10:00:00Z', 0);
      await session(2, '2025-05-01T12:00:00Z', 5000);
      // Port 1: sessions that were no attempt to charge (a token the CSMS refused, a stop of a transaction it
      // never issued) deliver nothing, and say nothing of the port: no failed-sessions outage.
      await session(1, '2025-05-02T08:00:00Z', 0, { auth_status: 'invalid' });
      await session(1, '2025-05-02T08:10:00Z', 0, { auth_status: 'blocked' });
      await session(1, '2025-05-02T08:20:00Z', 0, { auth_status: 'unknown' });
      await session(1, '2025-05-02T08:30:00Z', 0, { id_unknown: true });
      // O3, both ports: offline 720 min; a 3-minute drop later is within the grace period.
      await event(S, 'connection', '2025-06-15T08:00:00Z', { info: 'disconnected' });
      await event(S, 'connection', '2025-06-15T20:00:00Z', { info: 'connected' });
      await event(S, 'connection', '2025-07-01T00:00:00Z', { info: 'disconnected' });
      await event(S, 'connection', '2025-07-01T00:03:00Z', { info: 'connected' });
      // O5, port 1: a utility outage of 2880 min, excluded whole (reason 1); cause from the 1.6 error code.
      await status(S, 1, '2025-09-05T00:00:00Z', 'faulted', { error_code: 'PowerSwitchFailure' });
      await status(S, 1, '2025-09-07T00:00:00Z', 'available');
      // O4, port 1: a 2.0.1 fault (NotifyEvent techCode CX026) across the new year: 360 min, 120 of them excluded.
      await event(S, 'fault', '2025-12-31T21:59:59Z', {
        evse_id: 1,
        connector_id: 1,
        vendor_error_code: 'CX026',
        error_code: 'Problem',
        cleared: false,
      });
      await status(S, 1, '2025-12-31T22:00:00Z', 'faulted');
      await status(S, 1, '2026-01-01T04:00:00Z', 'available');

      // A station open 06:00–22:00 New York time, with one winter and one summer night outage of 720 min each.
      await status(H, 1, '2025-01-01T00:00:00Z', 'available');
      await status(H, 1, '2025-01-15T00:00:00Z', 'faulted', { error_code: 'InternalError' });
      await status(H, 1, '2025-01-15T12:00:00Z', 'available');
      await status(H, 1, '2025-07-10T00:00:00Z', 'faulted', { error_code: 'InternalError' });
      await status(H, 1, '2025-07-10T12:00:00Z', 'available');

      const range = { from: new Date('2025-01-01T00:00:00Z'), to: new Date('2026-03-01T00:00:00Z') };
      await uptime.syncStation(S, range);
      await uptime.syncStation(H, range);
      // Running it again changes nothing: outages are keyed by port and start.
      assert.deepEqual(await uptime.syncStation(S, range), []);

      await uptime.addMaintenanceWindow({
        stationId: S,
        startsAt: new Date('2025-03-10T10:00:00Z'),
        endsAt: new Date('2025-03-10T12:00:00Z'),
        notes: 'firmware upgrade, announced',
        by: 'test',
      });
      const outages = await uptime.listOutages({ stationId: S, evseId: 1 });
      const o5 = outages.find((o) => o.startedAt.toISOString() === '2025-09-05T00:00:00.000Z')!;
      await uptime.addExclusion(o5.id, {
        reason: 1,
        notes: 'utility ticket 4411',
        attachments: [{ name: 'ticket.pdf', contentType: 'application/pdf', url: 'file:///evidence/ticket.pdf' }],
        by: 'ops@example.com',
      });
      const o4 = outages.find((o) => o.startedAt.toISOString() === '2025-12-31T22:00:00.000Z')!;
      await uptime.addExclusion(o4.id, {
        reason: 4,
        startsAt: new Date('2026-01-01T00:00:00Z'),
        endsAt: new Date('2026-01-01T02:00:00Z'),
        notes: 'cable cut, police report 77',
        by: 'ops@example.com',
      });
      await uptime.setOpeningHours({
        stationId: H,
        timeZone: 'America/New_York',
        spans: [1, 2, 3, 4, 5, 6, 7].map((day) => ({ day, open: '06:00', close: '22:00' })),
        by: 'test',
      });
    });
    after(async () => {
      await database?.close();
    });

    it('derives the known outages with their causes and responsible parties', async () => {
      const p1 = await uptime.listOutages({ stationId: S, evseId: 1 });
      assert.deepEqual(
        p1.map((o) => [
          o.startedAt.toISOString(),
          o.endedAt?.toISOString(),
          o.causeCode,
          o.causeSource,
          o.responsibleParty,
        ]),
        [
          ['2025-01-31T23:00:00.000Z', '2025-02-01T02:00:00.000Z', 'CX002', 'charger_mrec', 'oem'],
          ['2025-03-10T10:00:00.000Z', '2025-03-10T14:30:00.000Z', 'UNAVAILABLE', 'situation', 'cpo'],
          ['2025-04-01T10:00:00.000Z', '2025-04-01T10:09:00.000Z', 'BOOT_LOOP', 'situation', 'oem'],
          ['2025-06-15T08:00:00.000Z', '2025-06-15T20:00:00.000Z', 'OFFLINE', 'situation', 'network'],
          ['2025-09-05T00:00:00.000Z', '2025-09-07T00:00:00.000Z', 'OCPP:PowerSwitchFailure', 'ocpp_error', 'oem'],
          ['2025-12-31T22:00:00.000Z', '2026-01-01T04:00:00.000Z', 'CX026', 'charger_mrec', 'cpo'],
        ],
      );
      const p2 = await uptime.listOutages({ stationId: S, evseId: 2 });
      assert.deepEqual(
        p2.map((o) => o.causeCode),
        ['BOOT_LOOP', 'FAILED_SESSIONS', 'OFFLINE'],
      );
    });

    it('computes monthly NEVI uptime over the trailing twelve months to 0.01', async () => {
      const port1 = { stationId: S, evseId: 1, connectorId: 1 };
      const port2 = { stationId: S, evseId: 2, connectorId: 1 };
      // Dec 2025: 180 + 270 + 9 + 720 + 2880 + 120 (until midnight) = 4179; excluded 120 + 2880 = 3000.
      const dec = await uptime.portUptime(port1, trailingTwelveMonths(2025, 12), 525600);
      near(dec.outageMinutes, 4179, 'Dec T_outage');
      near(dec.excludedMinutes, 3000, 'Dec T_excluded');
      near(dec.uptime, ((525600 - 1179) / 525600) * 100, 'Dec uptime');
      near(dec.uptime, 99.78, 'Dec uptime (rounded by hand)');
      // Jan 2026: the window starts 1 Feb 2025, so O1 counts 120 min; O4 counts whole (360) with 120 excluded.
      const jan = await uptime.portUptime(port1, trailingTwelveMonths(2026, 1), 525600);
      near(jan.outageMinutes, 120 + 270 + 9 + 720 + 2880 + 360, 'Jan T_outage');
      near(jan.excludedMinutes, 120 + 2880 + 120, 'Jan T_excluded');
      near(jan.uptime, ((525600 - 1239) / 525600) * 100, 'Jan uptime');
      // Feb 2026: O1 has left the window.
      const feb = await uptime.portUptime(port1, trailingTwelveMonths(2026, 2), 525600);
      near(feb.outageMinutes, 270 + 9 + 720 + 2880 + 360, 'Feb T_outage');
      near(feb.uptime, ((525600 - 1119) / 525600) * 100, 'Feb uptime');
      // Port 2: boot loop 9 + failed sessions 240 + offline 720.
      const dec2 = await uptime.portUptime(port2, trailingTwelveMonths(2025, 12), 525600);
      near(dec2.outageMinutes, 969, 'port 2 T_outage');
      near(dec2.uptime, ((525600 - 969) / 525600) * 100, 'port 2 uptime');
      // Any period: January 2026 alone, divided by its own 44640 minutes.
      const month = await uptime.portUptime(port1, monthWindow(2026, 1));
      near(month.outageMinutes, 240, 'January outage');
      near(month.uptime, ((44640 - 120) / 44640) * 100, 'January uptime');
      // The monthly list covers every port of the station and flags none below 97%.
      const all = await uptime.monthlyUptime(2025, 12, [S]);
      assert.equal(all.length, 2);
      assert.ok(all.every((p) => !p.belowTarget));
    });

    it('applies published opening hours in the station time zone', async () => {
      const hours = await uptime.portUptime(
        { stationId: H, evseId: 1, connectorId: 1 },
        trailingTwelveMonths(2025, 12),
        525600,
      );
      near(hours.outageMinutes, 1440, 'hours T_outage');
      near(hours.excludedMinutes, 960, 'hours T_excluded (22:00–06:00 local, twice)');
      near(hours.uptime, neviUptime(1440, 960), 'hours uptime');
    });

    it('drills down from a figure to the outages and their excluded parts', async () => {
      const details = await uptime.outageDetails(
        { stationId: S, evseId: 1, connectorId: 1 },
        trailingTwelveMonths(2026, 1),
      );
      const o2 = details.find((d) => d.causeCode === 'UNAVAILABLE')!;
      assert.deepEqual(
        o2.excludedParts.map((p) => [p.reason, p.source, (p.to - p.from) / 60_000]),
        [[3, 'maintenance_window', 120]],
      );
      const o4 = details.find((d) => d.causeCode === 'CX026')!;
      assert.deepEqual(
        o4.excludedParts.map((p) => [p.reason, p.source, new Date(p.from).toISOString()]),
        [[4, 'exclusion', '2026-01-01T00:00:00.000Z']],
      );
      const sum = details.reduce((s, d) => s + d.minutes - d.excludedMinutes, 0);
      near(sum, 1239, 'drill-down adds up to the figure');
    });

    it('flags a port below 97% and keeps every cause correction with who and why', async () => {
      const p2 = (await uptime.listOutages({ stationId: S, evseId: 2 })).find(
        (o) => o.causeCode === 'FAILED_SESSIONS',
      )!;
      const corrected = await uptime.correctCause(p2.id, {
        code: 'VEHICLE',
        by: 'alice',
        why: 'one fleet vehicle model',
      });
      assert.equal(corrected.causeCode, 'VEHICLE');
      assert.equal(corrected.responsibleParty, 'ev');
      assert.equal(corrected.derivedCauseCode, 'FAILED_SESSIONS');
      await uptime.correctCause(p2.id, { code: 'CX001', by: 'bob', why: 'lock failure seen on site' });
      const history = await uptime.corrections(p2.id);
      assert.deepEqual(
        history.map((h) => [h.previous_code, h.new_code, h.corrected_by, h.why]),
        [
          ['FAILED_SESSIONS', 'VEHICLE', 'alice', 'one fleet vehicle model'],
          ['VEHICLE', 'CX001', 'bob', 'lock failure seen on site'],
        ],
      );
      // A re-derivation keeps the corrected cause.
      await uptime.syncStation(S, { from: new Date('2025-01-01T00:00:00Z'), to: new Date('2026-03-01T00:00:00Z') });
      assert.equal((await uptime.getOutage(p2.id))!.causeCode, 'CX001');
      await assert.rejects(uptime.correctCause(p2.id, { code: 'NOPE', by: 'x', why: 'y' }), /unknown cause code/);
      // One short month with a long outage is below target.
      const short = await uptime.portUptime(
        { stationId: S, evseId: 1, connectorId: 1 },
        { from: t('2025-09-01T00:00:00Z'), to: t('2025-09-10T00:00:00Z') },
      );
      assert.equal(short.belowTarget, false, 'the utility outage is excluded');
      const raw = await uptime.portUptime(
        { stationId: S, evseId: 2, connectorId: 1 },
        { from: t('2025-05-01T00:00:00Z'), to: t('2025-05-02T00:00:00Z') },
      );
      near(raw.uptime, ((1440 - 240) / 1440) * 100, 'one day with 240 min down');
      assert.equal(raw.belowTarget, true);
    });
  });
}
