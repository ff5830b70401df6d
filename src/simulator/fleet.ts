// A fleet of autonomous simulated stations (SIM-0001, SIM-0002...) started with staggered connects, and
// the live one-line summary the `opencpo simulate` command prints while they run.
import type { OcppProtocol } from '../ocpp/rpc/protocols.ts';
import { AutonomousDriver, type AutonomousOptions } from './autonomous.ts';
import { SimulatedStation } from './station.ts';

export type FleetProtocol = OcppProtocol | 'mixed';

export interface FleetOptions {
  url: string;
  stations: number;
  protocol: FleetProtocol;
  prefix?: string;
  password?: string;
  connectors?: number;
  meterIntervalS?: number;
  /** Delay between two stations' first connects, so a large fleet does not hit the CSMS all at once. */
  staggerMs?: number;
  /** Base seed; station i uses seed + i. Without it each station's seed derives from its id. */
  seed?: number;
  secondMs?: number;
  /** How long a station's CALL waits for the CSMS's answer. */
  callTimeoutMs?: number;
  autonomous?: AutonomousOptions;
}

export interface FleetTotals {
  stations: number;
  connected: number;
  booted: number;
  charging: number;
  faulted: number;
  sent: number;
  answered: number;
  errors: number;
  received: number;
  transactionsStarted: number;
  transactionsStopped: number;
  faults: number;
  reconnects: number;
}

export function stationId(prefix: string, index: number): string {
  return `${prefix}-${String(index + 1).padStart(4, '0')}`;
}

export class Fleet {
  readonly stations: SimulatedStation[] = [];
  private readonly drivers: AutonomousDriver[] = [];
  private readonly startTimers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly options: FleetOptions) {
    for (let i = 0; i < options.stations; i++) {
      // Mixed fleets alternate versions; one station in four is a DC fast charger, the rest AC.
      const protocol: OcppProtocol =
        options.protocol === 'mixed' ? (i % 2 === 0 ? 'ocpp1.6' : 'ocpp2.0.1') : options.protocol;
      const station = new SimulatedStation({
        url: options.url,
        id: stationId(options.prefix ?? 'SIM', i),
        protocol,
        password: options.password,
        connectors: options.connectors ?? 2,
        currentType: i % 4 === 3 ? 'DC' : 'AC',
        meterIntervalS: options.meterIntervalS ?? 60,
        seed: options.seed === undefined ? undefined : options.seed + i,
        secondMs: options.secondMs ?? 1000,
        callTimeoutMs: options.callTimeoutMs,
      });
      // Problems are expected in a long run (drops, refusals); they are counted, not thrown.
      station.on('problem', () => undefined);
      this.stations.push(station);
      this.drivers.push(new AutonomousDriver(station, options.autonomous));
    }
  }

  /** Starts every station, `staggerMs` apart; resolves once all have been started (not necessarily booted). */
  async start(): Promise<void> {
    const stagger = this.options.staggerMs ?? 20;
    await Promise.all(
      this.stations.map(
        (station, i) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              this.startTimers.delete(timer);
              if (this.stopped) return resolve();
              this.drivers[i]?.start();
              station
                .start()
                .catch(() => undefined) // retried by the station's own reconnect loop
                .finally(resolve);
            }, i * stagger);
            this.startTimers.add(timer);
          }),
      ),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.startTimers) clearTimeout(timer);
    this.startTimers.clear();
    // Stop the drivers first so they start nothing new, but close the stations before waiting for the
    // drivers: closing rejects any call a driver is still waiting on instead of waiting for its timeout.
    const driversStopped = Promise.all(this.drivers.map((driver) => driver.stop()));
    await Promise.all(this.stations.map((station) => station.close()));
    await driversStopped;
  }

  totals(): FleetTotals {
    const totals: FleetTotals = {
      stations: this.stations.length,
      connected: 0,
      booted: 0,
      charging: 0,
      faulted: 0,
      sent: 0,
      answered: 0,
      errors: 0,
      received: 0,
      transactionsStarted: 0,
      transactionsStopped: 0,
      faults: 0,
      reconnects: 0,
    };
    for (const station of this.stations) {
      if (station.connected) totals.connected++;
      if (station.connected && station.registration === 'Accepted') totals.booted++;
      for (const connector of station.connectors) {
        if (connector.transaction) totals.charging++;
        if (connector.fault) totals.faulted++;
      }
      const c = station.counters;
      totals.sent += c.sent;
      totals.answered += c.answered;
      totals.errors += c.errors;
      totals.received += c.received;
      totals.transactionsStarted += c.transactionsStarted;
      totals.transactionsStopped += c.transactionsStopped;
      totals.faults += c.faults;
      totals.reconnects += c.reconnects;
    }
    return totals;
  }
}

export function formatTotals(t: FleetTotals): string {
  return (
    `stations ${t.connected}/${t.stations} connected, ${t.booted} booted | ` +
    `charging ${t.charging}, faulted ${t.faulted} | ` +
    `tx started ${t.transactionsStarted}, stopped ${t.transactionsStopped} | ` +
    `msgs sent ${t.sent}, answered ${t.answered}, errors ${t.errors}, received ${t.received} | ` +
    `faults ${t.faults}, reconnects ${t.reconnects}`
  );
}

interface StatusStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/**
 * Prints the fleet's totals: on a terminal, one line rewritten in place every `ttyIntervalMs`; elsewhere
 * (logs, pipes) a plain line every `plainIntervalMs`, since carriage returns would garble a log file.
 */
export class LiveStatus {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly fleet: Fleet,
    private readonly stream: StatusStream = process.stdout,
    private readonly ttyIntervalMs = 500,
    private readonly plainIntervalMs = 10_000,
  ) {}

  start(): void {
    const tty = this.stream.isTTY === true;
    this.timer = setInterval(() => this.print(), tty ? this.ttyIntervalMs : this.plainIntervalMs);
  }

  print(): void {
    const line = formatTotals(this.fleet.totals());
    if (this.stream.isTTY) {
      const width = this.stream.columns ?? 200;
      // \x1b[K clears what a longer previous line left behind.
      this.stream.write(`\r${line.slice(0, Math.max(20, width - 1))}\x1b[K`);
    } else {
      this.stream.write(`${new Date().toISOString()} ${line}\n`);
    }
  }

  /** Stops updating and leaves the final totals on their own line. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.print();
    if (this.stream.isTTY) this.stream.write('\n');
  }
}
