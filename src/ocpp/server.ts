// The OCPP edge: accepts chargers at /ocpp/<stationId> on the shared HTTP server, negotiates the
// subprotocol (ocpp2.0.1 or ocpp1.6), checks admission and Basic auth before the WebSocket exists,
// and then routes each CALL to the handler of its version. Refused connections never reach a handler.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  RpcConnection,
  CallErrorResponse,
  CallResultInvalidError,
  CallTimeoutError,
  ConnectionClosedError,
} from './rpc/connection.ts';
import { PROTOCOLS, isProtocol, type OcppProtocol } from './rpc/protocols.ts';
import type { EdgeContext, HandlerTable } from './context.ts';
import { v16Handlers } from './v16/handlers.ts';
import { v201Handlers } from './v201/handlers.ts';
import { v16Commands } from './v16/commands.ts';
import { v201Commands } from './v201/commands.ts';
import type { CommandTranslator } from './command-translation.ts';
import {
  CommandAnswerInvalidError,
  CommandRejectedError,
  CommandTimeoutError,
  StationOfflineError,
  type CommandName,
  type CommandResult,
  type CommandTransport,
  type StationCommand,
} from '../stations/commands.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Clock } from '../time/clock.ts';
import { isStationId } from '../stations/identity.ts';
import { AuthAttemptLimiter, type AuthLimits } from './auth-limiter.ts';
import type { AdmissionResult, StationConnections } from '../stations/service.ts';

const HANDLERS: Record<OcppProtocol, HandlerTable> = { 'ocpp1.6': v16Handlers, 'ocpp2.0.1': v201Handlers };
const COMMANDS: Record<OcppProtocol, CommandTranslator> = { 'ocpp1.6': v16Commands, 'ocpp2.0.1': v201Commands };

const PATH_PREFIX = '/ocpp/';

/** The HTTP answer to each admission refusal: 401 asks for (other) credentials; 403 says none would help. */
const REFUSAL_STATUS: Record<Extract<AdmissionResult, { admitted: false }>['reason'], number> = {
  'unknown station': 404,
  'station blocked': 403,
  'no password registered': 403,
  'password required': 401,
  'bad password': 401,
};

export interface OcppServerOptions {
  maxFrameBytes: number;
  callTimeoutMs: number;
  pingIntervalS: number;
  /** Basic-auth guessing limits (see auth-limiter.ts). */
  authLimits: AuthLimits;
  /** The clock of those limits; tests inject one. */
  clock?: Clock;
}

interface StationSession {
  stationId: string;
  protocol: OcppProtocol;
  rpc: RpcConnection;
  alive: boolean;
  connectedAt: Date;
  /** Commands the charger answered NotImplemented or NotSupported since it last booted. */
  refused: Set<CommandName>;
}

/** CALLERROR codes (the same in both versions) saying the charger will not take this action at all. */
const NOT_TAKEN = new Set(['NotImplemented', 'NotSupported']);

/** Why a connection attempt was refused, with the HTTP status that says so. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    /** For 429: when the charger may try again, seconds. */
    readonly retryAfterS?: number,
  ) {
    super(reason);
  }
}

export class OcppServer implements CommandTransport, StationConnections {
  private readonly wss: WebSocketServer;
  private readonly sessions = new Map<string, StationSession>();
  /** Disconnections being recorded (see close()). */
  private readonly recordingCloses = new Set<Promise<void>>();
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly authLimiter: AuthAttemptLimiter;
  private readonly metricChildren = new Map<
    string,
    { ok: { inc(): void }; error: { inc(): void }; latency: { observe(v: number): void } }
  >();

