// Loads the evidence of one station over a time range from the tables the OCPP core writes: the connector
// status timeline, charger events (faults, NotifyEvent, connection loss and return, boots) and transactions.
// Also the state just before the range, so that a port already faulted when the range begins is seen as such.
// One statement (a UNION ALL of the parts) per load: a live re-derivation runs often, and each round trip counts.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { Evidence, PortAddress } from './timeline.ts';

export interface StationSnapshot {
  evidence: Evidence[];
  /** The station's ports (see `stationPorts`), read in the same statement. */
  ports: PortAddress[];
}

interface SnapshotRow {
  part: number;
  id: string;
  evse_id: number | null;
  connector_id: number | null;
  s1: string | null;
  s2: string | null;
  s3: string | null;
  s4: string | null;
  flag: boolean | null;
  num: number | string | null;
  at: Date | null;
}

// Parts, in the order the evidence used to be assembled: the status before the range (per port), the statuses
// in it, the last connection event before the event window, the events in it, the ended sessions; then ports.
const BEFORE = 0;
const STATUS = 1;
const LAST_CONNECTION = 2;
const EVENT = 3;
const SESSION = 4;
const PORT = 5;

/** The evidence of a station over [from, to) (events and sessions from `lookbackMs` earlier) and its ports. */
export async function loadStationSnapshot(
  db: Kysely<Database>,
  stationId: string,
  from: Date,
  to: Date,
  lookbackMs: number,
  withPorts = true,
): Promise<StationSnapshot> {
  const back = new Date(from.getTime() - lookbackMs);
  // The ports seen in connector_status, found by skipping through the (station, evse, connector, time) index
  // one port at a time instead of reading the station's whole history; then, per port, its last status before
  // the range (one index probe) and its statuses in the range (an index range), so the rows read are those of
  // the range, however long the station's history. (OFFSET 0 keeps the planner from flattening the per-port
  // range into a join with a scan of the table.)
  const { rows } = await sql<SnapshotRow>`
    WITH RECURSIVE seen AS (
      (SELECT evse_id, connector_id FROM connector_status WHERE station_id = ${stationId}
        ORDER BY evse_id, connector_id LIMIT 1)
      UNION ALL
      SELECT n.evse_id, n.connector_id FROM seen CROSS JOIN LATERAL (
        SELECT c.evse_id, c.connector_id FROM connector_status c
        WHERE c.station_id = ${stationId} AND (c.evse_id, c.connector_id) > (seen.evse_id, seen.connector_id)
        ORDER BY c.evse_id, c.connector_id LIMIT 1) n
    )
    SELECT ${sql.lit(BEFORE)}::int AS part, b.id::text AS id, b.evse_id, b.connector_id, b.status AS s1, b.error_code AS s2,
        b.vendor_id AS s3, b.vendor_error_code AS s4, NULL::boolean AS flag, NULL::float8 AS num, b.occurred_at AS at
      FROM seen CROSS JOIN LATERAL (
        SELECT c.id, c.evse_id, c.connector_id, c.status, c.error_code, c.vendor_id, c.vendor_error_code, c.occurred_at
        FROM connector_status c
        WHERE c.station_id = ${stationId} AND c.evse_id = seen.evse_id AND c.connector_id = seen.connector_id
          AND c.occurred_at < ${from}
        ORDER BY c.occurred_at DESC, c.id DESC LIMIT 1) b
    UNION ALL
    SELECT ${sql.lit(STATUS)}, c.id::text, c.evse_id, c.connector_id, c.status, c.error_code, c.vendor_id,
        c.vendor_error_code, NULL::boolean, NULL::float8, c.occurred_at
      FROM seen CROSS JOIN LATERAL (
        SELECT * FROM connector_status c
        WHERE c.station_id = ${stationId} AND c.evse_id = seen.evse_id AND c.connector_id = seen.connector_id
          AND c.occurred_at >= ${from} AND c.occurred_at < ${to}
        OFFSET 0) c
    UNION ALL
    (SELECT ${sql.lit(LAST_CONNECTION)}, id::text, evse_id, connector_id, kind, error_code, info, vendor_error_code, cleared,
        NULL::float8, occurred_at
      FROM station_events WHERE station_id = ${stationId} AND kind = 'connection' AND occurred_at < ${back}
      ORDER BY occurred_at DESC, id DESC LIMIT 1)
    UNION ALL
    SELECT ${sql.lit(EVENT)}, id::text, evse_id, connector_id, kind, error_code, info, vendor_error_code, cleared, NULL::float8,
        occurred_at
      FROM station_events WHERE station_id = ${stationId} AND kind IN ('fault', 'connection', 'boot')
        AND occurred_at >= ${back} AND occurred_at < ${to}
    UNION ALL
    SELECT ${sql.lit(SESSION)}, id, evse_id, connector_id, NULL::text, NULL::text, NULL::text, NULL::text, NULL::boolean,
        energy_wh, started_at
      FROM transactions WHERE station_id = ${stationId} AND status = 'ended'
        AND started_at >= ${back} AND started_at < ${to}
        -- A session whose token OpenCPO refused, or one it never issued, was no attempt to charge: it says
        -- nothing of the port (billing leaves both unbilled for the same reason).
        AND NOT id_unknown AND (auth_status IS NULL OR auth_status = 'accepted')
    ${
      withPorts
        ? sql`UNION ALL
    SELECT DISTINCT ${sql.lit(PORT)}, NULL::text, evse_id, connector_id, NULL::text, NULL::text, NULL::text,
        NULL::text, NULL::boolean, NULL::float8, NULL::timestamptz
      FROM (SELECT evse_id, connector_id FROM seen
            UNION SELECT evse_id, connector_id FROM connectors WHERE station_id = ${stationId}) p
      WHERE evse_id > 0`
        : sql``
    }
    ORDER BY part, at, id`.execute(db);

  const evidence: Evidence[] = [];
  const ports: PortAddress[] = [];
  for (const r of rows) {
    const part = Number(r.part);
    if (part === PORT) {
      ports.push({ evseId: r.evse_id!, connectorId: r.connector_id! });
      continue;
    }
    const at = new Date(r.at!).getTime();
    if (part === BEFORE || part === STATUS) {
      evidence.push({
        kind: 'status',
        ref: { table: 'connector_status', id: r.id },
        at,
        evseId: r.evse_id!,
        connectorId: r.connector_id!,
        status: r.s1!,
        errorCode: r.s2,
        vendorId: r.s3,
        vendorErrorCode: r.s4,
      });
    } else if (part === LAST_CONNECTION || part === EVENT) {
      const ref = { table: 'station_events' as const, id: r.id };
      const [kind, info] = [r.s1, r.s3];
      if (kind === 'connection') {
        if (info === 'connected' || info === 'disconnected') {
          evidence.push({ kind: 'connection', ref, at, connected: info === 'connected' });
        }
      } else if (kind === 'boot') {
        evidence.push({ kind: 'boot', ref, at });
      } else {
        evidence.push({
          kind: 'fault',
          ref,
          at,
          evseId: r.evse_id,
          connectorId: r.connector_id,
          code: r.s4,
          errorCode: r.s2,
          cleared: r.flag === true,
        });
      }
    } else if (part === SESSION) {
      // Ended sessions; one delivered energy or it did not. Failed runs may begin before the range.
      if (r.at === null) continue;
      evidence.push({
        kind: 'session',
        ref: { table: 'transactions', id: r.id },
        at,
        evseId: r.evse_id!,
        connectorId: r.connector_id!,
        success: Number(r.num ?? 0) > 0,
      });
    }
  }
  ports.sort((a, b) => a.evseId - b.evseId || a.connectorId - b.connectorId);
  return { evidence, ports };
}

/** The evidence of a station over [from, to): see `loadStationSnapshot`. */
export async function loadStationEvidence(
  db: Kysely<Database>,
  stationId: string,
  from: Date,
  to: Date,
  lookbackMs: number,
): Promise<Evidence[]> {
  return (await loadStationSnapshot(db, stationId, from, to, lookbackMs, false)).evidence;
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
