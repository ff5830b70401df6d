// EV-ChART exports and the reliability report, on both backends: a quarter of sessions, outages (one split by a
// partial exclusion, one crossing into the next quarter) and work orders with parts; the CSVs have exactly the
// modules' columns and pass a validator written from the EV-ChART rules (DOMAIN.md 1.3); `opencpo report nevi`
// writes the same files from the same database; the reliability figures and SVG charts come out right.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import { BACKENDS, freshPostgresDatabase } from './support/backends.ts';
import { openDatabase, type OpenDatabase } from '../src/storage/database.ts';
import { UptimeService } from '../src/uptime/service.ts';
import { EvChartReports, FILE_NAMES, MODULE_COLUMNS } from '../src/uptime/evchart.ts';
import { reliabilityReport } from '../src/uptime/reliability.ts';
import { causeChart, uptimeChart } from '../src/uptime/charts.ts';

const run = promisify(execFile);

// ---- a validator written from the EV-ChART module rules -------------------------------------------------------

const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const decimal = (precision: number, scale: number) => new RegExp(`^\\d{1,${precision - scale}}(\\.\\d{1,${scale}})?$`);

interface FieldRule {
  required?: boolean;
  kind?: 'datetime' | 'bool' | 'int1to6' | 'caas';
  decimal?: [number, number];
  min?: number;
  max?: number;
  maxLength?: number;
}

const RULES: Record<2 | 3 | 4 | 5, Record<string, FieldRule>> = {
  2: {
    station_id: { required: true, maxLength: 36 },
    port_id: { required: true, maxLength: 36 },
    network_provider: { required: true },
    charger_id: { maxLength: 36 },
    session_id: { required: true, maxLength: 36 },
    connector_id: { maxLength: 36 },
    session_start: { required: true, kind: 'datetime' },
    session_end: { required: true, kind: 'datetime' },
    session_error: { required: true },
    error_other: {},
    energy_kwh: { required: true, decimal: [7, 2], min: 0 },
    power_kw: { required: true, decimal: [7, 2], min: 0 },
    payment_method: { required: true },
    payment_other: {},
  },
  3: {
    station_id: { required: true, maxLength: 36 },
    port_id: { required: true, maxLength: 36 },
    network_provider: { required: true },
    uptime_reporting_start: { required: true, kind: 'datetime' },
    uptime_reporting_end: { required: true, kind: 'datetime' },
    uptime: { required: true, decimal: [5, 2], min: 0, max: 100 },
    total_outage: { required: true, decimal: [8, 2], min: 0 },
    total_outage_excl: { required: true, decimal: [8, 2], min: 0 },
  },
  4: {
    station_id: { required: true, maxLength: 36 },
    port_id: { required: true, maxLength: 36 },
    network_provider: { required: true },
    outage_id: { required: true, kind: 'datetime' },
    outage_duration: { required: true, decimal: [8, 2], min: 0.01 },
    excluded_outage: { required: true, kind: 'bool' },
    excluded_outage_reason: { kind: 'int1to6' },
    excluded_outage_notes: { maxLength: 255 },
  },
  5: {
    station_id: { required: true, maxLength: 36 },
    network_provider: { required: true },
    project_id: {},
    maintenance_report_start: { required: true, kind: 'datetime' },
    maintenance_report_end: { required: true, kind: 'datetime' },
    caas: { kind: 'caas' },
    maintenance_cost_total: { required: true, decimal: [15, 2], min: 0 },
    maintenance_cost_federal: { required: true, decimal: [15, 2], min: 0 },
    maintenance_notes: {},
  },
};

const KEYS: Record<2 | 3 | 4 | 5, string[]> = {
  2: ['station_id', 'port_id', 'session_id'],
  3: ['station_id', 'port_id', 'uptime_reporting_start', 'uptime_reporting_end'],
  4: ['station_id', 'outage_id', 'port_id'],
  5: ['station_id', 'maintenance_report_start'],
};

