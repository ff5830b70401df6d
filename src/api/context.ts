// What the API's routes are given: storage, the domain services and the live connection state. Decorated
// onto the Fastify instance as `app.api` so shared helpers (audit, scope) can reach it from a request.
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { AccessService } from '../access/service.ts';
import type { StationsService } from '../stations/service.ts';
import type { SessionsService } from '../sessions/service.ts';
import type { CommandService } from '../stations/commands.ts';
import type { EventBus } from '../events/bus.ts';
import type { Role } from '../access/tables.ts';

export interface ApiContext {
  db: Kysely<Database>;
  access: AccessService;
  stations: StationsService;
  sessions: SessionsService;
  commands: CommandService;
  events: EventBus;
  isConnected: (stationId: string) => boolean;
}

export interface Principal {
  kind: 'user' | 'api_key';
  id: string;
  name: string;
  role: Role;
  organisationId: string | null;
}

declare module 'fastify' {
  interface FastifyInstance {
    api: ApiContext;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}
