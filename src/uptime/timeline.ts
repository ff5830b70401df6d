// The availability timeline of one port (station, EVSE, connector), derived purely from stored evidence:
// status reports, fault events (1.6 faults and 2.0.1 NotifyEvent), connection loss and return, boots and
// sessions. The result is gap-free over the requested range: every instant is up, down (with the reason and
// the evidence that made it so) or unknown (before anything was heard from the port). Outages are the
// maximal runs of down segments, each with a cause: the ChargeX code the charger sent, else one derived from
// the OCPP error code or the situation. No I/O here, so the figures an auditor sees can be recomputed from
// the same rows by anyone.
import { causeFor, causeFromOcppError, isChargeXCode, type CauseSource, type ResponsibleParty } from './cause-codes.ts';

export interface EvidenceRef {
  table: 'connector_status' | 'station_events' | 'transactions';
  id: string;
}

export type Evidence =
  | {
      kind: 'status';
      ref: EvidenceRef;
      at: number;
      evseId: number;
      connectorId: number;
      status: string;
      errorCode?: string | null;
      vendorId?: string | null;
      vendorErrorCode?: string | null;
    }
  | {
      kind: 'fault';
      ref: EvidenceRef;
      at: number;
      evseId: number | null;
      connectorId: number | null;
      /** 1.6 vendorErrorCode or 2.0.1 techCode. */
      code: string | null;
      errorCode: string | null;
      cleared: boolean;
    }
  | { kind: 'connection'; ref: EvidenceRef; at: number; connected: boolean }
  | { kind: 'boot'; ref: EvidenceRef; at: number }
  | {
      kind: 'session';
      ref: EvidenceRef;
      at: number;
      evseId: number;
      connectorId: number;
      /** Energy flowed. */
      success: boolean;
    };

export interface PortAddress {
  evseId: number;
  connectorId: number;
}

export interface TimelineOptions {
  /** A connection loss shorter than this is not downtime. */
  offlineGraceMs: number;
  /** This many boots, each within `bootLoopWindowMs` of the previous, is a boot loop. */
  bootLoopCount: number;
  bootLoopWindowMs: number;
  /** This many consecutive sessions without energy make the port down until one succeeds. */
  failedSessionCount: number;
  /** The present: conditions still pending (a recent disconnect within the grace) are judged against it. */
  now: number;
}

export const DEFAULT_TIMELINE_OPTIONS: Omit<TimelineOptions, 'now'> = {
  offlineGraceMs: 5 * 60_000,
  bootLoopCount: 3,
  bootLoopWindowMs: 10 * 60_000,
  failedSessionCount: 3,
};

export type DownReason =
  'offline' | 'boot_loop' | 'station_faulted' | 'station_unavailable' | 'faulted' | 'unavailable' | 'failed_sessions';

/** Lower wins when several conditions hold at once: the most fundamental explanation first. */
const PRIORITY: Record<DownReason, number> = {
  offline: 1,
  boot_loop: 2,
  station_faulted: 3,
  station_unavailable: 4,
  faulted: 5,
  unavailable: 6,
  failed_sessions: 7,
};

export interface Segment {
  from: number;
  to: number;
  state: 'up' | 'down' | 'unknown';
  reason?: DownReason;
  /** The port status in effect, when known. */
  status?: string;
  /** The row that put the port in this state. */
  evidence: EvidenceRef | null;
}

export interface DerivedOutage {
  from: number;
  /** End of the outage; equals the range end when `open`. */
  to: number;
  open: boolean;
  reason: DownReason;
  causeCode: string;
  causeSource: CauseSource;
  party: ResponsibleParty;
  evidence: EvidenceRef[];
}

interface Condition {
  from: number;
  to: number;
  reason: DownReason;
  evidence: EvidenceRef;
  endEvidence: EvidenceRef | null;
  errorCode?: string | null;
  vendorErrorCode?: string | null;
}

const DOWN_STATUSES = new Set(['faulted', 'unavailable', 'offline']);

function matchesPort(evseId: number | null, connectorId: number | null, port: PortAddress): boolean {
  if (evseId === null || evseId === 0) return true; // the charger as a whole
  if (evseId !== port.evseId) return false;
  return connectorId === null || connectorId === port.connectorId;
}

/** The gap-free timeline of one port over [from, to) and its outages. Evidence may be of the whole station. */
export function analysePort(
  evidence: Evidence[],
  port: PortAddress,
  from: number,
  to: number,
  options: TimelineOptions,
): { segments: Segment[]; outages: DerivedOutage[] } {
  const sorted = [...evidence].sort((a, b) => a.at - b.at || Number(a.ref.id) - Number(b.ref.id));
  const { segments, conditions } = timeline(sorted, port, from, to, options);
  return { segments, outages: deriveOutages(segments, conditions, sorted, port, to) };
}

/** The gap-free timeline of one port over [from, to). */
export function buildTimeline(
  evidence: Evidence[],
  port: PortAddress,
  from: number,
  to: number,
  options: TimelineOptions,
): Segment[] {
  return analysePort(evidence, port, from, to, options).segments;
}