function validate(module: 2 | 3 | 4 | 5, csv: string): { rows: Record<string, string>[]; errors: string[] } {
  const errors: string[] = [];
  const records: string[][] = parse(csv, { relax_column_count: false });
  const [header, ...body] = records;
  assert.deepEqual(header, [...MODULE_COLUMNS[module]], `module ${module} columns`);
  const rows = body.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i]!])));
  const seen = new Set<string>();
  rows.forEach((row, i) => {
    const at = `module ${module} row ${i + 2}`;
    for (const [field, rule] of Object.entries(RULES[module])) {
      const v = row[field] ?? '';
      if (v === '') {
        if (rule.required) errors.push(`${at}: ${field} is required`);
        continue;
      }
      if (rule.maxLength && v.length > rule.maxLength) errors.push(`${at}: ${field} longer than ${rule.maxLength}`);
      if (rule.kind === 'datetime' && (!DATETIME.test(v) || Number.isNaN(Date.parse(v)))) {
        errors.push(`${at}: ${field} ${v} is not YYYY-MM-DDTHH:MM:SS[.fff]Z`);
      }
      if (rule.kind === 'bool' && v !== 'True' && v !== 'False') errors.push(`${at}: ${field} must be True or False`);
      if (rule.kind === 'caas' && v !== 'TRUE' && v !== 'FALSE') errors.push(`${at}: ${field} must be TRUE or FALSE`);
      if (rule.kind === 'int1to6' && !/^[1-6]$/.test(v)) errors.push(`${at}: ${field} must be an integer 1-6`);
      if (rule.decimal && !decimal(...rule.decimal).test(v))
        errors.push(`${at}: ${field} ${v} exceeds decimal(${rule.decimal})`);
      if (rule.min !== undefined && Number(v) < rule.min) errors.push(`${at}: ${field} below ${rule.min}`);
      if (rule.max !== undefined && Number(v) > rule.max) errors.push(`${at}: ${field} above ${rule.max}`);
    }
    if (module === 2 && Date.parse(row.session_start!) > Date.parse(row.session_end!))
      errors.push(`${at}: start after end`);
    if (module === 3 && Date.parse(row.uptime_reporting_start!) >= Date.parse(row.uptime_reporting_end!)) {
      errors.push(`${at}: reporting start not before end`);
    }
    if (module === 4) {
      if (row.excluded_outage === 'True' && !row.excluded_outage_reason)
        errors.push(`${at}: an excluded outage needs a reason`);
      if (row.excluded_outage === 'False' && row.excluded_outage_reason)
        errors.push(`${at}: a reason without exclusion`);
    }
    if (module === 5 && Number(row.maintenance_cost_federal) > Number(row.maintenance_cost_total)) {
      errors.push(`${at}: federal share above the total`);
    }
    const key = KEYS[module].map((k) => row[k]).join('|');
    if (seen.has(key)) errors.push(`${at}: duplicate key ${key}`);
    seen.add(key);
  });
  return { rows, errors };
}

// ---- the data ----------------------------------------------------------------------------------------------

