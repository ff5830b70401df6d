// Read-only views of stations and transactions, until the operator API (with authentication and roles)
// replaces them.
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';

export interface ReadRoutesDeps {
  db: Kysely<Database>;
  isConnected: (stationId: string) => boolean;
}

function limitOf(value: unknown): number {
  const n = Number(value ?? 100);
  return Number.isInteger(n) && n > 0 && n <= 1000 ? n : 100;
}

export function registerReadRoutes(app: FastifyInstance, deps: ReadRoutesDeps): void {
  app.get('/api/v1/stations', async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const limit = limitOf(q.limit);
    const offset = Math.max(0, Number(q.offset ?? 0) || 0);
    const [stations, total, connectors] = await Promise.all([
      deps.db.selectFrom('stations').selectAll().orderBy('id').limit(limit).offset(offset).execute(),
      deps.db
        .selectFrom('stations')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow(),
      deps.db
        .selectFrom('connectors')
        .selectAll()
        .orderBy('station_id')
        .orderBy('evse_id')
        .orderBy('connector_id')
        .execute(),
    ]);
    const byStation = new Map<string, typeof connectors>();
    for (const c of connectors) {
      const list = byStation.get(c.station_id) ?? [];
      list.push(c);
      byStation.set(c.station_id, list);
    }
    return {
      total: Number(total.n),
      limit,
      offset,
      items: stations.map((s) => {
        const online = deps.isConnected(s.id);
        return {
          id: s.id,
          protocol: s.protocol,
          online,
          admission: s.admission,
          registrationStatus: s.registration_status,
          vendor: s.vendor,
          model: s.model,
          serialNumber: s.serial_number,
          firmwareVersion: s.firmware_version,
          lastBootAt: s.last_boot_at,
          lastSeenAt: s.last_seen_at,
          connectors: (byStation.get(s.id) ?? []).map((c) => ({
            evseId: c.evse_id,
            connectorId: c.connector_id,
            // A connector of a charger that is not connected is offline, whatever it said last.
            status: online ? c.status : 'offline',
            lastReportedStatus: c.status,
            errorCode: c.error_code,
            vendorErrorCode: c.vendor_error_code,
            statusAt: c.status_at,
          })),
        };
      }),
    };
  });

  app.get('/api/v1/transactions', async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const limit = limitOf(q.limit);
    const offset = Math.max(0, Number(q.offset ?? 0) || 0);
    let query = deps.db.selectFrom('transactions');
    if (q.stationId) query = query.where('station_id', '=', q.stationId);
    if (q.status === 'active' || q.status === 'ended') query = query.where('status', '=', q.status);
    const [rows, total] = await Promise.all([
      query.selectAll().orderBy('created_at', 'desc').orderBy('id').limit(limit).offset(offset).execute(),
      query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return {
      total: Number(total.n),
      limit,
      offset,
      items: rows.map((t) => ({
        id: t.id,
        stationId: t.station_id,
        evseId: t.evse_id,
        connectorId: t.connector_id,
        chargerTransactionId: t.charger_transaction_id,
        status: t.status,
        idToken: t.id_token,
        authStatus: t.auth_status,
        chargingState: t.charging_state,
        startedAt: t.started_at,
        stoppedAt: t.stopped_at,
        meterStartWh: t.meter_start_wh,
        meterStopWh: t.meter_stop_wh,
        energyWh: t.energy_wh,
        stopReason: t.stop_reason,
        offline: t.offline,
      })),
    };
  });
}
