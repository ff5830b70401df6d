// The operator REST API under /api/v1: validation, errors, CORS, rate limits, OpenAPI documentation and
// authentication, then each feature's routes. Called once from app.ts, before any other feature registers
// routes, so every route gets documented and authenticated the same way.
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import { ApiError, installErrorHandling } from './errors.ts';
import { installValidation } from './validation.ts';
import { installIdempotency } from './idempotency.ts';
import { bearerOf, installAuthentication } from './auth.ts';
import { digest } from '../access/service.ts';
import type { ApiContext } from './context.ts';
import { registerStationRoutes } from './stations.ts';
import { registerTransactionRoutes } from './transactions.ts';
import { registerAccessRoutes } from './access.ts';
import { registerCommandRoutes } from './commands.ts';
import { registerEventStream, type EventStreamOptions } from './events.ts';
import { registerAssetRoutes } from './assets.ts';
import { registerTokenRoutes } from './tokens.ts';
import { AssetsService } from '../assets/service.ts';

export interface ApiOptions {
  /** Requests per minute per API key (or per address without one). */
  rateLimitPerMinute?: number;
  /** Login attempts per minute per address. */
  loginLimitPerMinute?: number;
  /** Origins allowed to call from a browser; none by default. */
  corsOrigins?: string[];
  /** Caps on live event streams, and how often their credentials are checked again. */
  eventStreams?: EventStreamOptions;
}

export function apiOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ApiOptions {
  const n = (v: string | undefined) => (v && /^\d+$/.test(v) ? Number(v) : undefined);
  return {
    rateLimitPerMinute: n(env.OPENCPO_API_RATE_LIMIT),
    loginLimitPerMinute: n(env.OPENCPO_LOGIN_RATE_LIMIT),
    corsOrigins: env.OPENCPO_CORS_ORIGINS ? env.OPENCPO_CORS_ORIGINS.split(',').map((s) => s.trim()) : [],
    eventStreams: {
      maxPerPrincipal: n(env.OPENCPO_EVENT_STREAMS_PER_KEY),
      maxTotal: n(env.OPENCPO_EVENT_STREAMS_MAX),
      recheckMs: n(env.OPENCPO_EVENT_STREAM_RECHECK_MS),
    },
  };
}

export async function registerApi(app: FastifyInstance, context: ApiContext, options: ApiOptions = {}): Promise<void> {
  app.decorate('api', context);
  installValidation(app);
  installIdempotency(app);
  installErrorHandling(app);
  // Closed unless origins are configured: a browser page elsewhere cannot use an operator's session.
  // An allowed origin may use every method the API has (the plugin's default is GET, HEAD and POST only).
  await app.register(cors, {
    origin: options.corsOrigins?.length ? options.corsOrigins : false,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
  });
  // Requests are counted per key once the key has proved valid; anything else (no credential, unknown or
  // made-up keys) per address, so rotating random keys does not escape the limit.
  const validKeys = new Set<string>();
  const rememberValid = (secret: string) => {
    if (validKeys.size >= 100_000) validKeys.clear();
    validKeys.add(digest(secret));
  };
  await app.register(rateLimit, {
    global: true,
    max: options.rateLimitPerMinute ?? 1200,
    timeWindow: 60_000,
    keyGenerator: (req) => {
      const secret = bearerOf(req);
      const hash = secret ? digest(secret) : undefined;
      return hash && validKeys.has(hash) ? `key:${hash}` : `ip:${req.ip}`;
    },
    errorResponseBuilder: (_req, ctx) =>
      new ApiError(429, 'rate_limited', `too many requests; retry in ${Math.ceil(ctx.ttl / 1000)} s`, {
        limit: ctx.max,
      }),
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'OpenCPO operator API',
        version: '1.0.0',
        description: 'Assets, id tokens, remote commands, reads, live events, users, keys and the audit log.',
      },
      tags: [
        { name: 'stations', description: 'Stations, live state, status timelines, events, faults, device model' },
        { name: 'assets', description: 'Organisations, locations, station registration and connectors' },
        { name: 'transactions', description: 'Charging sessions with meter samples; CSV export' },
        { name: 'id tokens', description: 'RFID cards and other tokens; CSV import; local lists' },
        { name: 'commands', description: 'Remote commands: the charger answers, or 409 offline, 504 timeout' },
        { name: 'events', description: 'Live Server-Sent Events' },
        { name: 'access', description: 'Login, users, API keys and the audit log' },
      ],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/v1/docs' });
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  installAuthentication(app, { onAuthenticated: rememberValid });
  // API answers carry operators' data: never cached by a shared proxy, never sniffed into another type.
  app.addHook('onSend', async (req, reply, payload) => {
    if (req.url.startsWith('/api/v1/') && !req.url.startsWith('/api/v1/docs')) {
      reply.header('cache-control', 'no-store');
      reply.header('x-content-type-options', 'nosniff');
    }
    return payload;
  });

  registerStationRoutes(app);
  registerAssetRoutes(app, new AssetsService(context.db, context.stations));
  registerTransactionRoutes(app);
  registerTokenRoutes(app);
  registerAccessRoutes(app, { loginLimitPerMinute: options.loginLimitPerMinute ?? 10 });
  registerCommandRoutes(app);
  registerEventStream(app, options.eventStreams);
}
