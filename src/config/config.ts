// One typed, validated configuration from command-line options and environment variables, printable
// without secrets.
import { redactUrl } from '../storage/database.ts';
import type { AuthLimits } from '../ocpp/auth-limiter.ts';

export interface Config {
  host: string;
  port: number;
  /** PostgreSQL connection string (DATABASE_URL); when absent the embedded PGlite database is used. */
  databaseUrl?: string;
  /** PGlite data directory, or 'memory'. */
  dataDir: string;
  /** Register chargers on first contact instead of refusing them. */
  acceptUnknownStations: boolean;
  /** Heartbeat interval given to chargers in the BootNotification answer, seconds. */
  heartbeatIntervalS: number;
  /** How long a CSMS-to-charger CALL waits for its answer, ms. */
  callTimeoutMs: number;
  /** Largest OCPP frame accepted, bytes; larger ones get a CALLERROR. */
  maxFrameBytes: number;
  /** WebSocket ping interval used to find dead connections, seconds (0 turns it off). */
  pingIntervalS: number;
  /**
   * Group commit window for hot writes (meter samples, status changes), ms. Unset: 0 on PostgreSQL (a
   * flush starts at once and the next batch forms while it runs) and 2 on PGlite, whose per-statement
   * cost on the main thread makes a few more rows per flush pay off.
   */
  batchWindowMs?: number;
  /** Largest group commit, rows. */
  batchMaxRows: number;
  /** OCPP Basic-auth guessing: failed passwords per identity and per address before a lock, and its length. */
  ocppAuthLimits: AuthLimits;
  logLevel: string;
  demo: boolean;
}

export interface ConfigInput {
  host?: string;
  port?: string | number;
  data?: string;
  databaseUrl?: string;
  acceptUnknownStations?: boolean;
  heartbeatInterval?: string | number;
  callTimeout?: string | number;
  logLevel?: string;
  demo?: boolean;
}

function int(name: string, value: string | number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

export function loadConfig(input: ConfigInput = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const demo = Boolean(input.demo);
  return {
    host: input.host ?? env.HOST ?? '0.0.0.0',
    port: int('port', input.port ?? env.PORT, 8080, 0, 65535),
    databaseUrl: input.databaseUrl ?? (env.DATABASE_URL || undefined),
    dataDir: input.data ?? env.OPENCPO_DATA ?? './data',
    acceptUnknownStations: demo || Boolean(input.acceptUnknownStations) || env.OPENCPO_ACCEPT_UNKNOWN_STATIONS === '1',
    heartbeatIntervalS: int(
      'heartbeat interval',
      input.heartbeatInterval ?? env.OPENCPO_HEARTBEAT_INTERVAL,
      300,
      1,
      86400,
    ),
    callTimeoutMs: int('call timeout', input.callTimeout ?? env.OPENCPO_CALL_TIMEOUT_MS, 30_000, 100, 600_000),
    maxFrameBytes: int('max frame bytes', env.OPENCPO_MAX_FRAME_BYTES, 256 * 1024, 1024, 16 * 1024 * 1024),
    pingIntervalS: int('ping interval', env.OPENCPO_PING_INTERVAL, 30, 0, 3600),
    batchWindowMs: env.OPENCPO_BATCH_WINDOW_MS
      ? int('batch window', env.OPENCPO_BATCH_WINDOW_MS, 0, 0, 1000)
      : undefined,
    batchMaxRows: int('batch max rows', env.OPENCPO_BATCH_MAX_ROWS, 500, 1, 10_000),
    ocppAuthLimits: {
      identityFailures: int('OCPP auth failures', env.OPENCPO_OCPP_AUTH_FAILURES, 10, 0, 10_000),
      addressFailures: int('OCPP auth address failures', env.OPENCPO_OCPP_AUTH_ADDRESS_FAILURES, 30, 0, 100_000),
      lockoutS: int('OCPP auth lockout', env.OPENCPO_OCPP_AUTH_LOCKOUT_S, 300, 1, 86_400),
    },
    logLevel: input.logLevel ?? env.LOG_LEVEL ?? 'info',
    demo,
  };
}

/** The configuration as it may be printed: no passwords. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    databaseUrl: config.databaseUrl ? redactUrl(config.databaseUrl) : undefined,
    dataDir: config.databaseUrl ? undefined : config.dataDir,
  };
}
