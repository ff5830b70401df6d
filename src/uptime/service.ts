// The uptime domain: keeps the stored outages in step with the evidence (live, from domain events, and on
// demand over any range), records cause corrections and exclusions with who and why, applies scheduled
// maintenance windows and published opening hours, and computes NEVI uptime with drill-down to the outages.
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { DomainEvent } from '../events/bus.ts';
import { causeFor, isKnownCause, type CauseSource, type ExclusionReason } from './cause-codes.ts';
import { loadStationEvidence, loadStationSnapshot, stationPorts } from './evidence.ts';
import {
  analysePort,
  DEFAULT_TIMELINE_OPTIONS,
  type DerivedOutage,
  type PortAddress,
  type Segment,
  type TimelineOptions,
} from './timeline.ts';
import {
  closedIntervals,
  intersect,
  isValidTimeZone,
  MINUTE_MS,
  MINUTES_PER_YEAR,
  monthWindow,
  subtract,
  trailingTwelveMonths,
  union,
  uptimeOver,
  UPTIME_TARGET,
  type Interval,
  type OpeningSpan,
  type UptimeFigure,
} from './nevi.ts';
import type { Attachment } from './tables.ts';
import { dateOf, systemClock, type Clock } from '../time/clock.ts';
import { inTransaction, type Executor } from '../storage/transactions.ts';

export interface Port extends PortAddress {
  stationId: string;
}

export interface Outage {
  id: string;
  stationId: string;
  evseId: number;
  connectorId: number;
  startedAt: Date;
  endedAt: Date | null;
  reason: string;
  causeCode: string;
  causeSource: string;
  responsibleParty: string;
  derivedCauseCode: string;
  evidence: { table: string; id: string }[];
}

export interface OutageChange {
  kind: 'opened' | 'closed' | 'recoded';
  outage: Outage;
}

/** Called inside the transaction that stores the change, so what it writes (alerts, outbox rows) commits with it. */
export type OutageListener = (trx: Transaction<Database>, change: OutageChange) => Promise<void>;

export interface UptimeOptions {
  timeline?: Partial<Omit<TimelineOptions, 'now'>>;
  /** How far back a live re-derivation looks when the port has no open outage. */
  lookbackMs?: number;
  /** How often stations with pending conditions (a disconnect within the grace, a boot loop) are re-checked. */
  sweepMs?: number;
  /**
   * How often a busy station, whose live runs read only recent evidence, gets a full run over the look-back
   * (default 10 minutes): evidence that arrives late (offline replays) is stored within this period. Full runs
   * of every busy station at each sweep cost ten thousand re-derivations per sweep on a 10,000-charger network.
   */
  fullRunMs?: number;
  /**
   * How long a live re-derivation waits after the first event that asks for it, ms (default 3000). Events of the same
   * station in that window are covered by the one run (it reads everything stored when it starts), so a
   * busy charger costs one re-derivation per window instead of one per message.
   */
  liveDelayMs?: number;
  onError?: (err: Error) => void;
  clock?: Clock;
}

/** An excluded part of an outage, whatever put it there. */
export interface ExcludedPart extends Interval {
  reason: ExclusionReason;
  source: 'exclusion' | 'maintenance_window' | 'opening_hours';
  notes: string | null;
  exclusionId?: string;
}

export interface OutageDetail extends Outage {
  minutes: number;
  excludedMinutes: number;
  excludedParts: ExcludedPart[];
}

export interface PortUptime extends UptimeFigure {
  stationId: string;
  evseId: number;
  connectorId: number;
  belowTarget: boolean;
}