function timeline(
  sorted: Evidence[],
  port: PortAddress,
  from: number,
  to: number,
  options: TimelineOptions,
): { segments: Segment[]; conditions: Condition[] } {
  const conditions: Condition[] = [];

  // Port status: each report holds until the next one.
  const portStatuses = sorted.filter(
    (e): e is Extract<Evidence, { kind: 'status' }> =>
      e.kind === 'status' && e.evseId === port.evseId && e.connectorId === port.connectorId,
  );
  for (let i = 0; i < portStatuses.length; i++) {
    const s = portStatuses[i]!;
    const next = portStatuses[i + 1];
    if (!DOWN_STATUSES.has(s.status)) continue;
    const reason: DownReason = s.status === 'faulted' ? 'faulted' : s.status === 'offline' ? 'offline' : 'unavailable';
    conditions.push({
      from: s.at,
      to: next ? next.at : Infinity,
      reason,
      evidence: s.ref,
      endEvidence: next?.ref ?? null,
      errorCode: s.errorCode ?? null,
      vendorErrorCode: s.vendorErrorCode ?? null,
    });
  }

  // Charger-wide status (1.6 connectorId 0): only its Faulted/Unavailable say something about the ports.
  const stationStatuses = sorted.filter(
    (e): e is Extract<Evidence, { kind: 'status' }> => e.kind === 'status' && e.evseId === 0,
  );
  if (port.evseId !== 0) {
    for (let i = 0; i < stationStatuses.length; i++) {
      const s = stationStatuses[i]!;
      const next = stationStatuses[i + 1];
      if (s.status !== 'faulted' && s.status !== 'unavailable') continue;
      conditions.push({
        from: s.at,
        to: next ? next.at : Infinity,
        reason: s.status === 'faulted' ? 'station_faulted' : 'station_unavailable',
        evidence: s.ref,
        endEvidence: next?.ref ?? null,
        errorCode: s.errorCode ?? null,
        vendorErrorCode: s.vendorErrorCode ?? null,
      });
    }
  }

  // Connection loss longer than the grace period. A disconnect still within the grace is not yet downtime.
  let lostAt: Extract<Evidence, { kind: 'connection' }> | undefined;
  for (const e of sorted) {
    if (e.kind !== 'connection') continue;
    if (!e.connected) {
      lostAt ??= e;
    } else if (lostAt) {
      if (e.at - lostAt.at > options.offlineGraceMs) {
        conditions.push({ from: lostAt.at, to: e.at, reason: 'offline', evidence: lostAt.ref, endEvidence: e.ref });
      }
      lostAt = undefined;
    }
  }
  if (lostAt && options.now - lostAt.at > options.offlineGraceMs) {
    conditions.push({ from: lostAt.at, to: Infinity, reason: 'offline', evidence: lostAt.ref, endEvidence: null });
  }

  // Boot loops: a run of boots each close to the previous one. Down from the first boot to the last; while
  // the last is recent, the loop may still be going, so it stays open.
  const boots = sorted.filter((e) => e.kind === 'boot');
  for (let i = 0; i < boots.length;) {
    let j = i;
    while (j + 1 < boots.length && boots[j + 1]!.at - boots[j]!.at <= options.bootLoopWindowMs) j++;
    if (j - i + 1 >= options.bootLoopCount) {
      const last = boots[j]!;
      const stillLooping = options.now - last.at <= options.bootLoopWindowMs;
      conditions.push({
        from: boots[i]!.at,
        to: stillLooping ? Infinity : last.at,
        reason: 'boot_loop',
        evidence: boots[i]!.ref,
        endEvidence: stillLooping ? null : last.ref,
      });
    }
    i = j + 1;
  }

  // Repeated failed sessions: down from the first failure of the run until a session delivers energy.
  const sessions = sorted.filter(
    (e): e is Extract<Evidence, { kind: 'session' }> =>
      e.kind === 'session' && e.evseId === port.evseId && e.connectorId === port.connectorId,
  );
  for (let i = 0; i < sessions.length;) {
    if (sessions[i]!.success) {
      i++;
      continue;
    }
    let j = i;
    while (j + 1 < sessions.length && !sessions[j + 1]!.success) j++;
    if (j - i + 1 >= options.failedSessionCount) {
      const nextSuccess = sessions[j + 1];
      conditions.push({
        from: sessions[i]!.at,
        to: nextSuccess ? nextSuccess.at : Infinity,
        reason: 'failed_sessions',
        evidence: sessions[i]!.ref,
        endEvidence: nextSuccess?.ref ?? null,
      });
    }
    i = j + 1;
  }

  // Where the port's state is known: from its first status report (or first sign of the charger) on.
  const firstKnown = Math.min(
    portStatuses[0]?.at ?? Infinity,
    conditions.reduce((m, c) => Math.min(m, c.from), Infinity),
  );

  const points = new Set<number>([from, to]);
  for (const c of conditions) {
    if (c.from > from && c.from < to) points.add(c.from);
    if (c.to > from && c.to < to) points.add(c.to);
  }
  for (const s of portStatuses) if (s.at > from && s.at < to) points.add(s.at);
  if (firstKnown > from && firstKnown < to) points.add(firstKnown);
  const cuts = [...points].sort((a, b) => a - b);

  const segments: Segment[] = [];
  let statusIndex = -1;
  for (let k = 0; k + 1 < cuts.length; k++) {
    const a = cuts[k]!;
    const b = cuts[k + 1]!;
    while (statusIndex + 1 < portStatuses.length && portStatuses[statusIndex + 1]!.at <= a) statusIndex++;
    const status = statusIndex >= 0 ? portStatuses[statusIndex] : undefined;
    let top: Condition | undefined;
    for (const c of conditions) {
      if (c.from <= a && c.to > a && (!top || PRIORITY[c.reason] < PRIORITY[top.reason])) top = c;
    }
    let segment: Segment;
    if (top) {
      segment = { from: a, to: b, state: 'down', reason: top.reason, evidence: top.evidence };
    } else if (a >= firstKnown) {
      // Up: the evidence is what ended the last condition at this instant, else the status in effect.
      const ended = conditions.find((c) => c.to === a && c.endEvidence);
      segment = { from: a, to: b, state: 'up', evidence: ended?.endEvidence ?? status?.ref ?? null };
    } else {
      segment = { from: a, to: b, state: 'unknown', evidence: null };
    }
    if (status) segment.status = status.status;
    const prev = segments[segments.length - 1];
    if (
      prev &&
      prev.state === segment.state &&
      prev.reason === segment.reason &&
      prev.status === segment.status &&
      sameRef(prev.evidence, segment.evidence)
    ) {
      prev.to = b;
    } else {
      segments.push(segment);
    }
  }
  return { segments, conditions };
}