  constructor(
    private readonly ctx: EdgeContext,
    private readonly metrics: Metrics,
    private readonly options: OcppServerOptions,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      // Hard cap far above the OCPP limit: frames between the two get a CALLERROR, not a closed socket.
      maxPayload: Math.max(options.maxFrameBytes * 4, 1024 * 1024),
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (_offered, req) => (req as IncomingMessage & { ocppProtocol?: string }).ocppProtocol ?? false,
    });
    this.authLimiter = new AuthAttemptLimiter(options.authLimits, options.clock);
    if (options.pingIntervalS > 0) {
      this.pingTimer = setInterval(() => this.pingAll(), options.pingIntervalS * 1000);
      this.pingTimer.unref();
    }
  }

  attach(server: HttpServer): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.handleUpgrade(req, socket, head);
    });
  }

  /** Chargers connected to this node. */
  get connectedCount(): number {
    return this.sessions.size;
  }

  isConnected(stationId: string): boolean {
    return this.sessions.has(stationId);
  }

  connection(stationId: string): { protocol: OcppProtocol; connectedAt: Date } | undefined {
    const s = this.sessions.get(stationId);
    return s ? { protocol: s.protocol, connectedAt: s.connectedAt } : undefined;
  }

  private async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    let stationId = '(unparsed)';
    try {
      stationId = identityFrom(req.url ?? '');
      const protocol = chooseProtocol(req.headers['sec-websocket-protocol']);
      const password = basicAuthPassword(req.headers.authorization, stationId);
      const address = req.socket.remoteAddress ?? 'unknown';
      if (password !== undefined) {
        const wait = this.authLimiter.lockedFor(stationId, address);
        if (wait !== undefined) throw new Refusal(429, 'too many failed passwords', wait);
      }
      const admission = await this.ctx.stations.admit(stationId, password);
      if (!admission.admitted && admission.reason === 'bad password') {
        for (const locked of this.authLimiter.failed(stationId, address)) {
          this.ctx.log.warn({ stationId, address, locked }, 'too many failed Basic-auth passwords: locked out');
        }
      }
      if (!admission.admitted) throw new Refusal(REFUSAL_STATUS[admission.reason], admission.reason);
      if (password !== undefined) this.authLimiter.succeeded(stationId, address);
      if (admission.passwordRecorded) {
        this.ctx.log.info({ stationId }, 'recorded the Basic-auth password of a station registered on first contact');
      }
      (req as IncomingMessage & { ocppProtocol?: string }).ocppProtocol = protocol;
      this.wss.handleUpgrade(req, socket, head, (ws) => void this.onConnection(ws, stationId, protocol));
    } catch (err) {
      const refusal = err instanceof Refusal ? err : new Refusal(500, 'internal error during admission');
      this.metrics.refusedConnections.inc({ reason: refusal.reason });
      this.ctx.log.warn(
        { stationId, reason: refusal.reason, status: refusal.status, remote: req.socket.remoteAddress },
        'OCPP connection refused',
      );
      if (!(err instanceof Refusal)) this.ctx.log.error({ err }, 'admission failed');
      refuse(socket, refusal);
    }
  }

  private async onConnection(ws: WebSocket, stationId: string, protocol: OcppProtocol): Promise<void> {
    const previous = this.sessions.get(stationId);
    const handlers = HANDLERS[protocol];
    const session: StationSession = {
      stationId,
      protocol,
      alive: true,
      connectedAt: new Date(),
      refused: new Set(),
      rpc: new RpcConnection(ws, {
        protocol,
        maxFrameBytes: this.options.maxFrameBytes,
        callTimeoutMs: this.options.callTimeoutMs,
        acceptsAction: (action) => action in handlers,
        handleCall: (action, payload) => this.dispatch(session, handlers, action, payload),
        onProblem: (problem, detail) => {
          this.metrics.protocolErrors.inc();
          this.ctx.log.warn({ stationId, problem, ...detail }, 'OCPP protocol problem');
        },
      }),
    };
    this.sessions.set(stationId, session);
    if (previous) {
      // A charger that reconnects replaces its old socket (often a half-open one it gave up on).
      this.ctx.log.info({ stationId }, 'charger reconnected; closing its previous connection');
      previous.rpc.close(4000, 'replaced by a new connection');
      this.metrics.connectedStations.dec({ protocol: previous.protocol });
    }
    this.metrics.connectedStations.inc({ protocol });
    ws.on('pong', () => (session.alive = true));
    ws.on('close', (code) => {
      const recording = this.onClose(session, code);
      this.recordingCloses.add(recording);
      void recording.finally(() => this.recordingCloses.delete(recording));
    });
    ws.on('error', (err) => this.ctx.log.warn({ stationId, err: err.message }, 'OCPP socket error'));
    this.ctx.log.info({ stationId, protocol }, 'charger connected');
    try {
      await this.ctx.stations.connected(stationId, protocol);
    } catch (err) {
      this.ctx.log.error({ stationId, err }, 'could not record connection');
    }
  }

  private async onClose(session: StationSession, code: number): Promise<void> {
    if (this.sessions.get(session.stationId) !== session) return; // replaced: the new socket owns the station
    this.sessions.delete(session.stationId);
    this.metrics.connectedStations.dec({ protocol: session.protocol });
    this.ctx.log.info({ stationId: session.stationId, code }, 'charger disconnected');
    try {
      await this.ctx.stations.disconnected(session.stationId, `socket closed (${code})`);
    } catch (err) {
      this.ctx.log.error({ stationId: session.stationId, err }, 'could not record disconnection');
    }
  }

  private async dispatch(
    session: StationSession,
    handlers: HandlerTable,
    action: string,
    payload: unknown,
  ): Promise<unknown> {
    session.alive = true;
    this.ctx.stations.touch(session.stationId);
    // A reboot (perhaps into new firmware) may bring what it did not implement before.
    if (action === 'BootNotification') session.refused.clear();
    const started = performance.now();
    const counters = this.actionMetrics(action);
    try {
      const answer = await handlers[action]!(this.ctx, session.stationId, payload);
      counters.ok.inc();
      return answer;
    } catch (err) {
      counters.error.inc();
      throw err;
    } finally {
      counters.latency.observe((performance.now() - started) / 1000);
    }
  }

  /**
   * StationConnections: ends a station's connection because its admission was withdrawn (blocked, retired,
   * password changed). 1008 is WebSocket's "policy violation"; a charger that does not answer the close
   * is cut off after 2 s. Frames it sends meanwhile are not handled (RpcConnection ignores them once closed).
   */
  disconnect(stationId: string, reason: string): void {
    const session = this.sessions.get(stationId);
    if (!session) return;
    this.ctx.log.info({ stationId, reason }, 'closing the connection of a station whose admission was withdrawn');
    session.rpc.close(1008, reason);
    setTimeout(() => session.rpc.ws.terminate(), 2000).unref();
  }

  /** CommandTransport: sends a neutral command to a charger connected here, in its own version. */
  async send(stationId: string, command: StationCommand): Promise<{ result: CommandResult; action: string }> {
    const session = this.sessions.get(stationId);
    if (!session || !session.rpc.isOpen) {
      throw new StationOfflineError(stationId, await this.offlineAction(stationId, session?.protocol, command));
    }
    const translator = COMMANDS[session.protocol];
    const { action, payload } = translator.toCall(command);
    try {
      const response = await session.rpc.call(action, payload, this.options.callTimeoutMs);
      this.metrics.messages.inc({ direction: 'out', action, outcome: 'ok' });
      return { result: translator.fromResult(command, response), action };
    } catch (err) {
      this.metrics.messages.inc({ direction: 'out', action, outcome: 'error' });
      if (err instanceof CallTimeoutError) throw new CommandTimeoutError(stationId, command.name, action);
      if (err instanceof ConnectionClosedError) throw new StationOfflineError(stationId, action);
      if (err instanceof CallErrorResponse) {
        if (NOT_TAKEN.has(err.code) && !session.refused.has(command.name)) {
          session.refused.add(command.name);
          this.ctx.log.warn(
            { stationId, action, code: err.code },
            'the charger does not take this command; it is not offered again until the charger reboots',
          );
        }
        throw new CommandRejectedError(err.code, err.message, action);
      }
      if (err instanceof CallResultInvalidError) throw new CommandAnswerInvalidError(err.problem, action);
      throw err;
    }
  }

  /** CommandTransport: whether the station takes the command now (connected here, in its version, not refused). */
  supports(stationId: string, command: CommandName): boolean {
    const session = this.sessions.get(stationId);
    if (!session || !session.rpc.isOpen) return false;
    return !COMMANDS[session.protocol].lacks.has(command) && !session.refused.has(command);
  }

  /** The action a command for a station not connected here would go as, by the version it last spoke. */
  private async offlineAction(
    stationId: string,
    connectedWith: OcppProtocol | undefined,
    command: StationCommand,
  ): Promise<string | undefined> {
    const protocol = connectedWith ?? (await this.ctx.stations.lastProtocol(stationId));
    if (!protocol || !isProtocol(protocol)) return undefined;
    try {
      return COMMANDS[protocol].toCall(command).action;
    } catch {
      return undefined; // the version has no such command
    }
  }

  /** Metric children per action, resolved once: label lookups on every message are measurable at load. */
  private actionMetrics(action: string) {
    let m = this.metricChildren.get(action);
    if (!m) {
      m = {
        ok: this.metrics.messages.labels('in', action, 'ok'),
        error: this.metrics.messages.labels('in', action, 'error'),
        latency: this.metrics.handlingSeconds.labels(action),
      };
      this.metricChildren.set(action, m);
    }
    return m;
  }

  private pingAll(): void {
    for (const session of this.sessions.values()) {
      if (!session.alive) {
        this.ctx.log.warn({ stationId: session.stationId }, 'no pong: terminating dead connection');
        session.rpc.ws.terminate();
        continue;
      }
      session.alive = false;
      session.rpc.ws.ping();
    }
  }

  /**
   * Closes every charger connection (they will reconnect to another node or after restart); a charger that does
   * not answer the close within 2 s is cut off. Then waits until each disconnection is recorded: the storage
   * behind them closes next, and a disconnection is uptime evidence.
   */
  async close(): Promise<void> {
    clearInterval(this.pingTimer);
    const closing = [...this.sessions.values()].map(
      (s) =>
        new Promise<void>((resolve) => {
          s.rpc.ws.once('close', () => resolve());
          s.rpc.close(1001, 'server shutting down');
          setTimeout(() => {
            s.rpc.ws.terminate(); // its 'close' follows at once, and resolves
            setTimeout(resolve, 1000).unref();
          }, 2000).unref();
        }),
    );
    await Promise.all(closing);
    this.wss.close();
    await Promise.allSettled([...this.recordingCloses]);
  }
}

