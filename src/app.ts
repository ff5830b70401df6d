// The composition root: opens storage, builds the domain services, and serves OCPP, the API, /health and
// /metrics on one port. `opencpo serve` and the tests start OpenCPO through here.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Config } from './config/config.ts';
import { systemClock, type Clock } from './time/clock.ts';
import { openDatabase, type OpenDatabase } from './storage/database.ts';
import { BatchWriter } from './storage/batch-writer.ts';
import { StationsService } from './stations/service.ts';
import { SessionsService } from './sessions/service.ts';
import { CommandService } from './stations/commands.ts';
import { OcppServer } from './ocpp/server.ts';
import { Metrics } from './observability/metrics.ts';
import { createLogger, type Logger } from './observability/log.ts';
import { Health } from './observability/health.ts';
import { ChargerClock } from './ocpp/charger-clock.ts';
// Operator REST API (issue 3).
import { apiOptionsFromEnv, registerApi } from './api/index.ts';
import { AccessService } from './access/service.ts';
import { EventBus } from './events/bus.ts';
// Uptime and field service (issue 5), and the outbox that delivers what leaves the process.
import { Outbox } from './storage/outbox.ts';
import { UptimeService } from './uptime/service.ts';
import { FieldService } from './fieldservice/service.ts';
import { smtpOptionsFromEnv } from './fieldservice/email.ts';
import { uptimeSettingsFromEnv } from './uptime/options.ts';
import { registerUptimeRoutes } from './api/uptime-routes.ts';
import { registerFieldServiceRoutes } from './api/fieldservice-routes.ts';
// Billing (issue 4): tariffs, pricing, CDRs, accounts, invoices, payments.
import { BillingService } from './billing/service.ts';
import { billingOptionsFromEnv } from './billing/options.ts';
import { StripeProvider, stripeOptionsFromEnv } from './billing/stripe.ts';
import { registerBillingRoutes } from './api/billing-routes.ts';