function sameRef(a: EvidenceRef | null, b: EvidenceRef | null): boolean {
  return a === b || (a !== null && b !== null && a.table === b.table && a.id === b.id);
}

/** How far before an outage a charger's fault message may arrive and still explain it (2.0.1 sends the event first). */
const CAUSE_LEAD_MS = 60_000;

/** Outages: maximal runs of down segments, each with its cause and responsible party. */
function deriveOutages(
  segments: Segment[],
  conditions: Condition[],
  evidence: Evidence[],
  port: PortAddress,
  rangeEnd: number,
): DerivedOutage[] {
  const outages: DerivedOutage[] = [];
  for (let i = 0; i < segments.length; i++) {
    if (segments[i]!.state !== 'down') continue;
    let j = i;
    while (j + 1 < segments.length && segments[j + 1]!.state === 'down') j++;
    const first = segments[i]!;
    const last = segments[j]!;
    const refs: EvidenceRef[] = [];
    for (let k = i; k <= j; k++) {
      const ref = segments[k]!.evidence;
      if (ref && !refs.some((r) => sameRef(r, ref))) refs.push(ref);
    }
    const open = last.to === rangeEnd && conditions.some((c) => c.from < rangeEnd && c.to === Infinity);
    const cause = attributeCause(first, last.to, evidence, conditions, port);
    if (cause.ref && !refs.some((r) => sameRef(r, cause.ref!))) refs.push(cause.ref);
    outages.push({
      from: first.from,
      to: last.to,
      open,
      reason: first.reason!,
      causeCode: cause.code,
      causeSource: cause.source,
      party: causeFor(cause.code).party,
      evidence: refs,
    });
    i = j;
  }
  return outages;
}

function attributeCause(
  first: Segment,
  end: number,
  evidence: Evidence[],
  conditions: Condition[],
  port: PortAddress,
): { code: string; source: CauseSource; ref?: EvidenceRef } {
  // 1. A ChargeX code the charger sent for this port around the outage (1.6 vendorErrorCode, 2.0.1 techCode).
  const sent = evidence
    .filter((e) => e.at >= first.from - CAUSE_LEAD_MS && e.at < end)
    .filter((e) => {
      if (e.kind === 'status') return matchesPort(e.evseId, e.connectorId, port) && isChargeXCode(e.vendorErrorCode);
      if (e.kind === 'fault') return !e.cleared && matchesPort(e.evseId, e.connectorId, port) && isChargeXCode(e.code);
      return false;
    })
    .sort((a, b) => a.at - b.at)[0];
  if (sent) {
    const code = sent.kind === 'status' ? sent.vendorErrorCode! : (sent as { code: string }).code;
    return { code, source: 'charger_mrec', ref: sent.ref };
  }
  // 2. The OCPP error code of the report that opened it.
  const opening = conditions.find((c) => sameRef(c.evidence, first.evidence));
  const fromError = causeFromOcppError(opening?.errorCode);
  if (fromError) return { code: fromError, source: 'ocpp_error' };
  // 3. The situation.
  const situation: Record<DownReason, string> = {
    offline: 'OFFLINE',
    boot_loop: 'BOOT_LOOP',
    station_faulted: 'FAULTED',
    station_unavailable: 'UNAVAILABLE',
    faulted: 'FAULTED',
    unavailable: 'UNAVAILABLE',
    failed_sessions: 'FAILED_SESSIONS',
  };
  return { code: situation[first.reason!], source: 'situation' };
}
