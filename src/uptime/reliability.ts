// The reliability report over a period: session success rate, mean time to repair, mean time between failures,
// outage minutes by cause and by responsible party, and the first-time fix rate of work orders. Figures are
// built from the same outages and sessions as the NEVI figures, so they reconcile.
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { UptimeService, type OutageDetail } from './service.ts';
import { stationPorts } from './evidence.ts';
import { MINUTE_MS, type Interval } from './nevi.ts';

export interface ReliabilityReport {
  from: string;
  to: string;
  stations: number;
  ports: number;
  sessions: { total: number; successful: number; successRate: number | null };
  outages: { count: number; minutes: number; excludedMinutes: number };
  /** Mean minutes from an outage's start to its end, over outages that ended in the period. */
  mttrMinutes: number | null;
  /** Port-minutes of operation per outage. */
  mtbfMinutes: number | null;
  byCause: { causeCode: string; outages: number; minutes: number }[];
  byParty: { party: string; outages: number; minutes: number }[];
  workOrders: { resolved: number; firstTimeFixes: number; firstTimeFixRate: number | null };
  /** Per-port details for charts and drill-down. */
  portUptime: { stationId: string; evseId: number; connectorId: number; uptime: number; outageMinutes: number }[];
}

export async function reliabilityReport(
  db: Kysely<Database>,
  uptime: UptimeService,
  window: Interval,
  stationIds?: string[],
): Promise<ReliabilityReport> {
  const stations = stationIds ?? (await uptime.knownStations());
  const details: OutageDetail[] = [];
  const portUptime: ReliabilityReport['portUptime'] = [];
  let ports = 0;
  for (const stationId of stations) {
    for (const port of await stationPorts(db, stationId)) {
      ports++;
      const figure = await uptime.portUptime({ stationId, ...port }, window);
      portUptime.push({ stationId, ...port, uptime: figure.uptime, outageMinutes: figure.outageMinutes });
      details.push(...(await uptime.outageDetails({ stationId, ...port }, window)));
    }
  }

  let sessionsTotal = 0;
  let sessionsOk = 0;
  if (stations.length) {
    const rows = await db
      .selectFrom('transactions')
      .select(['energy_wh'])
      .where('status', '=', 'ended')
      .where('station_id', 'in', stations)
      .where('started_at', '>=', new Date(window.from))
      .where('started_at', '<', new Date(window.to))
      .execute();
    sessionsTotal = rows.length;
    sessionsOk = rows.filter((r) => (r.energy_wh ?? 0) > 0).length;
  }

  const minutes = details.reduce((s, d) => s + d.minutes, 0);
  const excluded = details.reduce((s, d) => s + d.excludedMinutes, 0);
  const ended = details.filter((d) => d.endedAt && d.endedAt.getTime() <= window.to);
  const mttr = ended.length
    ? ended.reduce((s, d) => s + (d.endedAt!.getTime() - d.startedAt.getTime()), 0) / ended.length / MINUTE_MS
    : null;
  const portMinutes = (ports * (window.to - window.from)) / MINUTE_MS;
  const group = (key: (d: OutageDetail) => string) => {
    const map = new Map<string, { outages: number; minutes: number }>();
    for (const d of details) {
      const g = map.get(key(d)) ?? { outages: 0, minutes: 0 };
      g.outages++;
      g.minutes += d.minutes;
      map.set(key(d), g);
    }
    return [...map.entries()].sort((a, b) => b[1].minutes - a[1].minutes);
  };

  let resolved = 0;
  let firstTime = 0;
  if (stations.length) {
    const orders = await db
      .selectFrom('work_orders')
      .select(['status', 'reopened_count'])
      .where('station_id', 'in', stations)
      .where('status', 'in', ['resolved', 'verified'])
      .where('resolved_at', '>=', new Date(window.from))
      .where('resolved_at', '<', new Date(window.to))
      .execute();
    resolved = orders.length;
    firstTime = orders.filter((o) => o.reopened_count === 0).length;
  }

  return {
    from: new Date(window.from).toISOString(),
    to: new Date(window.to).toISOString(),
    stations: stations.length,
    ports,
    sessions: {
      total: sessionsTotal,
      successful: sessionsOk,
      successRate: sessionsTotal ? sessionsOk / sessionsTotal : null,
    },
    outages: { count: details.length, minutes, excludedMinutes: excluded },
    mttrMinutes: mttr,
    mtbfMinutes: details.length ? (portMinutes - minutes) / details.length : null,
    byCause: group((d) => d.causeCode).map(([causeCode, g]) => ({ causeCode, ...g })),
    byParty: group((d) => d.responsibleParty).map(([party, g]) => ({ party, ...g })),
    workOrders: { resolved, firstTimeFixes: firstTime, firstTimeFixRate: resolved ? firstTime / resolved : null },
    portUptime,
  };
}
