// What the OCPP edge may call: the domain services, nothing else. Handlers receive the station id and a
// schema-valid payload, call the domain with version-neutral values and build the version's answer.
import type { StationsService } from '../stations/service.ts';
import type { SessionsService } from '../sessions/service.ts';
import type { Logger } from '../observability/log.ts';

export interface EdgeContext {
  stations: StationsService;
  sessions: SessionsService;
  log: Logger;
}

export type ActionHandler = (ctx: EdgeContext, stationId: string, payload: any) => Promise<unknown>;

/** The charger-initiated actions a version handles, each with its handler. */
export type HandlerTable = Readonly<Record<string, ActionHandler>>;

export function dateOr(value: string | undefined, fallback = new Date()): Date {
  if (!value) return fallback;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? fallback : d;
}
