// What the OCPP edge may call: the domain services, nothing else. Handlers receive the station id and a
// schema-valid payload, call the domain with version-neutral values and build the version's answer.
import type { StationsService } from '../stations/service.ts';
import type { SessionsService } from '../sessions/service.ts';
import type { Logger } from '../observability/log.ts';
import type { BootDecision, StationEvent, StationEventKind } from '../stations/model.ts';
import type { ChargerClock } from './charger-clock.ts';

export interface EdgeContext {
  stations: StationsService;
  sessions: SessionsService;
  log: Logger;
  /** Receipt times, and the charger's timestamps bounded by them (see charger-clock.ts). */
  clock: ChargerClock;
}

export type ActionHandler = (ctx: EdgeContext, stationId: string, payload: any) => Promise<unknown>;

/** The charger-initiated actions a version handles, each with its handler. */
export type HandlerTable = Readonly<Record<string, ActionHandler>>;

/**
 * A version's handlers, each answering only once the clock faults its message revealed are stored, like everything
 * else the message changed.
 */
export function answeringAfterClockFaults(handlers: Record<string, ActionHandler>): HandlerTable {
  const table: Record<string, ActionHandler> = {};
  for (const [action, handle] of Object.entries(handlers)) {
    table[action] = async (ctx, stationId, payload) => {
      const answer = await handle(ctx, stationId, payload);
      const recording = ctx.clock.settled(stationId);
      if (recording) await recording;
      return answer;
    };
  }
  return table;
}

/** The BootNotification answer; both versions spell it the same way. */
export function bootAnswer(decision: BootDecision) {
  return {
    status: decision.status === 'accepted' ? 'Accepted' : decision.status === 'pending' ? 'Pending' : 'Rejected',
    currentTime: decision.currentTime.toISOString(),
    interval: decision.intervalS,
  };
}

/** A handler that records the message as a charger event and answers with an empty (or given) payload. */
export function recordOnly(
  kind: StationEventKind,
  describe: (p: any) => Partial<StationEvent> = () => ({}),
  answer: Record<string, unknown> = {},
): ActionHandler {
  return async (ctx, stationId, p) => {
    await ctx.stations.recordEvent(stationId, { kind, timestamp: ctx.clock.now(), payload: p, ...describe(p) });
    return answer;
  };
}

/** Status notifications of uploads and firmware: the status word, and the request they answer when given. */
export const requestStatus = (p: any): Partial<StationEvent> => ({
  info: p.status,
  eventRef: p.requestId !== undefined ? String(p.requestId) : undefined,
});

/** SecurityEventNotification: the same message in 1.6 (security extension) and 2.0.1. */
export const securityEvent: ActionHandler = async (ctx, stationId, p) => {
  await ctx.stations.recordEvent(stationId, {
    kind: 'security',
    eventRef: p.type,
    info: p.techInfo,
    timestamp: ctx.clock.timestampOf(stationId, p.timestamp),
    payload: p,
  });
  return {};
};
