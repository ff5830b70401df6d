// The stations domain: which chargers may connect, what they are, their connectors' status timeline,
// their events and faults, device model and configuration. Called by the OCPP edge with
// version-neutral values; never knows the protocol version.
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { BatchWriter } from '../storage/batch-writer.ts';
import { afterCommit, type Executor } from '../storage/transactions.ts';
import { REDACTED, isPasswordSetting } from './secret-settings.ts';
import { hashPassword, verifyPassword } from '../security/passwords.ts';
import type { EventBus } from '../events/bus.ts';
import { requireStationId } from './identity.ts';
import type {
  BootDecision,
  BootInfo,
  ConfigurationKey,
  ConnectorStatus,
  DeviceVariable,
  StationEvent,
  StatusReport,
} from './model.ts';

export interface StationsOptions {
  acceptUnknownStations: boolean;
  heartbeatIntervalS: number;
  /** How often coalesced "last seen" times are written, ms. */
  lastSeenFlushMs?: number;
  /** Told when a timed write of "last seen" times fails (the times of that write are lost; the next ones are not). */
  onError?: (err: Error) => void;
}

export type AdmissionResult =
  | { admitted: true; registeredNow: boolean; passwordRecorded: boolean }
  | {
      admitted: false;
      reason: 'unknown station' | 'station blocked' | 'bad password' | 'password required' | 'no password registered';
    };

/** Who may connect as a station: what an operator sets (API, command line). */
export interface StationAccess {
  admission?: 'allowed' | 'blocked';
  /** The OCPP Basic-auth password (stored hashed); null removes it. */
  password?: string | null;
  /** OCPP security profile 0: it may connect without credentials while it has no password. */
  allowUnauthenticated?: boolean;
}

export interface StationRegistration extends StationAccess {
  id: string;
}

/**
 * The open connections of stations, as far as the domain needs them: implemented by the OCPP edge (the
 * domain never imports it), so that a change of who may connect also ends a connection admitted before.
 */
export interface StationConnections {
  /** Closes the station's connection, if one is open; the charger must reconnect and be admitted again. */
  disconnect(stationId: string, reason: string): void;
}

const ACTIVE_FAULT_STATUSES: ReadonlySet<ConnectorStatus> = new Set(['faulted']);

