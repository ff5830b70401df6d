// Live events as Server-Sent Events at /api/v1/events: connector status, station events and faults,
// transaction start/update/end and command results from the domain event bus, each filtered by what the
// caller may see. Browsers read it with EventSource; anything else reads `event:`/`data:` lines.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ALL_ROLES, authorize, principalOf } from './auth.ts';
import { canSee, visibleStations, type Visible } from './scope.ts';
import { StationId, errorResponses } from './schemas.ts';
import { ApiError } from './errors.ts';
import type { DomainEvent } from '../events/bus.ts';

const TYPES = [
  'station.connected',
  'station.disconnected',
  'station.booted',
  'connector.status',
  'station.event',
  'transaction.started',
  'transaction.updated',
  'transaction.ended',
  'command.completed',
] as const;

/** How often a site host's station list is re-read, so newly placed stations appear in its stream. */
const SCOPE_REFRESH_MS = 30_000;
const KEEPALIVE_MS = 15_000;
const MAX_BUFFERED_BYTES = 1024 * 1024;

export function registerEventStream(root: FastifyInstance): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const open = new Set<() => void>();
  // Server shutdown: end the streams first, or closing would wait for clients that never hang up.
  root.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });
  app.get(
    '/api/v1/events',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['events'],
        summary: "Live events (text/event-stream), filtered by the caller's rights",
        description: `Event types: ${TYPES.join(', ')}. Each message has \`event: <type>\` and \`data: <JSON>\`.`,
        querystring: Type.Object(
          {
            types: Type.Optional(
              Type.String({ pattern: '^[a-z.,]{1,400}$', description: 'comma-separated event types' }),
            ),
            stationId: Type.Optional(StationId),
          },
          { additionalProperties: false },
        ),
        produces: ['text/event-stream'],
        response: { 200: Type.String({ description: 'text/event-stream' }), ...errorResponses() },
      },
    },
    async (req, reply) => {
      const principal = principalOf(req);
      const wanted = req.query.types ? new Set(req.query.types.split(',').filter(Boolean)) : undefined;
      for (const t of wanted ?? []) {
        if (!(TYPES as readonly string[]).includes(t)) {
          throw new ApiError(400, 'validation_failed', `querystring.types: unknown event type ${t}`);
        }
      }
      let visible: Visible = await visibleStations(principal);
      let visibleAt = Date.now();
      // Technicians fix hardware; transactions carry drivers' tokens, which they do not read.
      const hideTransactions = principal.role === 'technician';

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(': connected\n\n');
      let seq = 0;
      const send = (event: DomainEvent) => {
        if (wanted && !wanted.has(event.type)) return;
        if (req.query.stationId && event.stationId !== req.query.stationId) return;
        if (hideTransactions && event.type.startsWith('transaction.')) return;
        if (!canSee(visible, event.stationId)) return;
        // A client that does not read would make us buffer without end: drop it; EventSource reconnects.
        if (res.writableLength > MAX_BUFFERED_BYTES) return end();
        res.write(`id: ${++seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      };
      const unsubscribe = root.api.events.subscribe(async (event) => {
        if (visible !== 'all' && Date.now() - visibleAt > SCOPE_REFRESH_MS) {
          visibleAt = Date.now();
          visible = await visibleStations(principal);
        }
        send(event);
      });
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
      keepalive.unref();
      const stop = () => {
        clearInterval(keepalive);
        unsubscribe();
        open.delete(end);
      };
      const end = () => {
        stop();
        res.end();
      };
      open.add(end);
      req.raw.on('close', stop);
      res.on('error', stop);
    },
  );
}