export interface OpenCpo {
  config: Config;
  database: OpenDatabase;
  stations: StationsService;
  sessions: SessionsService;
  commands: CommandService;
  events: EventBus;
  /** Users, API keys and the audit log (operator API). */
  access: AccessService;
  /** Outages, exclusions and NEVI uptime; alerts and work orders; the durable outbox (issue 5). */
  uptime: UptimeService;
  fieldService: FieldService;
  outbox: Outbox;
  /** Tariffs, pricing, CDRs, accounts, invoices and payments (issue 4). */
  billing: BillingService;
  ocpp: OcppServer;
  http: FastifyInstance;
  metrics: Metrics;
  log: Logger;
  /** The port actually listened on (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

/** What the composition root is given besides settings: the clock (tests pass one set to fixed instants). */
export interface Dependencies {
  clock?: Clock;
}

export async function startOpenCpo(
  config: Config,
  log: Logger = createLogger(config.logLevel),
  dependencies: Dependencies = {},
): Promise<OpenCpo> {
  const clock = dependencies.clock ?? systemClock;
  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    onConnectionLost: (err) => log.warn({ err: err.message }, 'database connection lost'),
  });
  const metrics = new Metrics();
  const writer = new BatchWriter(database.commitDb, {
    windowMs: config.batchWindowMs ?? (database.kind === 'pglite' ? 2 : 0),
    maxRows: config.batchMaxRows,
    // One flush per commit connection: rows that arrive while one runs go out on the other at once.
    maxConcurrentFlushes: database.commitConnections,
    onFlush: (rows) => {
      metrics.batchRows.observe(rows);
      metrics.rowsWritten.inc(rows);
    },
    onError: (err) => log.error({ err }, 'group commit failed; what could not be written was not acknowledged'),
  });
  const events = new EventBus((err, event) => log.error({ err, event: event.type }, 'event listener failed'));
  const stations = new StationsService(
    database.db,
    writer,
    {
      acceptUnknownStations: config.acceptUnknownStations,
      heartbeatIntervalS: config.heartbeatIntervalS,
      onError: (err) => log.error({ err }, 'could not write last-seen times'),
    },
    events,
  );
  const sessions = new SessionsService(database.db, writer, stations, events, clock);
  const commands = new CommandService(database.db, events, stations);
  await stations.markAllOffline();

  const chargerClock = new ChargerClock((stationId, event) => stations.recordEvent(stationId, event), clock);
  const ocpp = new OcppServer(
    { stations, sessions, log: log.child({ module: 'ocpp' }), clock: chargerClock },
    metrics,
    {
      maxFrameBytes: config.maxFrameBytes,
      callTimeoutMs: config.callTimeoutMs,
      pingIntervalS: config.pingIntervalS,
      authLimits: config.ocppAuthLimits,
      clock,
    },
  );
  commands.useTransport(ocpp);
  stations.useConnections(ocpp); // withdrawn admission (blocked, retired, new password) closes the socket

  // Fastify logs through ours, so an unhandled API error is logged with its cause; one line per request is not.
  const http = Fastify({
    loggerInstance: log.child({ module: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
  });
  // 503 when the database does not answer (the group commit's connections: what every charger's message needs).
  const health = new Health({ database: () => sql`SELECT 1`.execute(database.commitDb) });
  http.get('/health', async (_req, reply) => {
    const { ok, checks } = await health.report();
    reply.code(ok ? 200 : 503);
    return {
      status: ok ? 'ok' : 'unavailable',
      database: database.kind,
      connectedStations: ocpp.connectedCount,
      checks,
    };
  });
  http.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  // ---- Operator REST API (issue 3): documentation, authentication, roles, audit; registered before other
  // features' routes so theirs are documented and authenticated the same way.
  const access = new AccessService(database.db);
  await registerApi(
    http,
    { db: database.db, access, stations, sessions, commands, events, isConnected: (id) => ocpp.isConnected(id) },
    apiOptionsFromEnv(),
  );
  if (process.env.OPENCPO_BOOTSTRAP_API_KEY) {
    if (await access.ensureBootstrapKey(process.env.OPENCPO_BOOTSTRAP_API_KEY)) {
      log.info('created the admin API key given in OPENCPO_BOOTSTRAP_API_KEY');
    }
  } else if (!config.demo && !(await access.adminExists())) {
    log.warn(
      'no administrator yet: create one with `opencpo users add-admin <email>` (or start with OPENCPO_BOOTSTRAP_API_KEY set)',
    );
  }
  // ---- end of operator REST API
  // ---- Uptime and field service (issue 5): outages follow app.events; alerts, work orders and signed webhooks
  // (and e-mail when OPENCPO_SMTP_URL is set) leave through the durable outbox, so none is lost on a crash.
  const outbox = new Outbox(database.db, {
    onError: (err, m) =>
      log.warn({ err: err.message, channel: m.channel, deliveryId: m.deliveryId }, 'outbox delivery failed'),
  });
  const uptimeSettings = uptimeSettingsFromEnv(); // OPENCPO_OFFLINE_GRACE_S, _BOOT_LOOP_*, _FAILED_SESSION_COUNT…
  // Uptime and field service derive from what chargers sent; no charger waits for them: their own connections.
  const uptime = new UptimeService(database.backgroundDb, {
    ...uptimeSettings.uptime,
    clock,
    onError: (err) => log.error({ err }, 'uptime sweep failed'),
  });
  const fieldService = new FieldService(database.backgroundDb, outbox, uptime, {
    smtp: smtpOptionsFromEnv(),
    reopenWindowMs: uptimeSettings.reopenWindowMs,
    clock,
    onError: (err) => log.error({ err }, 'field-service sweep failed'),
  });
  uptime.attach(events);
  fieldService.attach(events);
  registerUptimeRoutes(http, { db: database.db, uptime, networkProvider: uptimeSettings.networkProvider });
  registerFieldServiceRoutes(http, { db: database.db, fieldService, commands });
  outbox.start();
  // ---- end of uptime and field service
  // ---- Billing (issue 4): pins a tariff when a session starts and issues its CDR when it ends (app.events);
  // sessions that ended while no node listened are priced at start.
  const billing = new BillingService(
    database.db,
    billingOptionsFromEnv(),
    (err, context) => log.error({ err }, `billing: ${context} failed`),
    clock,
  );
  const stripeOptions = stripeOptionsFromEnv(); // OPENCPO_STRIPE_SECRET_KEY (+ _API_BASE, _TIMEOUT_MS)
  if (stripeOptions) billing.usePaymentProvider(new StripeProvider(stripeOptions));
  registerBillingRoutes(http, { billing });
  billing.useCommands(commands, billing.options.costUpdateIntervalS); // CostUpdated to 2.0.1 chargers
  sessions.usePersonalMessage((stationId, token) => billing.priceMessage(stationId, token.idToken)); // price on Authorize
  await billing.start(events);
  // ---- end of billing
  ocpp.attach(http.server);
  // Chargers reconnect in bursts (after an outage, or a node restart). With Node's default backlog of 511, a
  // busy event loop let the kernel's accept queue overflow and reset connections (10,000 chargers joining at
  // 500/s: about 500 resets); a deeper queue holds them until they are accepted. The kernel caps it at
  // net.core.somaxconn.
  await http.listen({ port: config.port, host: config.host, backlog: 4096 });
  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;

  let closed = false;
  return {
    config,
    database,
    stations,
    sessions,
    commands,
    events,
    access,
    uptime,
    fieldService,
    outbox,
    billing,
    ocpp,
    http,
    metrics,
    log,
    port,
    async close() {
      if (closed) return;
      closed = true;
      await ocpp.close();
      await http.close();
      await writer.close();
      billing.stop(); // issue 4
      await billing.settled();
      await stations.close();
      await fieldService.close(); // issue 5
      await uptime.close();
      await outbox.stop();
      await database.close();
    },
  };
}