export class UptimeService {
  private readonly timelineOptions: Omit<TimelineOptions, 'now'>;
  private readonly lookbackMs: number;
  private readonly listeners: OutageListener[] = [];
  private readonly queues = new Map<string, Promise<OutageChange[]>>();
  private readonly waiting = new Map<string, { full: boolean; run: Promise<OutageChange[]> }>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  private sweeping: Promise<void> | undefined;
  private readonly liveTimers = new Map<string, NodeJS.Timeout>();
  /** When each station's last run without a range started (its `to`): a live run reads the evidence since. */
  private readonly lastRun = new Map<string, number>();
  /** When each station's last full run (over the whole look-back) started. */
  private readonly lastFullRun = new Map<string, number>();
  /** Stations whose last run was a live one over recent evidence only: the sweep runs a full one. */
  private readonly needsFull = new Set<string>();
  readonly clock: Clock;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: UptimeOptions = {},
  ) {
    this.timelineOptions = { ...DEFAULT_TIMELINE_OPTIONS, ...options.timeline };
    this.lookbackMs = options.lookbackMs ?? 2 * 24 * 3600_000;
    this.clock = options.clock ?? systemClock;
  }

  onOutage(listener: OutageListener): void {
    this.listeners.push(listener);
  }

  /** Follows the domain event bus: every status, fault, connection, boot and ended session re-derives its station. */
  attach(bus: { subscribe(listener: (event: DomainEvent) => void | Promise<void>): () => void }): void {
    this.unsubscribe = bus.subscribe(async (event) => {
      switch (event.type) {
        case 'connector.status':
          // A repeated status without an error code changes nothing.
          if (event.previous === event.status && !event.errorCode && !event.vendorErrorCode) return;
          this.syncSoon(event.stationId);
          return;
        case 'station.event':
          if (!['fault', 'connection', 'boot'].includes(event.event.kind)) return;
          this.syncSoon(event.stationId);
          return;
        case 'station.booted':
        case 'transaction.ended':
          this.syncSoon(event.stationId);
      }
    });
    const sweepMs = this.options.sweepMs ?? 30_000;
    this.sweepTimer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = this.sweep({ owedOlderThanMs: this.fullRunMs() })
        .catch((err: Error) => this.options.onError?.(err))
        .finally(() => {
          this.sweeping = undefined;
        });
    }, sweepMs);
    this.sweepTimer.unref();
  }

  private fullRunMs(): number {
    return this.options.fullRunMs ?? 600_000;
  }

  /** A live re-derivation of the station after `liveDelayMs`, one per station per window. */
  private syncSoon(stationId: string): void {
    if (this.closed || this.liveTimers.has(stationId)) return;
    const timer = setTimeout(() => {
      this.liveTimers.delete(stationId);
      this.enqueue(stationId, undefined, false).catch((err: Error) => this.options.onError?.(err));
    }, this.options.liveDelayMs ?? 1000);
    this.liveTimers.set(stationId, timer);
  }

  /**
   * Stops following events and waits for the runs under way. Live re-derivations still waiting out their delay
   * run now, not never: a fault seen in the last seconds before a graceful stop is an outage in the database
   * (and in the NEVI report) before it closes, not only after some later sweep.
   */
  async close(): Promise<void> {
    this.unsubscribe?.();
    clearInterval(this.sweepTimer);
    const due = [...this.liveTimers.keys()];
    for (const timer of this.liveTimers.values()) clearTimeout(timer);
    this.liveTimers.clear();
    const live = due.map((id) => this.enqueue(id, undefined, false).catch((err: Error) => this.options.onError?.(err)));
    this.closed = true;
    await this.sweeping;
    await Promise.allSettled([...live, ...this.queues.values()]);
  }

  /**
   * Re-checks stations whose state can change with the clock alone (offline ones and those with open outages)
   * and those whose last live run only looked at recent evidence: a full run over the look-back catches
   * evidence that arrived late (replayed after an outage of the connection) within one sweep period.
   * `owedOlderThanMs`: only owed full runs whose station's last full run is at least this old (the timer's
   * sweeps); without it every owed full run is done now.
   */
  async sweep(options: { owedOlderThanMs?: number } = {}): Promise<void> {
    const since = new Date(this.clock.now() - this.lookbackMs);
    const offline = await this.db
      .selectFrom('stations')
      .select('id')
      .where('online', '=', false)
      .where('last_disconnected_at', '>', since)
      .execute();
    const open = await this.db
      .selectFrom('uptime_outages')
      .select('station_id')
      .distinct()
      .where('ended_at', 'is', null)
      .execute();
    const now = this.clock.now();
    const owed = [...this.needsFull].filter(
      (id) => now - (this.lastFullRun.get(id) ?? 0) >= (options.owedOlderThanMs ?? 0),
    );
    const ids = new Set([...offline.map((r) => r.id), ...open.map((r) => r.station_id), ...owed]);
    for (const id of ids) await this.syncStation(id);
  }

  /**
   * Re-derives the outages of a station's ports over [from, to) from the evidence and stores them. Without a
   * range: from the oldest open outage (or the look-back) to now. Calls for one station run one at a time.
   */
  syncStation(stationId: string, range?: { from: Date; to: Date }): Promise<OutageChange[]> {
    return this.enqueue(stationId, range, true);
  }

  /**
   * Queues a run for the station. `full`: over the whole look-back; else (a live run) only over the evidence
   * since the station's last run, less the context the timeline needs (see `doSync`).
   */
  private enqueue(stationId: string, range: { from: Date; to: Date } | undefined, full: boolean) {
    if (this.closed) return Promise.resolve([]);
    // Runs without a range coalesce: while one is waiting its turn, later requests are covered by it (it reads
    // everything stored up to when it starts), so a burst of messages from one charger costs one re-derivation.
    // A request for a full run makes the waiting one full.
    if (!range) {
      const waiting = this.waiting.get(stationId);
      if (waiting) {
        waiting.full ||= full;
        return waiting.run;
      }
    }
    const previous = this.queues.get(stationId) ?? Promise.resolve([]);
    const entry = { full, run: undefined as unknown as Promise<OutageChange[]> };
    let started = false;
    const run = previous
      .catch(() => undefined)
      .then(() => {
        started = true;
        if (this.waiting.get(stationId) === entry) this.waiting.delete(stationId);
        return this.doSync(stationId, range, entry.full);
      });
    entry.run = run;
    if (!range && !started) this.waiting.set(stationId, entry);
    this.queues.set(stationId, run);
    void run
      .finally(() => {
        if (this.queues.get(stationId) === run) this.queues.delete(stationId);
      })
      .catch(() => undefined);
    return run;
  }

  private async doSync(
    stationId: string,
    range: { from: Date; to: Date } | undefined,
    full: boolean,
  ): Promise<OutageChange[]> {
    const now = this.clock.now();
    const back = this.timelineBack();
    let from: Date;
    let to: Date;
    let stored: OutageRow[];
    let incremental = false;
    if (range) {
      ({ from, to } = range);
      stored = await this.storedOutages(stationId, from, false);
    } else {
      // A full run: from the oldest open outage or the look-back, whichever is earlier. A live run after an
      // earlier run of the station: the evidence since that run, less the context a timeline needs before its
      // range (`timelineBack`), and from the start of any stored outage open or reaching into that range, so
      // such an outage is re-derived whole, from the same evidence a full run would use. (An outage that ended
      // before the range is left alone; evidence older than the range that arrives late is a full run's job:
      // the sweep runs one, within `fullRunMs`, for every station that had a live run since its last full one.)
      to = new Date(now);
      const last = this.lastRun.get(stationId);
      const fullFrom = now - this.lookbackMs;
      // Incremental only while the station's last full run is recent (within a sweep period): a station heard
      // from now and then gets full live runs, as before, and owes the sweep nothing; a busy one gets one full
      // run a sweep period, from the sweep or a live run, and incremental ones in between.
      const lastFull = this.lastFullRun.get(stationId);
      incremental =
        !full &&
        last !== undefined &&
        lastFull !== undefined &&
        now - lastFull < this.fullRunMs() &&
        last - back > fullFrom;
      const base = new Date(incremental ? last! - back : fullFrom);
      stored = await this.storedOutages(stationId, base, incremental);
      const reaching = stored.filter((s) => s.ended_at === null || (incremental && new Date(s.ended_at) >= base));
      from = new Date(Math.min(base.getTime(), ...reaching.map((s) => new Date(s.started_at).getTime())));
    }
    // `stored` now holds every outage of the station that is open or ended at or after `from`.
    let { evidence, ports } = await loadStationSnapshot(this.db, stationId, from, to, back);
    // A port already down when the range begins is down since the report that made it so: start there, so the
    // outage keeps its true start instead of being cut at the range.
    const downSince = evidence
      .filter(
        (e) =>
          e.at < from.getTime() &&
          ((e.kind === 'status' && ['faulted', 'unavailable', 'offline'].includes(e.status)) ||
            (e.kind === 'connection' && !e.connected)),
      )
      .reduce((m, e) => Math.min(m, e.at), Infinity);
    if (downSince < from.getTime()) {
      from = new Date(downSince);
      ({ evidence, ports } = await loadStationSnapshot(this.db, stationId, from, to, back));
      stored = await this.storedOutages(stationId, from, false);
    }
    const live = !range || to.getTime() >= now;
    const writes: OutageWrite[] = [];
    for (const port of ports) {
      const { outages } = analysePort(evidence, port, from.getTime(), to.getTime(), {
        ...this.timelineOptions,
        now: range ? Math.max(now, to.getTime()) : now,
      });
      const portStored = stored.filter(
        (s) =>
          s.evse_id === port.evseId &&
          s.connector_id === port.connectorId &&
          (s.ended_at === null || new Date(s.ended_at) >= from) &&
          new Date(s.started_at) < to,
      );
      // A range reaching the present leaves what is still down open, like a live run.
      writes.push(...planPortOutages({ stationId, ...port }, outages, portStored, from, live));
    }
    const changes: OutageChange[] = [];
    // Nothing changed (the usual case for a live run): no transaction, no write.
    if (writes.length > 0) {
      const updatedAt = new Date(now);
      await this.db.transaction().execute(async (trx) => {
        for (const write of writes) changes.push(...(await applyOutageWrite(trx, write, updatedAt)));
        for (const change of changes) for (const listener of this.listeners) await listener(trx, change);
      });
    }
    if (!range) {
      this.lastRun.set(stationId, now);
      if (incremental) {
        this.needsFull.add(stationId);
      } else {
        this.lastFullRun.set(stationId, now);
        this.needsFull.delete(stationId);
      }
    }
    return changes;
  }

  /**
   * The station's stored outages that are open or ended at or after `from`, or after the start of the oldest
   * open one (with `reaching`: of the oldest one open or ending at or after `from`) if that is earlier.
   */
  private storedOutages(stationId: string, from: Date, reaching: boolean): Promise<OutageRow[]> {
    return this.db
      .selectFrom('uptime_outages')
      .selectAll()
      .where('station_id', '=', stationId)
      .where((eb) =>
        eb.or([
          eb('ended_at', 'is', null),
          eb(
            'ended_at',
            '>=',
            sql<Date>`least(${from}::timestamptz, (${eb
              .selectFrom('uptime_outages')
              .select((e) => e.fn.min('started_at').as('m'))
              .where('station_id', '=', stationId)
              .where((e) =>
                reaching ? e.or([e('ended_at', 'is', null), e('ended_at', '>=', from)]) : e('ended_at', 'is', null),
              )}))`,
          ),
        ]),
      )
      .execute();
  }

  /** Evidence this much before a range still explains it (boot loops, fault events, failed-session runs). */
  private timelineBack(): number {
    return Math.max(this.timelineOptions.bootLoopWindowMs * this.timelineOptions.bootLoopCount, 3600_000);
  }

  // ---- reading -------------------------------------------------------------------------------------------

  async listOutages(filter: {
    stationId?: string;
    evseId?: number;
    connectorId?: number;
    from?: Date;
    to?: Date;
    open?: boolean;
    stationIds?: string[];
  }): Promise<Outage[]> {
    let q = this.db.selectFrom('uptime_outages').selectAll();
    if (filter.stationId !== undefined) q = q.where('station_id', '=', filter.stationId);
    if (filter.stationIds)
      q = filter.stationIds.length ? q.where('station_id', 'in', filter.stationIds) : q.where(() => falseExpr());
    if (filter.evseId !== undefined) q = q.where('evse_id', '=', filter.evseId);
    if (filter.connectorId !== undefined) q = q.where('connector_id', '=', filter.connectorId);
    if (filter.from) q = q.where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>', filter.from!)]));
    if (filter.to) q = q.where('started_at', '<', filter.to);
    if (filter.open !== undefined) q = q.where('ended_at', filter.open ? 'is' : 'is not', null);
    const rows = await q.orderBy('started_at').orderBy('id').execute();
    return rows.map(toOutage);
  }

  async getOutage(id: string): Promise<Outage | undefined> {
    if (!/^\d+$/.test(id)) return undefined;
    const row = await this.db.selectFrom('uptime_outages').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toOutage(row) : undefined;
  }

  /** The gap-free availability timeline of one port, recomputed from the evidence. */
  async timeline(port: Port, from: Date, to: Date): Promise<Segment[]> {
    const evidence = await loadStationEvidence(this.db, port.stationId, from, to, this.timelineBack());
    return analysePort(evidence, port, from.getTime(), to.getTime(), { ...this.timelineOptions, now: this.clock.now() })
      .segments;
  }

  // ---- corrections and exclusions ------------------------------------------------------------------------

  async correctCause(
    outageId: string,
    correction: { code: string; by: string; why: string; workOrderId?: string },
    executor: Kysely<Database> | Transaction<Database> = this.db,
  ): Promise<Outage> {
    if (!isKnownCause(correction.code)) throw new UptimeError('code', `unknown cause code ${correction.code}`);
    if (!correction.why.trim()) throw new UptimeError('why', 'a correction needs a reason');
    const current = await executor
      .selectFrom('uptime_outages')
      .selectAll()
      .where('id', '=', outageId)
      .executeTakeFirst();
    if (!current) throw new UptimeError('outageId', `no outage ${outageId}`, 404);
    const now = dateOf(this.clock);
    await executor
      .insertInto('uptime_cause_corrections')
      .values({
        outage_id: outageId,
        previous_code: current.cause_code,
        new_code: correction.code,
        corrected_by: correction.by,
        why: correction.why,
        work_order_id: correction.workOrderId ?? null,
        corrected_at: now,
      })
      .execute();
    const row = await executor
      .updateTable('uptime_outages')
      .set({
        cause_code: correction.code,
        cause_source: 'correction' satisfies CauseSource,
        responsible_party: causeFor(correction.code).party,
        updated_at: now,
      })
      .where('id', '=', outageId)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toOutage(row);
  }

  async corrections(outageId: string) {
    return this.db
      .selectFrom('uptime_cause_corrections')
      .selectAll()
      .where('outage_id', '=', outageId)
      .orderBy('corrected_at')
      .orderBy('id')
      .execute();
  }

  /** Marks an outage, or the part [startsAt, endsAt) of it, excluded for one of NEVI's reasons. */
  async addExclusion(
    outageId: string,
    exclusion: {
      reason: number;
      startsAt?: Date;
      endsAt?: Date;
      notes?: string;
      attachments?: Attachment[];
      by: string;
      workOrderId?: string;
    },
    executor: Kysely<Database> | Transaction<Database> = this.db,
  ): Promise<{ id: string }> {
    if (!Number.isInteger(exclusion.reason) || exclusion.reason < 1 || exclusion.reason > 6) {
      throw new UptimeError('reason', 'reason must be an EV-ChART exclusion code 1–6');
    }
    if (exclusion.notes && exclusion.notes.length > 255)
      throw new UptimeError('notes', 'notes are at most 255 characters');
    const outage = await executor
      .selectFrom('uptime_outages')
      .selectAll()
      .where('id', '=', outageId)
      .executeTakeFirst();
    if (!outage) throw new UptimeError('outageId', `no outage ${outageId}`, 404);
    const startsAt = exclusion.startsAt ?? new Date(outage.started_at);
    if (startsAt < new Date(outage.started_at))
      throw new UptimeError('startsAt', 'an exclusion starts within its outage');
    if (exclusion.endsAt && exclusion.endsAt <= startsAt)
      throw new UptimeError('endsAt', 'endsAt must be after startsAt');
    if (exclusion.endsAt && outage.ended_at && exclusion.endsAt > new Date(outage.ended_at)) {
      throw new UptimeError('endsAt', 'an exclusion ends within its outage');
    }
    const row = await executor
      .insertInto('uptime_exclusions')
      .values({
        outage_id: outageId,
        starts_at: startsAt,
        ends_at: exclusion.endsAt ?? null,
        reason: exclusion.reason,
        notes: exclusion.notes ?? null,
        attachments: JSON.stringify(exclusion.attachments ?? []),
        created_by: exclusion.by,
        work_order_id: exclusion.workOrderId ?? null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: String(row.id) };
  }

  async addMaintenanceWindow(
    window: {
      stationId?: string;
      locationId?: string;
      startsAt: Date;
      endsAt: Date;
      notes?: string;
      by: string;
    },
    db: Executor = this.db,
  ): Promise<{ id: string }> {
    if (Boolean(window.stationId) === Boolean(window.locationId)) {
      throw new UptimeError('stationId', 'give exactly one of stationId or locationId');
    }
    if (!(window.endsAt > window.startsAt)) throw new UptimeError('endsAt', 'endsAt must be after startsAt');
    const row = await db
      .insertInto('uptime_maintenance_windows')
      .values({
        station_id: window.stationId ?? null,
        location_id: window.locationId ?? null,
        starts_at: window.startsAt,
        ends_at: window.endsAt,
        notes: window.notes ?? null,
        created_by: window.by,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: String(row.id) };
  }

  async setOpeningHours(
    hours: {
      stationId?: string;
      locationId?: string;
      timeZone: string;
      spans: OpeningSpan[];
      by: string;
    },
    db: Executor = this.db,
  ): Promise<void> {
    if (Boolean(hours.stationId) === Boolean(hours.locationId)) {
      throw new UptimeError('stationId', 'give exactly one of stationId or locationId');
    }
    validateSpans(hours.spans);
    requireTimeZone(hours.timeZone);
    await inTransaction(db, async (trx) => {
      let del = trx.deleteFrom('uptime_opening_hours');
      del = hours.stationId
        ? del.where('station_id', '=', hours.stationId)
        : del.where('location_id', '=', hours.locationId!);
      await del.execute();
      await trx
        .insertInto('uptime_opening_hours')
        .values({
          station_id: hours.stationId ?? null,
          location_id: hours.locationId ?? null,
          time_zone: hours.timeZone,
          spans: JSON.stringify(hours.spans),
          created_by: hours.by,
        })
        .execute();
    });
  }

  async setStationLocation(
    stationId: string,
    location: { locationId?: string; timeZone: string; operationalSince?: Date },
    db: Executor = this.db,
  ) {
    requireTimeZone(location.timeZone);
    await db
      .insertInto('uptime_station_locations')
      .values({
        station_id: stationId,
        location_id: location.locationId ?? null,
        time_zone: location.timeZone,
        operational_since: location.operationalSince ?? null,
      })
      .onConflict((oc) =>
        oc.column('station_id').doUpdateSet({
          location_id: location.locationId ?? null,
          time_zone: location.timeZone,
          operational_since: location.operationalSince ?? null,
        }),
      )
      .execute();
  }

  // ---- NEVI uptime ---------------------------------------------------------------------------------------

  /** Every outage of the port overlapping the window, with its excluded parts (explicit, maintenance, hours). */
  /**
   * The outages of a port over a window, with their excluded parts. An open outage lasts until `asOf` (now by
   * default; a forecast passes a later instant to count it as lasting until then), as do open-ended exclusions.
   */
  async outageDetails(port: Port, window: Interval, asOf = this.clock.now()): Promise<OutageDetail[]> {
    const outages = await this.listOutages({ ...port, from: new Date(window.from), to: new Date(window.to) });
    if (outages.length === 0) return [];
    const exclusions = await this.db
      .selectFrom('uptime_exclusions')
      .selectAll()
      .where(
        'outage_id',
        'in',
        outages.map((o) => o.id),
      )
      .orderBy('id')
      .execute();
    const scheduled = await this.scheduledExclusions(port.stationId, window);
    return outages.map((o) => {
      const span: Interval = {
        from: Math.max(o.startedAt.getTime(), window.from),
        to: Math.min(o.endedAt ? o.endedAt.getTime() : asOf, window.to),
      };
      const parts: ExcludedPart[] = [];
      let taken: Interval[] = [];
      const add = (interval: Interval, part: Omit<ExcludedPart, 'from' | 'to'>) => {
        // First claim wins: an explicit exclusion before a window before opening hours, never counted twice.
        for (const piece of subtract(intersect([span], [interval]), taken)) {
          parts.push({ ...piece, ...part });
          taken = union([...taken, piece]);
        }
      };
      for (const e of exclusions.filter((x) => String(x.outage_id) === o.id)) {
        const to = e.ends_at ? new Date(e.ends_at).getTime() : span.to;
        add(
          { from: new Date(e.starts_at).getTime(), to },
          { reason: e.reason as ExclusionReason, source: 'exclusion', notes: e.notes, exclusionId: String(e.id) },
        );
      }
      for (const m of scheduled.maintenance) add(m, { reason: 3, source: 'maintenance_window', notes: m.notes });
      for (const c of scheduled.closed)
        add(c, { reason: 6, source: 'opening_hours', notes: 'outside published hours' });
      parts.sort((a, b) => a.from - b.from);
      const excludedMs = parts.reduce((s, p) => s + (p.to - p.from), 0);
      return {
        ...o,
        minutes: Math.max(0, span.to - span.from) / MINUTE_MS,
        excludedMinutes: excludedMs / MINUTE_MS,
        excludedParts: parts,
      };
    });
  }

  private async scheduledExclusions(
    stationId: string,
    window: Interval,
  ): Promise<{ maintenance: (Interval & { notes: string | null })[]; closed: Interval[] }> {
    const location = await this.db
      .selectFrom('uptime_station_locations')
      .selectAll()
      .where('station_id', '=', stationId)
      .executeTakeFirst();
    const locationId = location?.location_id ?? null;
    const windows = await this.db
      .selectFrom('uptime_maintenance_windows')
      .selectAll()
      .where((eb) =>
        eb.or([eb('station_id', '=', stationId), ...(locationId ? [eb('location_id', '=', locationId)] : [])]),
      )
      .where('starts_at', '<', new Date(window.to))
      .where('ends_at', '>', new Date(window.from))
      .execute();
    const hours = await this.db
      .selectFrom('uptime_opening_hours')
      .selectAll()
      .where((eb) =>
        eb.or([eb('station_id', '=', stationId), ...(locationId ? [eb('location_id', '=', locationId)] : [])]),
      )
      .execute();
    // Hours set on the station itself win over its location's.
    const own = hours.find((h) => h.station_id === stationId) ?? hours[0];
    return {
      maintenance: windows.map((w) => ({
        from: new Date(w.starts_at).getTime(),
        to: new Date(w.ends_at).getTime(),
        notes: w.notes,
      })),
      closed: own ? closedIntervals(own.spans, own.time_zone, window) : [],
    };
  }

  /** T_outage, T_excluded and μ for a port over a window (525600 for NEVI's trailing year, else its length). */
  async portUptime(port: Port, window: Interval, baseMinutes?: number): Promise<PortUptime> {
    const now = this.clock.now();
    const details = await this.outageDetails(port, window, now);
    const outageIntervals = details.map((d) => ({
      from: d.startedAt.getTime(),
      to: d.endedAt ? d.endedAt.getTime() : now,
    }));
    const excluded = details.flatMap((d) => d.excludedParts);
    const figure = uptimeOver(outageIntervals, excluded, window, baseMinutes);
    return { ...port, ...figure, belowTarget: figure.uptime < UPTIME_TARGET };
  }

  /** NEVI uptime for the month (trailing twelve months ending with it), every port of the given stations. */
  async monthlyUptime(year: number, month: number, stationIds?: string[]): Promise<PortUptime[]> {
    const window = trailingTwelveMonths(year, month);
    const ids = stationIds ?? (await this.knownStations());
    const out: PortUptime[] = [];
    for (const stationId of ids) {
      for (const port of await stationPorts(this.db, stationId)) {
        out.push(await this.portUptime({ stationId, ...port }, window, MINUTES_PER_YEAR));
      }
    }
    return out;
  }

  /** Station-level figure: the mean of its ports (each port must meet 97%; the station is flagged if any does not). */
  static stationSummary(
    ports: PortUptime[],
  ): { stationId: string; uptime: number; belowTarget: boolean; ports: number }[] {
    const by = new Map<string, PortUptime[]>();
    for (const p of ports) by.set(p.stationId, [...(by.get(p.stationId) ?? []), p]);
    return [...by.entries()].map(([stationId, list]) => ({
      stationId,
      uptime: list.reduce((s, p) => s + p.uptime, 0) / list.length,
      belowTarget: list.some((p) => p.belowTarget),
      ports: list.length,
    }));
  }

  async knownStations(): Promise<string[]> {
    const rows = await this.db.selectFrom('stations').select('id').orderBy('id').execute();
    return rows.map((r) => r.id);
  }

  /** The month window helper, exposed for reports. */
  static month(year: number, month: number): Interval {
    return monthWindow(year, month);
  }
}

type OutageRow = Selectable<Database['uptime_outages']>;

/** A write a run decided on: a new outage, or a stored one whose derivation changed. */
type OutageWrite =
  | { kind: 'insert'; port: Port; derived: DerivedOutage; endedAt: Date | null }
  | {
      kind: 'update';
      id: string;
      set: Partial<Omit<OutageRow, 'id' | 'evidence'>> & { evidence: string };
      recoded: boolean;
      closes: boolean;
    };

/**
 * What storing a port's derived outages changes. An outage already running when the range starts is derived
 * clipped to the range: it is the stored one. A stored outage is written only where its derivation changed.
 */
function planPortOutages(
  port: Port,
  derived: DerivedOutage[],
  stored: OutageRow[],
  from: Date,
  live: boolean,
): OutageWrite[] {
  const writes: OutageWrite[] = [];
  for (const d of derived) {
    const match =
      stored.find((s) => new Date(s.started_at).getTime() === d.from) ??
      (d.from === from.getTime()
        ? stored.find((s) => new Date(s.started_at) < from && (s.ended_at === null || new Date(s.ended_at) > from))
        : undefined);
    const endedAt = d.open && live ? null : new Date(d.to);
    if (!match) {
      writes.push({ kind: 'insert', port, derived: d, endedAt });
      continue;
    }
    const cause = causeFor(d.causeCode);
    const corrected = match.cause_source === 'correction';
    const unchanged =
      (match.ended_at === null ? endedAt === null : endedAt?.getTime() === new Date(match.ended_at).getTime()) &&
      match.reason === d.reason &&
      match.derived_cause_code === d.causeCode &&
      sameEvidence(match.evidence, d.evidence) &&
      (corrected ||
        (match.cause_code === d.causeCode &&
          match.cause_source === d.causeSource &&
          match.responsible_party === cause.party));
    if (unchanged) continue;
    writes.push({
      kind: 'update',
      id: match.id,
      set: {
        ended_at: endedAt,
        reason: d.reason,
        derived_cause_code: d.causeCode,
        evidence: JSON.stringify(d.evidence),
        ...(corrected ? {} : { cause_code: d.causeCode, cause_source: d.causeSource, responsible_party: cause.party }),
      },
      recoded: !corrected && match.cause_code !== d.causeCode,
      closes: match.ended_at === null && endedAt !== null,
    });
  }
  return writes;
}

function sameEvidence(stored: { table: string; id: string }[], derived: { table: string; id: string }[]): boolean {
  return (
    Array.isArray(stored) &&
    stored.length === derived.length &&
    stored.every((e, i) => e.table === derived[i]!.table && String(e.id) === derived[i]!.id)
  );
}

async function applyOutageWrite(
  trx: Transaction<Database>,
  write: OutageWrite,
  updatedAt: Date,
): Promise<OutageChange[]> {
  if (write.kind === 'insert') {
    const { port, derived: d, endedAt } = write;
    const row = await trx
      .insertInto('uptime_outages')
      .values({
        station_id: port.stationId,
        evse_id: port.evseId,
        connector_id: port.connectorId,
        started_at: new Date(d.from),
        ended_at: endedAt,
        reason: d.reason,
        cause_code: d.causeCode,
        cause_source: d.causeSource,
        responsible_party: causeFor(d.causeCode).party,
        derived_cause_code: d.causeCode,
        evidence: JSON.stringify(d.evidence),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const changes: OutageChange[] = [{ kind: 'opened', outage: toOutage(row) }];
    if (endedAt) changes.push({ kind: 'closed', outage: toOutage(row) });
    return changes;
  }
  const row = await trx
    .updateTable('uptime_outages')
    .set({ ...write.set, updated_at: updatedAt })
    .where('id', '=', write.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  const changes: OutageChange[] = [];
  if (write.recoded) changes.push({ kind: 'recoded', outage: toOutage(row) });
  if (write.closes) changes.push({ kind: 'closed', outage: toOutage(row) });
  return changes;
}

export class UptimeError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

function requireTimeZone(timeZone: string): void {
  if (!isValidTimeZone(timeZone)) throw new UptimeError('timeZone', `unknown time zone ${timeZone}`);
}

function validateSpans(spans: OpeningSpan[]): void {
  const time = /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/;
  for (const s of spans) {
    if (!Number.isInteger(s.day) || s.day < 1 || s.day > 7)
      throw new UptimeError('spans.day', 'day is 1 (Monday) to 7');
    if (!time.test(s.open) || !time.test(s.close)) throw new UptimeError('spans', 'times are HH:MM');
    if (s.close <= s.open) throw new UptimeError('spans', 'close must be after open');
  }
}

function falseExpr() {
  return sql<boolean>`false`;
}

function toOutage(row: {
  id: string;
  station_id: string;
  evse_id: number;
  connector_id: number;
  started_at: Date;
  ended_at: Date | null;
  reason: string;
  cause_code: string;
  cause_source: string;
  responsible_party: string;
  derived_cause_code: string;
  evidence: { table: string; id: string }[];
}): Outage {
  return {
    id: String(row.id),
    stationId: row.station_id,
    evseId: row.evse_id,
    connectorId: row.connector_id,
    startedAt: new Date(row.started_at),
    endedAt: row.ended_at ? new Date(row.ended_at) : null,
    reason: row.reason,
    causeCode: row.cause_code,
    causeSource: row.cause_source,
    responsibleParty: row.responsible_party,
    derivedCauseCode: row.derived_cause_code,
    evidence: row.evidence,
  };
}
