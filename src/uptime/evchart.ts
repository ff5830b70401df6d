// EV-ChART exports (the Joint Office's upload format for NEVI §680.112 data): the quarterly Module 2 (charging
// sessions), Module 3 (uptime, one row per port for each month of the quarter over the trailing twelve months)
// and Module 4 (outages, each outage split where an exclusion starts or ends so the excluded minutes are rows of
// their own), and the annual Module 5 (maintenance cost from work orders). Columns, order, types and formats
// follow the EV-ChART open-source validator and its sample files (see DOMAIN.md 1.3).
import { stringify } from 'csv-stringify/sync';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { UptimeService, type PortUptime } from './service.ts';
import { MINUTE_MS, MINUTES_PER_YEAR, trailingTwelveMonths, type Interval } from './nevi.ts';
import { stationPorts } from './evidence.ts';
import { neutraliseFormula } from '../reports/spreadsheet-cells.ts';

export const MODULE_COLUMNS = {
  2: [
    'station_id',
    'port_id',
    'network_provider',
    'charger_id',
    'session_id',
    'connector_id',
    'session_start',
    'session_end',
    'session_error',
    'error_other',
    'energy_kwh',
    'power_kw',
    'payment_method',
    'payment_other',
  ],
  3: [
    'station_id',
    'port_id',
    'network_provider',
    'uptime_reporting_start',
    'uptime_reporting_end',
    'uptime',
    'total_outage',
    'total_outage_excl',
  ],
  4: [
    'station_id',
    'port_id',
    'network_provider',
    'outage_id',
    'outage_duration',
    'excluded_outage',
    'excluded_outage_reason',
    'excluded_outage_notes',
  ],
  5: [
    'station_id',
    'network_provider',
    'project_id',
    'maintenance_report_start',
    'maintenance_report_end',
    'caas',
    'maintenance_cost_total',
    'maintenance_cost_federal',
    'maintenance_notes',
  ],
} as const;

export const FILE_NAMES = {
  2: 'evchart-module2-sessions.csv',
  3: 'evchart-module3-uptime.csv',
  4: 'evchart-module4-outages.csv',
  5: 'evchart-module5-maintenance.csv',
} as const;

export interface EvChartOptions {
  /** The network provider value EV-ChART knows this network by. */
  networkProvider: string;
  /** How a port is named; the default is "<evse>-<connector>". Must match the id published under §680.116(c). */
  portId?: (evseId: number, connectorId: number) => string;
  stationIds?: string[];
}

export type Row = Record<string, string>;

/** A quarter "2026Q3" as its UTC window and its months. */
export function parseQuarter(quarter: string): { year: number; q: number; window: Interval; months: number[] } {
  const m = /^(\d{4})Q([1-4])$/.exec(quarter);
  if (!m) throw new Error(`quarter must look like 2026Q3, not ${quarter}`);
  const year = Number(m[1]);
  const q = Number(m[2]);
  const first = (q - 1) * 3 + 1;
  return {
    year,
    q,
    window: { from: Date.UTC(year, first - 1, 1), to: Date.UTC(year, first + 2, 1) },
    months: [first, first + 1, first + 2],
  };
}

/** EV-ChART datetime: YYYY-MM-DDTHH:MM:SSZ, with milliseconds only when asked (outage ids must stay unique). */
export function evDateTime(ms: number, withMillis = false): string {
  const iso = new Date(ms).toISOString();
  return withMillis ? iso : `${iso.slice(0, 19)}Z`;
}

/** A decimal with two places, half away from zero, from a non-negative number. */
export function dec2(value: number): string {
  return (Math.round((value + Number.EPSILON) * 100) / 100).toFixed(2);
}

/** Minor units (cents) as a decimal string, exactly. */
export function minorToDecimal(minor: bigint): string {
  const negative = minor < 0n;
  const abs = negative ? -minor : minor;
  const s = `${abs / 100n}.${String(abs % 100n).padStart(2, '0')}`;
  return negative ? `-${s}` : s;
}

export function toCsv(module: 2 | 3 | 4 | 5, rows: Row[]): string {
  const columns = MODULE_COLUMNS[module] as readonly string[];
  // Text a spreadsheet would run as a formula is neutralised (these files are opened in one before upload).
  return stringify(
    rows.map((r) => columns.map((c) => neutraliseFormula(r[c] ?? ''))),
    { header: true, columns: [...columns], record_delimiter: '\n' },
  );
}

