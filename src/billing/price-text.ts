// The price as a driver reads it before starting (NEVI: per kWh shown up front; AFIR: components in the order
// per kWh, per minute, per session, then others), incl. VAT where the tariff gives VAT. It is the tariff element
// that applies at this moment at the location's local time.
import { Dec } from './money.ts';
import { localParts } from './local-time.ts';
import { restrictionsMatch } from './pricing.ts';
import type { PinnedTariff, PriceComponent, TariffDimension } from './tariff.ts';

function shown(d: Dec): string {
  // Up to 4 decimals, never fewer than 2: 0.3 → "0.30", 0.0215 → "0.0215".
  const fixed = d
    .toDecimalPlaces(4)
    .toFixed(4)
    .replace(/0{1,2}$/, '');
  return fixed;
}

function inclVat(pc: PriceComponent): Dec {
  const price = new Dec(String(pc.price));
  return pc.vat === undefined ? price : price.times(new Dec(String(pc.vat)).div(100).plus(1));
}

export function priceText(tariff: PinnedTariff, at: Date, timeZone: string): string {
  const ctx = {
    t: at.getTime(),
    local: localParts(at.getTime(), timeZone),
    energyWh: new Dec(0),
    durationS: 0,
    powerKw: undefined,
    currentA: undefined,
  };
  const pick = (type: TariffDimension) => {
    for (const el of tariff.elements) {
      const pc = el.price_components.find((c) => c.type === type);
      if (pc && restrictionsMatch(el.restrictions, ctx)) return pc;
    }
    return undefined;
  };
  const c = tariff.currency;
  const parts: string[] = [];
  const energy = pick('ENERGY');
  const time = pick('TIME');
  const flat = pick('FLAT');
  const parking = pick('PARKING_TIME');
  if (energy) parts.push(`${shown(inclVat(energy))} ${c}/kWh`);
  if (time) parts.push(`${shown(inclVat(time).div(60))} ${c}/min`);
  if (flat) parts.push(`${shown(inclVat(flat))} ${c}/session`);
  if (parking) parts.push(`idle ${shown(inclVat(parking).div(60))} ${c}/min`);
  if (parts.length === 0) return 'Free charging';
  const vat = [energy, time, flat, parking].some((pc) => pc?.vat !== undefined) ? ' incl. VAT' : '';
  return `${parts.join(', ')}${vat}`;
}