/** The station identity: the one path segment after /ocpp/, URL-decoded, by the identity rule. */
export function identityFrom(url: string): string {
  const path = url.split('?')[0] ?? '';
  if (!path.startsWith(PATH_PREFIX)) throw new Refusal(404, 'not an OCPP path');
  const raw = path.slice(PATH_PREFIX.length).replace(/\/+$/, '');
  if (!raw || raw.includes('/')) throw new Refusal(404, 'no station identity in path');
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw new Refusal(400, 'station identity is not valid URL encoding');
  }
  // Refused here, before any lookup: an id the API could not address is never registered on first contact.
  if (!isStationId(id)) throw new Refusal(400, 'invalid station identity');
  return id;
}

/** Our preference among what the charger offers: the newest version we both speak. */
export function chooseProtocol(header: string | undefined): OcppProtocol {
  const offered = (header ?? '').split(',').map((s) => s.trim());
  const chosen = PROTOCOLS.find((p) => offered.includes(p));
  if (!chosen) throw new Refusal(400, 'no supported OCPP subprotocol offered');
  return chosen;
}

/**
 * Security profile 1: HTTP Basic with the station identity as user name. The credentials are read as
 * "<identity>:<password>" (OCPP's rule), not split at the first colon: identities may contain colons.
 */
export function basicAuthPassword(header: string | undefined, stationId: string): string | undefined {
  if (!header) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) throw new Refusal(401, 'malformed Authorization header');
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  if (!decoded.includes(':')) throw new Refusal(401, 'malformed Basic credentials');
  const prefix = `${stationId}:`;
  if (!decoded.startsWith(prefix)) throw new Refusal(401, 'Basic auth user is not the station id');
  return decoded.slice(prefix.length);
}

function refuse(socket: Duplex, refusal: Refusal): void {
  const text =
    { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests' }[
      refusal.status
    ] ?? 'Error';
  const headers =
    (refusal.status === 401 ? 'WWW-Authenticate: Basic realm="OCPP"\r\n' : '') +
    (refusal.retryAfterS !== undefined ? `Retry-After: ${refusal.retryAfterS}\r\n` : '');
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${refusal.status} ${text}\r\n${headers}Connection: close\r\nContent-Length: 0\r\n\r\n`);
  }
  socket.destroy();
}
