// A realistic, random life for each connector of a simulated station: idle, a driver plugs in, badges,
// charges for a while (the station sends periodic meter values), stops and unplugs; now and then a ChargeX
// fault interrupts, and clears after a while. All durations are protocol seconds, scaled by the station's
// `secondMs`, and all choices come from the station's seeded random stream.
import { CHARGEX_CODES } from './faults.ts';
import type { ConnectorState } from './dialect.ts';
import type { SimulatedStation } from './station.ts';

export interface AutonomousOptions {
  /** Idle time between sessions, [min, max] seconds. */
  idleS?: [number, number];
  /** Time a vehicle charges, [min, max] seconds. */
  chargeS?: [number, number];
  /** Chance that a cycle brings a fault (on an idle connector or in the middle of charging). */
  faultProbability?: number;
  /** How long a fault lasts, [min, max] seconds. */
  faultS?: [number, number];
  /** Tokens drivers present; the CSMS decides which are valid. */
  idTags?: string[];
}

const DEFAULTS: Required<AutonomousOptions> = {
  idleS: [60, 900],
  chargeS: [900, 3600],
  faultProbability: 0.03,
  faultS: [60, 900],
  idTags: ['04A2B3C4D5E6F7', '04B1C2D3E4F5A6', '04C9D8E7F6A5B4', '04D1E2F3A4B5C6', '04E5F6A7B8C9D0'],
};

export class AutonomousDriver {
  private readonly options: Required<AutonomousOptions>;
  private running = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly wakers = new Set<() => void>();
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly station: SimulatedStation,
    options: AutonomousOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const connector of this.station.connectors) this.loops.push(this.live(connector));
  }

  /**
   * Stops the cycles: pending waits end at once and nothing new is started. The promise settles when every
   * loop has returned, which may need the station's in-flight call to be answered (or the station closed).
   */
  async stop(): Promise<void> {
    this.running = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const wake of this.wakers) wake();
    this.wakers.clear();
    await Promise.allSettled(this.loops);
  }

  private wait(rangeS: [number, number]): Promise<void> {
    const ms = this.station.random.between(rangeS[0], rangeS[1]) * this.station.options.secondMs;
    return new Promise((resolve) => {
      if (!this.running) return resolve();
      const wake = () => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.timers.add(timer);
      this.wakers.add(wake);
    });
  }

  private get ready(): boolean {
    return this.running && this.station.connected && this.station.registration === 'Accepted';
  }

  private async live(connector: ConnectorState): Promise<void> {
    // Spread the first sessions so a fleet does not start charging in lockstep.
    await this.wait([0, this.options.idleS[1]]);
    while (this.running) {
      try {
        if (this.ready && !connector.transaction && !connector.fault && connector.operative)
          await this.cycle(connector);
      } catch (err) {
        this.station.emit('problem', 'autonomous cycle failed', {
          connector: connector.id,
          error: (err as Error).message,
        });
        await this.recover(connector);
      }
      await this.wait(this.options.idleS);
    }
  }

  private async cycle(connector: ConnectorState): Promise<void> {
    const { random } = this.station;
    const faultNow = random.chance(this.options.faultProbability);
    if (faultNow && random.chance(0.5)) {
      await this.fault(connector); // a fault on an idle connector
      return;
    }
    await this.station.plugIn(connector.id);
    await this.wait([5, 45]); // the driver finds their card
    if (!this.ready) return;
    const idTag = random.pick(this.options.idTags);
    const auth = await this.station.authorize(idTag);
    if (!auth.accepted) {
      await this.wait([10, 30]);
      if (this.ready) await this.station.unplug(connector.id);
      return;
    }
    await this.station.startTransaction(connector.id, idTag);
    await this.wait(faultNow ? [60, this.options.chargeS[0]] : this.options.chargeS);
    if (!this.ready || !connector.transaction) return;
    if (faultNow) {
      await this.fault(connector); // stops the transaction with the fault's reason
    } else {
      await this.station.stopTransaction(connector.id, 'Local');
    }
    await this.wait([10, 120]); // the driver walks back to the car
    if (this.ready && connector.plugged && !connector.fault) await this.station.unplug(connector.id);
  }

  private async fault(connector: ConnectorState): Promise<void> {
    await this.station.sendFault(connector.id, this.station.random.pick(CHARGEX_CODES));
    await this.wait(this.options.faultS);
    if (!this.ready) return;
    await this.station.clearFault(connector.id);
    if (connector.plugged) await this.station.unplug(connector.id);
  }

  /** After a failed step (usually a dropped connection): wait until reconnected, then tidy the connector. */
  private async recover(connector: ConnectorState): Promise<void> {
    while (this.running && !this.ready) await this.wait([5, 15]);
    if (!this.running) return;
    try {
      if (connector.fault) await this.station.clearFault(connector.id);
      if (connector.transaction) await this.station.stopTransaction(connector.id, 'PowerLoss');
      if (connector.plugged) await this.station.unplug(connector.id);
    } catch {
      // The next cycle will try again.
    }
  }
}
