// The energy meter of one connector. Power follows a plausible charging curve (a flat 7.4 kW for AC; a
// 50-150 kW DC session that tapers above 80 % state of charge) and the register integrates it over
// simulated time, so consecutive meter values always grow by power x elapsed time.
import type { Random } from './random.ts';

export type CurrentType = 'AC' | 'DC';

export interface MeterReading {
  /** Energy.Active.Import.Register, whole Wh (registers never go backwards). */
  energyWh: number;
  /** Power.Active.Import in W. */
  powerW: number;
  /** State of charge in percent; only DC chargers learn it from the vehicle. */
  socPercent?: number;
}

const AC_POWER_W = 7_400;

export class ConnectorMeter {
  private energyWhExact: number;
  private powerW = 0;
  private targetPowerW = 0;
  private soc: number | undefined;
  private batteryWh = 0;
  private lastAtMs: number | undefined;

  constructor(
    private readonly currentType: CurrentType,
    private readonly random: Random,
    initialRegisterWh: number,
  ) {
    this.energyWhExact = initialRegisterWh;
  }

  /** Starts drawing power: a new vehicle with its own battery and (DC) its own maximum power. */
  startCharging(nowMs: number): void {
    this.advance(nowMs);
    if (this.currentType === 'DC') {
      this.targetPowerW = Math.round(this.random.between(50_000, 150_000));
      this.batteryWh = Math.round(this.random.between(55_000, 100_000));
      this.soc = Math.round(this.random.between(10, 50));
    } else {
      this.targetPowerW = AC_POWER_W;
    }
    this.powerW = this.currentPowerW();
  }

  stopCharging(nowMs: number): void {
    this.advance(nowMs);
    this.powerW = 0;
    this.targetPowerW = 0;
  }

  /** Accrues energy up to `nowMs` (simulated clock) at the power drawn since the previous reading. */
  advance(nowMs: number): void {
    if (this.lastAtMs !== undefined && this.powerW > 0 && nowMs > this.lastAtMs) {
      const addedWh = (this.powerW * (nowMs - this.lastAtMs)) / 3_600_000;
      this.energyWhExact += addedWh;
      if (this.soc !== undefined && this.batteryWh > 0) {
        this.soc = Math.min(100, this.soc + (100 * addedWh) / this.batteryWh);
      }
      this.powerW = this.currentPowerW();
    }
    this.lastAtMs = nowMs;
  }

  read(nowMs: number): MeterReading {
    this.advance(nowMs);
    const reading: MeterReading = { energyWh: Math.floor(this.energyWhExact), powerW: Math.round(this.powerW) };
    if (this.currentType === 'DC' && this.soc !== undefined) reading.socPercent = Math.floor(this.soc);
    return reading;
  }

  get charging(): boolean {
    return this.targetPowerW > 0;
  }

  private currentPowerW(): number {
    if (this.targetPowerW === 0) return 0;
    if (this.soc === undefined) {
      // AC: the on-board charger draws close to the nominal power with small grid fluctuations.
      return this.targetPowerW * this.random.between(0.97, 1.0);
    }
    // DC: constant power up to 80 %, then a linear taper to a trickle at 100 %.
    if (this.soc >= 100) return 0;
    const taper = this.soc <= 80 ? 1 : Math.max(0.05, (100 - this.soc) / 20);
    return this.targetPowerW * taper * this.random.between(0.98, 1.0);
  }
}