export class StationsService {
  private readonly lastSeen = new Map<string, Date>();
  private readonly lastSeenTimer: NodeJS.Timeout;
  private lastSeenWrite: Promise<void> | undefined;
  /** Current status per port, to notice changes without reading the database. */
  private readonly portStatus = new Map<string, ConnectorStatus>();
  private connections: StationConnections | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly writer: BatchWriter,
    private readonly options: StationsOptions,
    private readonly bus?: EventBus,
  ) {
    writer.define('evses', { conflict: ['station_id', 'evse_id'], key: (r) => `${r.station_id}\u0000${r.evse_id}` });
    writer.define('connectors', {
      conflict: ['station_id', 'evse_id', 'connector_id'],
      update: ['status', 'error_code', 'vendor_error_code', 'status_at'],
      // Offline replays arrive late: an older report never overwrites a newer current status.
      updateWhere: sql`connectors.status_at <= excluded.status_at`,
      key: (r) => `${r.station_id}\u0000${r.evse_id}\u0000${r.connector_id}`,
      prefer: (cur, inc) => (inc.status_at as Date) >= (cur.status_at as Date),
    });
    writer.define('connector_status');
    writer.define('station_events');
    writer.define('device_model_variables', {
      conflict: [
        'station_id',
        'component',
        'component_instance',
        'evse_id',
        'connector_id',
        'variable',
        'variable_instance',
        'attribute_type',
      ],
      update: ['value', 'mutability', 'characteristics', 'updated_at'],
      key: (r) =>
        [
          r.station_id,
          r.component,
          r.component_instance,
          r.evse_id,
          r.connector_id,
          r.variable,
          r.variable_instance,
          r.attribute_type,
        ].join('\u0000'),
    });
    writer.define('configuration_keys', {
      conflict: ['station_id', 'key'],
      update: ['value', 'readonly', 'updated_at'],
      key: (r) => `${r.station_id}\u0000${r.key}`,
    });
    this.lastSeenTimer = setInterval(
      () => void this.flushLastSeen().catch((err: Error) => this.options.onError?.(err)),
      options.lastSeenFlushMs ?? 5000,
    );
    this.lastSeenTimer.unref();
  }

  /**
   * Registers a charger ahead of its first connection. Registering one that exists changes only what is
   * given: running `opencpo stations add` again never removes a password or unblocks a station.
   */
  async register(
    station: StationRegistration,
    db: Executor = this.db,
  ): Promise<'registered' | 'updated' | 'unchanged'> {
    requireStationId(station.id);
    const { id, ...access } = station;
    const inserted = await db
      .insertInto('stations')
      .values({
        ...emptyStation(id),
        password_hash: access.password ? await hashPassword(access.password) : null,
        admission: access.admission ?? 'allowed',
        allow_unauthenticated: access.allowUnauthenticated ?? false,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (inserted) return 'registered';
    const changed = Object.values(access).some((v) => v !== undefined);
    if (changed) await this.changeAccess(id, access, db);
    return changed ? 'updated' : 'unchanged';
  }

  useConnections(connections: StationConnections): void {
    this.connections = connections;
  }

  /**
   * Changes who may connect as a registered charger; only the given fields change. False when there is none.
   * Blocking it, changing or removing its password, or withdrawing unauthenticated access also closes its
   * open connection: the admission that let it in no longer holds.
   */
  async changeAccess(stationId: string, change: StationAccess, db: Executor = this.db): Promise<boolean> {
    const r = await db
      .updateTable('stations')
      .set({
        ...(change.admission !== undefined ? { admission: change.admission } : {}),
        ...(change.password !== undefined
          ? { password_hash: change.password ? await hashPassword(change.password) : null }
          : {}),
        ...(change.allowUnauthenticated !== undefined ? { allow_unauthenticated: change.allowUnauthenticated } : {}),
        updated_at: new Date(),
      })
      .where('id', '=', stationId)
      .executeTakeFirst();
    const changed = Number(r.numUpdatedRows) > 0;
    const revoked = revocationOf(change);
    // After the commit: a charger reconnecting at once must meet the new rule, not the old one.
    if (changed && revoked) afterCommit(db, () => this.connections?.disconnect(stationId, revoked));
    return changed;
  }

  /**
   * Records the password a charger took itself (it accepted a set-configuration of it): stored hashed, and its
   * connection stays open, since the charger that holds it is the one that changed it.
   */
  async setPassword(stationId: string, password: string | null, db: Executor = this.db): Promise<boolean> {
    const password_hash = password ? await hashPassword(password) : null;
    const r = await db
      .updateTable('stations')
      .set({ password_hash, updated_at: new Date() })
      .where('id', '=', stationId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Decides whether a charger may open its OCPP connection (before any handler sees it):
   * - unknown: refused, or registered on first contact while unknown stations are accepted (with the
   *   password it presented, if any, which it needs from then on);
   * - blocked (or retired): refused;
   * - with a password: only with that password;
   * - without one: only when allowed unauthenticated (security profile 0), or, for a station registered on
   *   first contact, while unknown stations are accepted (its first Basic-auth password is then recorded).
   */
  async admit(stationId: string, password: string | undefined): Promise<AdmissionResult> {
    const row = await this.db
      .selectFrom('stations')
      .select(['admission', 'password_hash', 'allow_unauthenticated', 'registered_on_first_contact'])
      .where('id', '=', stationId)
      .executeTakeFirst();
    const presented = password ? password : undefined;
    if (!row) {
      if (!this.options.acceptUnknownStations) return { admitted: false, reason: 'unknown station' };
      const inserted = await this.db
        .insertInto('stations')
        .values({
          ...emptyStation(stationId),
          password_hash: presented ? await hashPassword(presented) : null,
          registered_on_first_contact: true,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id')
        .executeTakeFirst();
      // Registered meanwhile (another connection of the same id): decide by that registration.
      if (!inserted) return this.admit(stationId, password);
      return { admitted: true, registeredNow: true, passwordRecorded: presented !== undefined };
    }
    if (row.admission === 'blocked') return { admitted: false, reason: 'station blocked' };
    if (row.password_hash) {
      if (password === undefined) return { admitted: false, reason: 'password required' };
      if (!(await verifyPassword(password, row.password_hash))) return { admitted: false, reason: 'bad password' };
      return { admitted: true, registeredNow: false, passwordRecorded: false };
    }
    if (row.allow_unauthenticated) return { admitted: true, registeredNow: false, passwordRecorded: false };
    if (!row.registered_on_first_contact || !this.options.acceptUnknownStations) {
      return { admitted: false, reason: 'no password registered' };
    }
    if (!presented) return { admitted: true, registeredNow: false, passwordRecorded: false };
    const recorded = await this.db
      .updateTable('stations')
      .set({ password_hash: await hashPassword(presented), updated_at: new Date() })
      .where('id', '=', stationId)
      .where('password_hash', 'is', null)
      .executeTakeFirst();
    // Another connection recorded one first: this one must match it.
    if (Number(recorded.numUpdatedRows) === 0) return this.admit(stationId, password);
    return { admitted: true, registeredNow: false, passwordRecorded: true };
  }

  /** The OCPP version a station spoke when it last connected (null when it never did). */
  async lastProtocol(stationId: string): Promise<string | null> {
    const row = await this.db.selectFrom('stations').select('protocol').where('id', '=', stationId).executeTakeFirst();
    return row?.protocol ?? null;
  }

  async connected(stationId: string, protocol: string): Promise<void> {
    const now = new Date();
    await this.db
      .updateTable('stations')
      .set({ online: true, protocol, last_connected_at: now, last_seen_at: now, updated_at: now })
      .where('id', '=', stationId)
      .execute();
    await this.recordEvent(stationId, { kind: 'connection', info: 'connected', timestamp: now, payload: { protocol } });
    this.bus?.publish({ type: 'station.connected', stationId, protocol, at: now });
  }

  async disconnected(stationId: string, reason: string): Promise<void> {
    const now = new Date();
    this.lastSeen.delete(stationId);
    await this.db
      .updateTable('stations')
      .set({ online: false, last_disconnected_at: now, last_seen_at: now, updated_at: now })
      .where('id', '=', stationId)
      .execute();
    await this.recordEvent(stationId, {
      kind: 'connection',
      info: 'disconnected',
      timestamp: now,
      payload: { reason },
    });
    this.bus?.publish({ type: 'station.disconnected', stationId, reason, at: now });
  }

  async boot(stationId: string, info: BootInfo): Promise<BootDecision> {
    const now = new Date();
    await this.db
      .updateTable('stations')
      .set({
        vendor: info.vendor,
        model: info.model,
        serial_number: info.serialNumber ?? null,
        firmware_version: info.firmwareVersion ?? null,
        iccid: info.iccid ?? null,
        imsi: info.imsi ?? null,
        meter_type: info.meterType ?? null,
        meter_serial_number: info.meterSerialNumber ?? null,
        registration_status: 'accepted',
        last_boot_at: now,
        last_boot_reason: info.reason ?? null,
        last_seen_at: now,
        updated_at: now,
      })
      .where('id', '=', stationId)
      .execute();
    await this.recordEvent(stationId, { kind: 'boot', info: info.reason, timestamp: now, payload: { ...info } });
    this.bus?.publish({ type: 'station.booted', stationId, reason: info.reason, at: now });
    return { status: 'accepted', intervalS: this.options.heartbeatIntervalS, currentTime: now };
  }

  /** Any message from a charger proves it alive; the time is written coalesced, every few seconds. */
  touch(stationId: string): void {
    this.lastSeen.set(stationId, new Date());
  }

  /**
   * Writes the coalesced "last seen" times. One write at a time: with 10,000 chargers a write takes several
   * statements, and a second one started meanwhile (a timer tick, or close) waits for it, so close() returns
   * only when no write is left running on a database that is about to close.
   */
  flushLastSeen(): Promise<void> {
    const run = (this.lastSeenWrite ?? Promise.resolve()).catch(() => undefined).then(() => this.writeLastSeen());
    this.lastSeenWrite = run;
    return run.finally(() => {
      if (this.lastSeenWrite === run) this.lastSeenWrite = undefined;
    });
  }

  private async writeLastSeen(): Promise<void> {
    if (this.lastSeen.size === 0) return;
    const entries = [...this.lastSeen.entries()];
    this.lastSeen.clear();
    // One array per column (unnest), not a VALUES list: the text is the same for any number of stations, so
    // PostgreSQL keeps it prepared instead of parsing a new text (and using up a statement name) per count.
    for (let i = 0; i < entries.length; i += 1000) {
      const chunk = entries.slice(i, i + 1000);
      const ids = chunk.map(([id]) => id);
      const times = chunk.map(([, at]) => at.toISOString());
      await sql`UPDATE stations SET last_seen_at = v.at FROM unnest(${ids}::text[], ${times}::timestamptz[]) AS v(id, at)
                WHERE stations.id = v.id AND (stations.last_seen_at IS NULL OR stations.last_seen_at < v.at)`.execute(
        this.db,
      );
    }
  }

  /** Stores a connector status report: the port's current status and one row in its timeline. */
  async reportStatus(stationId: string, report: StatusReport): Promise<void> {
    const now = new Date();
    const key = portKey(stationId, report.evseId, report.connectorId);
    const previous = this.portStatus.get(key);
    this.portStatus.set(key, report.status);
    const rows: Parameters<BatchWriter['write']>[0] = {
      evses: [{ station_id: stationId, evse_id: report.evseId }],
      connectors: [
        {
          station_id: stationId,
          evse_id: report.evseId,
          connector_id: report.connectorId,
          status: report.status,
          error_code: report.errorCode ?? null,
          vendor_error_code: report.vendorErrorCode ?? null,
          status_at: report.timestamp,
        },
      ],
      connector_status: [
        {
          station_id: stationId,
          evse_id: report.evseId,
          connector_id: report.connectorId,
          status: report.status,
          error_code: report.errorCode ?? null,
          vendor_id: report.vendorId ?? null,
          vendor_error_code: report.vendorErrorCode ?? null,
          info: report.info ?? null,
          occurred_at: report.timestamp,
          received_at: now,
        },
      ],
    };
    // A fault with a code is also a charger event, so faults can be listed without scanning the timeline.
    if (ACTIVE_FAULT_STATUSES.has(report.status) || (report.errorCode && report.errorCode !== 'NoError')) {
      rows.station_events = [
        eventRow(stationId, {
          kind: 'fault',
          evseId: report.evseId,
          connectorId: report.connectorId,
          errorCode: report.errorCode,
          vendorId: report.vendorId,
          vendorErrorCode: report.vendorErrorCode,
          info: report.info,
          timestamp: report.timestamp,
          payload: { status: report.status },
        }),
      ];
    }
    await this.writer.write(rows);
    this.bus?.publish({
      type: 'connector.status',
      stationId,
      evseId: report.evseId,
      connectorId: report.connectorId,
      status: report.status,
      ...(previous ? { previous } : {}),
      ...(report.errorCode ? { errorCode: report.errorCode } : {}),
      ...(report.vendorId ? { vendorId: report.vendorId } : {}),
      ...(report.vendorErrorCode ? { vendorErrorCode: report.vendorErrorCode } : {}),
      ...(report.info ? { info: report.info } : {}),
      at: report.timestamp,
    });
  }

  /** The last known status of a port on this node (from this process's view), if any. */
  currentStatus(stationId: string, evseId: number, connectorId: number): ConnectorStatus | undefined {
    return this.portStatus.get(portKey(stationId, evseId, connectorId));
  }

  async recordEvent(stationId: string, event: StationEvent): Promise<void> {
    await this.recordEvents(stationId, [event]);
  }

  async recordEvents(stationId: string, events: StationEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.writer.write({ station_events: events.map((e) => eventRow(stationId, e)) });
    for (const event of events) this.bus?.publish({ type: 'station.event', stationId, event, at: event.timestamp });
    const last = events[events.length - 1]!;
    if (last.kind === 'firmware' || last.kind === 'diagnostics') {
      const column = last.kind === 'firmware' ? 'firmware_status' : 'diagnostics_status';
      await this.db
        .updateTable('stations')
        .set({ [column]: last.info ?? null, updated_at: new Date() })
        .where('id', '=', stationId)
        .execute();
    }
  }

  async reportDeviceModel(stationId: string, variables: DeviceVariable[]): Promise<void> {
    if (variables.length === 0) return;
    const now = new Date();
    await this.writer.write({
      device_model_variables: variables.map((v) => ({
        station_id: stationId,
        component: v.component,
        component_instance: v.componentInstance ?? '',
        evse_id: v.evseId ?? 0,
        connector_id: v.connectorId ?? 0,
        variable: v.variable,
        variable_instance: v.variableInstance ?? '',
        attribute_type: v.attributeType ?? 'Actual',
        value: typeof v.value === 'string' && isPasswordSetting(v) ? REDACTED : (v.value ?? null),
        mutability: v.mutability ?? null,
        characteristics: JSON.stringify(v.characteristics ?? null),
        updated_at: now,
      })),
    });
  }

  async storeConfiguration(stationId: string, keys: ConfigurationKey[]): Promise<void> {
    if (keys.length === 0) return;
    const now = new Date();
    await this.writer.write({
      configuration_keys: keys.map((k) => ({
        station_id: stationId,
        key: k.key,
        value: typeof k.value === 'string' && isPasswordSetting({ variable: k.key }) ? REDACTED : (k.value ?? null),
        readonly: k.readonly,
        updated_at: now,
      })),
    });
  }

  /** Marks every station offline: at start nothing is connected to this node yet. */
  async markAllOffline(): Promise<void> {
    await this.db.updateTable('stations').set({ online: false }).where('online', '=', true).execute();
  }

  async close(): Promise<void> {
    clearInterval(this.lastSeenTimer);
    await this.flushLastSeen();
  }
}

/** Why a change of access ends the station's current connection, if it does. */
function revocationOf(change: StationAccess): string | undefined {
  if (change.admission === 'blocked') return 'station blocked';
  if (change.password !== undefined) return change.password ? 'password changed' : 'password removed';
  if (change.allowUnauthenticated === false) return 'unauthenticated access withdrawn';
  return undefined;
}

function portKey(stationId: string, evseId: number, connectorId: number): string {
  return `${stationId}\u0000${evseId}\u0000${connectorId}`;
}

function eventRow(stationId: string, e: StationEvent): Record<string, unknown> {
  return {
    station_id: stationId,
    evse_id: e.evseId ?? null,
    connector_id: e.connectorId ?? null,
    kind: e.kind,
    error_code: e.errorCode ?? null,
    vendor_id: e.vendorId ?? null,
    vendor_error_code: e.vendorErrorCode ?? null,
    info: e.info ?? null,
    severity: e.severity ?? null,
    cleared: e.cleared ?? null,
    component: e.component ?? null,
    variable: e.variable ?? null,
    trigger: e.trigger ?? null,
    actual_value: e.actualValue ?? null,
    transaction_ref: e.transactionRef ?? null,
    event_ref: e.eventRef ?? null,
    payload: JSON.stringify(e.payload),
    occurred_at: e.timestamp,
    received_at: new Date(),
  };
}

function emptyStation(id: string) {
  return {
    id,
    protocol: null,
    registration_status: null,
    password_hash: null,
    vendor: null,
    model: null,
    serial_number: null,
    firmware_version: null,
    iccid: null,
    imsi: null,
    meter_type: null,
    meter_serial_number: null,
    firmware_status: null,
    diagnostics_status: null,
    last_boot_at: null,
    last_boot_reason: null,
    last_seen_at: null,
    last_connected_at: null,
    last_disconnected_at: null,
  };
}