for (const backend of BACKENDS) {
  describe(`EV-ChART and reliability reports on ${backend}`, () => {
    let database: OpenDatabase | undefined;
    let storage: { data?: string; databaseUrl?: string };
    const cleanups: (() => Promise<void> | void)[] = [];
    let uptime: UptimeService;
    const S = 'REPORT-1';

    const open = async () => {
      database = await openDatabase({ url: storage.databaseUrl, dataDir: storage.data });
      uptime = new UptimeService(database.db);
      return database.db;
    };

    before(async () => {
      if (backend === 'postgres') {
        const fresh = await freshPostgresDatabase();
        storage = { databaseUrl: fresh.url };
        cleanups.push(fresh.drop);
      } else {
        storage = { data: mkdtempSync(join(tmpdir(), 'opencpo-report-')) };
        cleanups.push(() => rmSync(storage.data!, { recursive: true, force: true }));
      }
      const db = await open();
      await db
        .insertInto('stations')
        .values({ id: S } as any)
        .execute();
      const status = (evse: number, at: string, s: string, extra: Record<string, unknown> = {}) =>
        db
          .insertInto('connector_status')
          .values({
            station_id: S,
            evse_id: evse,
            connector_id: 1,
            status: s,
            occurred_at: at,
            received_at: at,
            ...extra,
          } as any)
          .execute();
      await status(1, '2026-01-01T00:00:00Z', 'available');
      await status(2, '2026-01-01T00:00:00Z', 'available');
      // Port 1: a CX002 outage of 600 minutes, the middle 120 excluded as vandalism.
      await status(1, '2026-07-10T00:00:00Z', 'faulted', { error_code: 'GroundFailure', vendor_error_code: 'CX002' });
      await status(1, '2026-07-10T10:00:00Z', 'available');
      // Port 2: an outage from 30 Sep 23:00 into Q4 (60 minutes in Q3).
      await status(2, '2026-09-30T23:00:00Z', 'faulted', { error_code: 'InternalError' });
      await status(2, '2026-10-01T05:00:00Z', 'available');
      // Sessions: one good with power samples, one without energy.
      const tx = (id: string, evse: number, start: string, stop: string, wh: number, type: string | null) =>
        db
          .insertInto('transactions')
          .values({
            id,
            station_id: S,
            evse_id: evse,
            connector_id: 1,
            charger_transaction_id: id,
            status: 'ended',
            started_at: start,
            stopped_at: stop,
            energy_wh: wh,
            id_token: 'TAG',
            id_token_type: type,
            stop_reason: wh > 0 ? 'Local' : 'EVDisconnected',
            offline: false,
          } as any)
          .execute();
      await tx('tx-good', 1, '2026-08-01T10:00:00Z', '2026-08-01T10:30:00Z', 25_123, 'ISO14443');
      await tx('tx-fail', 2, '2026-08-02T10:00:00Z', '2026-08-02T10:02:00Z', 0, null);
      await tx('tx-q2', 2, '2026-06-02T10:00:00Z', '2026-06-02T10:30:00Z', 10_000, 'Central');
      for (const [at, w] of [
        ['2026-08-01T10:05:00Z', 48_000],
        ['2026-08-01T10:10:00Z', 51_500],
      ] as const) {
        await db
          .insertInto('meter_samples')
          .values({
            station_id: S,
            evse_id: 1,
            connector_id: 1,
            transaction_id: 'tx-good',
            sampled_at: at,
            measurand: 'Power.Active.Import',
            unit: 'W',
            value: w,
            received_at: at,
          } as any)
          .execute();
      }
      await uptime.syncStation(S, { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-11-01T00:00:00Z') });
      const [o1] = await uptime.listOutages({ stationId: S, evseId: 1 });
      await uptime.addExclusion(o1!.id, {
        reason: 4,
        startsAt: new Date('2026-07-10T04:00:00Z'),
        endsAt: new Date('2026-07-10T06:00:00Z'),
        notes: 'cable cut, report 9, "quoted", and a comma',
        by: 'ops',
      });
      // Work orders resolved in 2026: parts and labour in USD cents.
      for (const [cost, labor] of [
        [125_000, 30_050],
        [999, 1],
      ]) {
        await db
          .insertInto('work_orders')
          .values({
            station_id: S,
            symptom: 's',
            priority: 'normal',
            sla_due_at: '2026-08-01T00:00:00Z',
            status: 'resolved',
            parts: JSON.stringify([{ part: 'p', quantity: 2, unitCostMinor: cost, currency: 'USD' }]),
            labor_cost_minor: labor,
            resolved_at: '2026-08-01T00:00:00Z',
            updated_at: '2026-08-01T00:00:00Z',
          } as any)
          .execute();
      }
    });
    after(async () => {
      await database?.close();
      for (const c of cleanups.reverse()) await c();
    });

    let files: Record<string, string> = {};

    it('writes the four modules with exactly their columns, passing the EV-ChART rules', async () => {
      const reports = new EvChartReports(database!.db, uptime, { networkProvider: 'opencpo' });
      files = await reports.files('2026Q3', 2026);
      const m2 = validate(2, files[FILE_NAMES[2]]!);
      const m3 = validate(3, files[FILE_NAMES[3]]!);
      const m4 = validate(4, files[FILE_NAMES[4]]!);
      const m5 = validate(5, files[FILE_NAMES[5]]!);
      assert.deepEqual([...m2.errors, ...m3.errors, ...m4.errors, ...m5.errors], []);

      assert.deepEqual(
        m2.rows.map((r) => [r.session_id, r.port_id, r.energy_kwh, r.power_kw, r.session_error, r.payment_method]),
        [
          ['tx-good', '1-1', '25.12', '51.50', 'none', 'membership'],
          ['tx-fail', '2-1', '0.00', '0.00', 'EVDisconnected', 'other'],
        ],
      );
      // Three months per port; September's trailing year for port 1 holds the 600-minute outage, 120 excluded.
      assert.equal(m3.rows.length, 6);
      const sep1 = m3.rows.find((r) => r.port_id === '1-1' && r.uptime_reporting_end === '2026-09-30T23:59:59Z')!;
      assert.equal(sep1.uptime_reporting_start, '2025-10-01T00:00:00Z');
      assert.equal(sep1.total_outage, '600.00');
      assert.equal(sep1.total_outage_excl, '120.00');
      assert.equal(sep1.uptime, (((525600 - 480) / 525600) * 100).toFixed(2));
      // Outages: port 1 split in three (240 + 120 excluded + 240); port 2 clipped to the quarter (60).
      assert.deepEqual(
        m4.rows.map((r) => [r.port_id, r.outage_id, r.outage_duration, r.excluded_outage, r.excluded_outage_reason]),
        [
          ['1-1', '2026-07-10T00:00:00.000Z', '240.00', 'False', ''],
          ['1-1', '2026-07-10T04:00:00.000Z', '120.00', 'True', '4'],
          ['1-1', '2026-07-10T06:00:00.000Z', '240.00', 'False', ''],
          ['2-1', '2026-09-30T23:00:00.000Z', '60.00', 'False', ''],
        ],
      );
      assert.equal(m4.rows[1]!.excluded_outage_notes, 'cable cut, report 9, "quoted", and a comma');
      assert.deepEqual(
        m5.rows.map((r) => [r.maintenance_report_start, r.maintenance_report_end, r.maintenance_cost_total, r.caas]),
        [['2026-01-01T00:00:00Z', '2026-12-31T23:59:59Z', '2820.49', 'FALSE']],
      );
    });

    it('the validator rejects what EV-ChART would', () => {
      const bad = [
        'station_id,port_id,network_provider,outage_id,outage_duration,excluded_outage,excluded_outage_reason,excluded_outage_notes',
        'S,1,p,2026-07-10 00:00:00,0.00,yes,7,',
      ].join('\n');
      const { errors } = validate(4, bad);
      assert.equal(errors.length, 4, errors.join('\n'));
      assert.throws(() => validate(3, 'station_id,port_id\nS,1\n'), /columns/);
    });

    it('`opencpo report nevi` writes the same files from the same database', async () => {
      await database!.close(); // PGlite belongs to one process at a time
      database = undefined;
      const out = mkdtempSync(join(tmpdir(), 'opencpo-evchart-'));
      cleanups.push(() => rmSync(out, { recursive: true, force: true }));
      const args = ['bin/opencpo.js', 'report', 'nevi', '--quarter', '2026Q3', '--year', '2026', '--out', out];
      if (storage.data) args.push('--data', storage.data);
      const { NODE_TEST_CONTEXT: _c, ...env } = process.env;
      await run(process.execPath, args, {
        env: { ...env, DATABASE_URL: storage.databaseUrl ?? '', OPENCPO_NETWORK_PROVIDER: 'opencpo' },
      });
      for (const name of Object.values(FILE_NAMES)) {
        assert.equal(readFileSync(join(out, name), 'utf8'), files[name], name);
      }
      await assert.rejects(
        run(process.execPath, ['bin/opencpo.js', 'report', 'nevi', '--quarter', '2026Q5', '--out', out], { env }),
        /2026Q3/,
      );
      await open();
    });

    it('computes the reliability report and renders its charts as SVG', async () => {
      const window = { from: Date.parse('2026-07-01T00:00:00Z'), to: Date.parse('2026-10-01T00:00:00Z') };
      const report = await reliabilityReport(database!.db, uptime, window);
      assert.equal(report.sessions.total, 2);
      assert.equal(report.sessions.successRate, 0.5);
      assert.equal(report.outages.count, 2);
      assert.equal(report.outages.minutes, 660);
      assert.equal(report.outages.excludedMinutes, 120);
      assert.equal(report.mttrMinutes, 600); // only the outage that ended in the period
      const portMinutes = (2 * (window.to - window.from)) / 60_000;
      assert.equal(report.mtbfMinutes, (portMinutes - 660) / 2);
      assert.deepEqual(report.byCause, [
        { causeCode: 'CX002', outages: 1, minutes: 600 },
        { causeCode: 'OCPP:InternalError', outages: 1, minutes: 60 },
      ]);
      assert.deepEqual(report.byParty, [{ party: 'oem', outages: 2, minutes: 660 }]);
      assert.deepEqual(report.workOrders, { resolved: 2, firstTimeFixes: 2, firstTimeFixRate: 1 });
      const svg = await uptimeChart(
        report.portUptime.map((p) => ({ label: `${p.evseId}-${p.connectorId}`, uptime: p.uptime })),
      );
      assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.match(svg, /1-1/);
      const causes = await causeChart(report.byCause);
      assert.match(causes, /CX002/);
    });
  });
}
