// Live events as Server-Sent Events at /api/v1/events: every type the domain event bus publishes (connections,
// boots, connector status, station events and faults, transactions, command results), each filtered by what
// the caller may see. Browsers read it with EventSource; anything else reads `event:`/`data:` lines. A stream
// lives only as long as its credential: it is checked again every few seconds and the stream ends once the key
// is revoked or the user disabled. Streams are capped per key (or user) and in all, since each one costs memory
// and a write per event.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ALL_ROLES, authorize, bearerOf, principalOf } from './auth.ts';
import { canSee, visibleStations, type Visible } from './scope.ts';
import { StationId, errorResponses } from './schemas.ts';
import { ApiError } from './errors.ts';
import { DOMAIN_EVENT_TYPES, type DomainEvent } from '../events/bus.ts';

export interface EventStreamOptions {
  /** How often an open stream's credential is checked again (and a site host's stations re-read), ms. */
  recheckMs?: number;
  /** Open streams per API key or user. */
  maxPerPrincipal?: number;
  /** Open streams in all. */
  maxTotal?: number;
}

const KEEPALIVE_MS = 15_000;
/** A client this far behind is not reading: it is dropped (EventSource reconnects) rather than buffered for. */
const MAX_BUFFERED_BYTES = 256 * 1024;

interface Stream {
  /** The serialized event, written if the caller wants it and may see it. */
  offer(event: DomainEvent, data: string): void;
  end(): void;
}

export function registerEventStream(root: FastifyInstance, options: EventStreamOptions = {}): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const recheckMs = options.recheckMs || 5000;
  const maxPerPrincipal = options.maxPerPrincipal ?? 5;
  const maxTotal = options.maxTotal ?? 100;
  const open = new Set<Stream>();
  const openBy = new Map<string, number>();
  // One subscription for all streams: each event is serialized once, however many streams are open.
  root.api.events.subscribe((event) => {
    if (open.size === 0) return;
    const data = JSON.stringify(event);
    for (const stream of open) stream.offer(event, data);
  });
  // Server shutdown: end the streams first, or closing would wait for clients that never hang up.
  root.addHook('preClose', async () => {
    for (const stream of [...open]) stream.end();
  });
  app.get(
    '/api/v1/events',
    {
      preHandler: authorize(...ALL_ROLES),
      schema: {
        tags: ['events'],
        summary: "Live events (text/event-stream), filtered by the caller's rights",
        description:
          `Event types: ${DOMAIN_EVENT_TYPES.join(', ')}. Each message has \`event: <type>\` and \`data: <JSON>\`. ` +
          `At most ${maxPerPrincipal} open streams per key or user (429 beyond); a stream ends when its credential ` +
          'is revoked or expires.',
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
      const secret = bearerOf(req)!;
      const wanted = req.query.types ? new Set(req.query.types.split(',').filter(Boolean)) : undefined;
      for (const t of wanted ?? []) {
        if (!(DOMAIN_EVENT_TYPES as readonly string[]).includes(t)) {
          throw new ApiError(400, 'validation_failed', `querystring.types: unknown event type ${t}`);
        }
      }
      const owner = `${principal.kind}:${principal.id}`;
      if ((openBy.get(owner) ?? 0) >= maxPerPrincipal) {
        throw new ApiError(
          429,
          'too_many_streams',
          `this credential has ${maxPerPrincipal} event streams open already`,
        );
      }
      if (open.size >= maxTotal) throw new ApiError(429, 'too_many_streams', 'too many event streams are open');
      let visible: Visible = await visibleStations(principal);
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
      let checking = false;
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
      // The credential may be revoked, expire, or its user be disabled or change role after the stream opened.
      const recheck = setInterval(async () => {
        if (checking) return;
        checking = true;
        try {
          const actor = await root.api.access.authenticate(secret);
          if (!actor || actor.role !== principal.role || actor.organisationId !== principal.organisationId) {
            return stream.end();
          }
          if (visible !== 'all') visible = await visibleStations(principal);
        } catch (err) {
          req.log.warn({ err }, 'could not check an event stream credential again; the next check will');
        } finally {
          checking = false;
        }
      }, recheckMs);
      keepalive.unref();
      recheck.unref();
      const stop = () => {
        if (!open.delete(stream)) return;
        clearInterval(keepalive);
        clearInterval(recheck);
        const left = (openBy.get(owner) ?? 1) - 1;
        if (left > 0) openBy.set(owner, left);
        else openBy.delete(owner);
      };
      const stream: Stream = {
        offer(event, data) {
          if (wanted && !wanted.has(event.type)) return;
          if (req.query.stationId && event.stationId !== req.query.stationId) return;
          if (hideTransactions && event.type.startsWith('transaction.')) return;
          if (!canSee(visible, event.stationId)) return;
          if (res.writableLength > MAX_BUFFERED_BYTES) return stream.end();
          res.write(`id: ${++seq}\nevent: ${event.type}\ndata: ${data}\n\n`);
        },
        end() {
          stop();
          res.end();
        },
      };
      open.add(stream);
      openBy.set(owner, (openBy.get(owner) ?? 0) + 1);
      req.raw.on('close', stop);
      res.on('error', stop);
    },
  );
}
