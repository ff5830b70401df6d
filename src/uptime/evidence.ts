// Loads the evidence of one station over a time range from the tables the OCPP core writes: the connector
// status timeline, charger events (faults, NotifyEvent, connection loss and return, boots) and transactions.
// Also the state just before the range, so that a port already faulted when the range begins is seen as such.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { Evidence, PortAddress } from './timeline.ts';

export async function loadStationEvidence(
  db: Kysely<Database>,
  stationId: string,
  from: Date,
  to: Date,
  lookbackMs: number,
): Promise<Evidence[]> {
  const evidence: Evidence[] = [];

  const statusColumns = [
    'id',
    'evse_id',
    'connector_id',
    'status',
    'error_code',
    'vendor_id',
    'vendor_error_code',
    'occurred_at',
  ] as const;
  const statuses = await db
    .selectFrom('connector_status')
    .select(statusColumns)
    .where('station_id', '=', stationId)
    .where('occurred_at', '>=', from)
    .where('occurred_at', '<', to)
    .execute();
  // The status each port was in when the range starts: the last report before it.
  const before = await sql<{
    id: string;
    evse_id: number;
    connector_id: number;
    status: string;
    error_code: string | null;
    vendor_id: string | null;
    vendor_error_code: string | null;
    occurred_at: Date;
  }>`SELECT DISTINCT ON (evse_id, connector_id) id, evse_id, connector_id, status, error_code, vendor_id,
        vendor_error_code, occurred_at
      FROM connector_status WHERE station_id = ${stationId} AND occurred_at < ${from}
      ORDER BY evse_id, connector_id, occurred_at DESC, id DESC`.execute(db);
  for (const r of [...before.rows, ...statuses]) {
    evidence.push({
      kind: 'status',
      ref: { table: 'connector_status', id: String(r.id) },
      at: new Date(r.occurred_at).getTime(),
      evseId: r.evse_id,
      connectorId: r.connector_id,
      status: r.status,
      errorCode: r.error_code,
      vendorId: r.vendor_id,
      vendorErrorCode: r.vendor_error_code,
    });
  }

  // Events: a little before the range too, so a fault event that preceded the status and the boots of a loop
  // that began just before are seen.
  const events = await db
    .selectFrom('station_events')
    .select([
      'id',
      'kind',
      'evse_id',
      'connector_id',
      'error_code',
      'vendor_error_code',
      'cleared',
      'info',
      'occurred_at',
    ])
    .where('station_id', '=', stationId)
    .where('kind', 'in', ['fault', 'connection', 'boot'])
    .where('occurred_at', '>=', new Date(from.getTime() - lookbackMs))
    .where('occurred_at', '<', to)
    .execute();
  const lastConnection = await db
    .selectFrom('station_events')
    .select([
      'id',
      'kind',
      'evse_id',
      'connector_id',
      'error_code',
      'vendor_error_code',
      'cleared',
      'info',
      'occurred_at',
    ])
    .where('station_id', '=', stationId)
    .where('kind', '=', 'connection')
    .where('occurred_at', '<', new Date(from.getTime() - lookbackMs))
    .orderBy('occurred_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .execute();
  for (const e of [...lastConnection, ...events]) {
    const ref = { table: 'station_events' as const, id: String(e.id) };
    const at = new Date(e.occurred_at).getTime();
    if (e.kind === 'connection') {
      if (e.info === 'connected' || e.info === 'disconnected') {
        evidence.push({ kind: 'connection', ref, at, connected: e.info === 'connected' });
      }
    } else if (e.kind === 'boot') {
      evidence.push({ kind: 'boot', ref, at });
    } else {
      evidence.push({
        kind: 'fault',
        ref,
        at,
        evseId: e.evse_id,
        connectorId: e.connector_id,
        code: e.vendor_error_code,
        errorCode: e.error_code,
        cleared: e.cleared === true,
      });
    }
  }

  // Ended sessions; one delivered energy or it did not. Failed runs may begin before the range.
  const sessions = await db
    .selectFrom('transactions')
    .select(['id', 'evse_id', 'connector_id', 'started_at', 'energy_wh', 'status'])
    .where('station_id', '=', stationId)
    .where('status', '=', 'ended')
    .where('started_at', '>=', new Date(from.getTime() - lookbackMs))
    .where('started_at', '<', to)
    .execute();
  for (const s of sessions) {
    if (!s.started_at) continue;
    evidence.push({
      kind: 'session',
      ref: { table: 'transactions', id: s.id },
      at: new Date(s.started_at).getTime(),
      evseId: s.evse_id,
      connectorId: s.connector_id,
      success: (s.energy_wh ?? 0) > 0,
    });
  }
  return evidence;
}

/** The ports of a station: every (EVSE, connector) it has reported, EVSE 0 (the charger as a whole) excluded. */
export async function stationPorts(db: Kysely<Database>, stationId: string): Promise<PortAddress[]> {
  const rows = await db
    .selectFrom('connectors')
    .select(['evse_id', 'connector_id'])
    .where('station_id', '=', stationId)
    .where('evse_id', '>', 0)
    .union(
      db
        .selectFrom('connector_status')
        .select(['evse_id', 'connector_id'])
        .where('station_id', '=', stationId)
        .where('evse_id', '>', 0),
    )
    .execute();
  return rows
    .map((r) => ({ evseId: r.evse_id, connectorId: r.connector_id }))
    .sort((a, b) => a.evseId - b.evseId || a.connectorId - b.connectorId);
}