const PAYMENT_BY_TOKEN: Record<string, string> = {
  ISO14443: 'membership',
  ISO15693: 'membership',
  KeyCode: 'membership',
  Local: 'membership',
  MacAddress: 'plug-charge',
  eMAID: 'plug-charge',
  Central: 'application',
};

export class EvChartReports {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly uptime: UptimeService,
    private readonly options: EvChartOptions,
  ) {}

  private portId(evseId: number, connectorId: number): string {
    return (this.options.portId ?? ((e, c) => `${e}-${c}`))(evseId, connectorId);
  }

  private async stations(): Promise<string[]> {
    return this.options.stationIds ?? (await this.uptime.knownStations());
  }

  /** Module 2: sessions that started in the quarter and have ended. */
  async module2(quarter: string): Promise<Row[]> {
    const { window } = parseQuarter(quarter);
    const stations = await this.stations();
    if (stations.length === 0) return [];
    const sessions = await this.db
      .selectFrom('transactions')
      .selectAll()
      .where('status', '=', 'ended')
      .where('station_id', 'in', stations)
      .where('started_at', '>=', new Date(window.from))
      .where('started_at', '<', new Date(window.to))
      .orderBy('started_at')
      .orderBy('id')
      .execute();
    const peaks = new Map<string, number>();
    if (sessions.length) {
      const rows = await this.db
        .selectFrom('meter_samples')
        .select(['transaction_id', 'unit', (eb) => eb.fn.max('value').as('peak')])
        .where(
          'transaction_id',
          'in',
          sessions.map((s) => s.id),
        )
        .where('measurand', '=', 'Power.Active.Import')
        .groupBy(['transaction_id', 'unit'])
        .execute();
      for (const r of rows) {
        const kw = r.unit === 'kW' ? Number(r.peak) : Number(r.peak) / 1000;
        peaks.set(String(r.transaction_id), Math.max(peaks.get(String(r.transaction_id)) ?? 0, kw));
      }
    }
    return sessions
      .filter((s) => s.started_at && s.stopped_at)
      .map((s) => {
        const start = new Date(s.started_at!).getTime();
        const end = new Date(s.stopped_at!).getTime();
        const energyKwh = Math.max(0, s.energy_wh ?? 0) / 1000;
        const hours = Math.max(0, end - start) / 3600_000;
        // Peak power from the charger's power samples; without any, the session's mean power (a lower bound).
        const powerKw = peaks.get(s.id) ?? (hours > 0 ? energyKwh / hours : 0);
        const failed = energyKwh <= 0;
        const payment = s.id_token_type ? (PAYMENT_BY_TOKEN[s.id_token_type] ?? 'other') : 'other';
        return {
          station_id: s.station_id,
          port_id: this.portId(s.evse_id, s.connector_id),
          network_provider: this.options.networkProvider,
          charger_id: s.station_id,
          session_id: s.id,
          connector_id: String(s.connector_id),
          session_start: evDateTime(start),
          session_end: evDateTime(end),
          // The stop reason of a session that delivered no energy; "none" for one that did.
          session_error: failed ? (s.stop_reason ?? 'NoEnergy') : 'none',
          error_other: '',
          energy_kwh: dec2(energyKwh),
          power_kw: dec2(powerKw),
          payment_method: payment,
          payment_other: payment === 'other' ? (s.id_token_type ?? 'unknown') : '',
        };
      });
  }

  /** Module 3: per port, for each month of the quarter, NEVI uptime over the trailing twelve months. */
  async module3(quarter: string): Promise<Row[]> {
    const { year, months } = parseQuarter(quarter);
    const rows: Row[] = [];
    for (const stationId of await this.stations()) {
      for (const port of await stationPorts(this.db, stationId)) {
        for (const month of months) {
          const window = trailingTwelveMonths(year, month);
          const figure = await this.uptime.portUptime({ stationId, ...port }, window, MINUTES_PER_YEAR);
          rows.push(
            uptimeRow(figure, this.portId(port.evseId, port.connectorId), this.options.networkProvider, window),
          );
        }
      }
    }
    return rows;
  }

  /** Module 4: outages in the quarter, split at the boundaries of their excluded parts. */
  async module4(quarter: string): Promise<Row[]> {
    const { window } = parseQuarter(quarter);
    const rows: Row[] = [];
    for (const stationId of await this.stations()) {
      for (const port of await stationPorts(this.db, stationId)) {
        const details = await this.uptime.outageDetails({ stationId, ...port }, window);
        const now = this.uptime.clock.now();
        for (const d of details) {
          const span = {
            from: Math.max(d.startedAt.getTime(), window.from),
            to: Math.min(d.endedAt ? d.endedAt.getTime() : now, window.to),
          };
          const cuts = new Set([span.from, span.to]);
          for (const p of d.excludedParts) {
            cuts.add(p.from);
            cuts.add(p.to);
          }
          const points = [...cuts].filter((c) => c >= span.from && c <= span.to).sort((a, b) => a - b);
          for (let i = 0; i + 1 < points.length; i++) {
            const from = points[i]!;
            const to = points[i + 1]!;
            const minutes = (to - from) / MINUTE_MS;
            if (minutes < 0.01) continue; // EV-ChART's minimum duration; shorter slivers are below its precision
            const part = d.excludedParts.find((p) => p.from <= from && p.to >= to);
            rows.push({
              station_id: stationId,
              port_id: this.portId(port.evseId, port.connectorId),
              network_provider: this.options.networkProvider,
              outage_id: evDateTime(from, true),
              outage_duration: dec2(minutes),
              excluded_outage: part ? 'True' : 'False',
              excluded_outage_reason: part ? String(part.reason) : '',
              excluded_outage_notes: part ? (part.notes ?? '').slice(0, 255) : '',
            });
          }
        }
      }
    }
    return rows;
  }

  /** Module 5: the year's maintenance and repair cost per station, from its work orders' parts and labour. */
  async module5(year: number): Promise<Row[]> {
    const from = new Date(Date.UTC(year, 0, 1));
    const to = new Date(Date.UTC(year + 1, 0, 1));
    const orders = await this.db
      .selectFrom('work_orders')
      .select(['station_id', 'parts', 'labor_cost_minor', 'currency'])
      .where('resolved_at', '>=', from)
      .where('resolved_at', '<', to)
      .execute();
    const cost = new Map<string, bigint>();
    for (const o of orders) {
      if (o.currency !== 'USD') continue; // EV-ChART reports dollars
      let total = BigInt(o.labor_cost_minor);
      for (const p of o.parts) total += BigInt(p.unitCostMinor) * BigInt(p.quantity);
      cost.set(o.station_id, (cost.get(o.station_id) ?? 0n) + total);
    }
    return (await this.stations()).map((stationId) => ({
      station_id: stationId,
      network_provider: this.options.networkProvider,
      project_id: '',
      maintenance_report_start: evDateTime(from.getTime()),
      maintenance_report_end: evDateTime(to.getTime() - 1000),
      caas: 'FALSE',
      maintenance_cost_total: minorToDecimal(cost.get(stationId) ?? 0n),
      // The federal share is not tracked per work order; 0.00 until it is entered.
      maintenance_cost_federal: '0.00',
      maintenance_notes: 'parts and labour of work orders resolved in the year',
    }));
  }

  /** The files of a quarter (and of a year, when given), as name → CSV text. */
  async files(quarter: string, year?: number): Promise<Record<string, string>> {
    const out: Record<string, string> = {
      [FILE_NAMES[2]]: toCsv(2, await this.module2(quarter)),
      [FILE_NAMES[3]]: toCsv(3, await this.module3(quarter)),
      [FILE_NAMES[4]]: toCsv(4, await this.module4(quarter)),
    };
    if (year !== undefined) out[FILE_NAMES[5]] = toCsv(5, await this.module5(year));
    return out;
  }
}

function uptimeRow(figure: PortUptime, portId: string, networkProvider: string, window: Interval): Row {
  return {
    station_id: figure.stationId,
    port_id: portId,
    network_provider: networkProvider,
    uptime_reporting_start: evDateTime(window.from),
    uptime_reporting_end: evDateTime(window.to - 1000),
    // A trailing year with leap day can hold more outage than the rule's 525600 minutes; EV-ChART takes 0–100.
    uptime: dec2(Math.min(100, Math.max(0, figure.uptime))),
    total_outage: dec2(figure.outageMinutes),
    total_outage_excl: dec2(figure.excludedMinutes),
  };
}
