// Money, exactly. Unit prices in OCPI carry up to four decimals and volumes are fractional (kWh, hours), so the
// product is computed with decimal.js (arbitrary-precision decimal, explicit rounding modes; binary floats are
// never used for money). Every amount that leaves the engine is an integer of the currency's minor unit
// (cents for EUR, yen for JPY, fils for BHD), so sums are plain integer additions and always exact.
import { Decimal } from 'decimal.js';

/** A private Decimal constructor: 50 significant digits, half-up rounding; nobody else's configuration leaks in. */
export const Dec = Decimal.clone({ precision: 50, rounding: Decimal.ROUND_HALF_UP });
export type Dec = InstanceType<typeof Dec>;

const digitsCache = new Map<string, number>();
/** The ISO 4217 codes ICU knows (Intl.supportedValuesOf): 'EUR' yes, 'XXY' no. */
const ISO_CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

/** ISO 4217 minor-unit digits of a currency (EUR 2, JPY 0, BHD 3), from the ICU data Node ships with. */
export function currencyDigits(currency: string): number {
  const code = currency.toUpperCase();
  let digits = digitsCache.get(code);
  if (digits === undefined) {
    if (!/^[A-Z]{3}$/.test(code) || !ISO_CURRENCIES.has(code))
      throw new RangeError(`not an ISO 4217 currency code: ${currency}`);
    digits = new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions()
      .maximumFractionDigits as number;
    digitsCache.set(code, digits);
  }
  return digits;
}

/** An exact decimal amount in major units (e.g. 1.235 EUR) to whole minor units, half-up (1.235 → 124 cents). */
export function toMinor(amount: Dec, currency: string): number {
  const minor = amount.times(new Dec(10).pow(currencyDigits(currency))).toDecimalPlaces(0, Decimal.ROUND_HALF_UP);
  if (!minor.abs().lte(Number.MAX_SAFE_INTEGER)) throw new RangeError(`amount out of range: ${amount.toString()}`);
  return minor.toNumber();
}

/** Minor units back to a decimal string in major units with the currency's digits: 1234 EUR → "12.34", 1234 JPY → "1234". */
export function formatMinor(minor: number, currency: string): string {
  return new Dec(minor).div(new Dec(10).pow(currencyDigits(currency))).toFixed(currencyDigits(currency));
}

/** A decimal amount in major units (string or number from JSON) to minor units, refusing sub-minor precision. */
export function parseMajor(value: string | number, currency: string): number {
  const d = new Dec(String(value));
  const minor = d.times(new Dec(10).pow(currencyDigits(currency)));
  if (!minor.isInteger()) throw new RangeError(`${value} has more decimals than ${currency} allows`);
  return minor.toNumber();
}

/**
 * Rounds exact amounts (in minor units, each ≥ 0) to integers whose sum is the half-up rounding of their exact sum
 * (largest-remainder method; ties go to the earlier amount). So a total is never off by the sum of the lines'
 * rounding errors, and the lines still add up to it exactly.
 */
export function allocate(exact: Dec[]): number[] {
  const total = exact
    .reduce((s, x) => s.plus(x), new Dec(0))
    .toDecimalPlaces(0, Decimal.ROUND_HALF_UP)
    .toNumber();
  const floors = exact.map((x) => x.floor().toNumber());
  let remainder = total - floors.reduce((s, x) => s + x, 0);
  const order = exact
    .map((x, i) => ({ i, frac: x.minus(x.floor()) }))
    .sort((a, b) => b.frac.comparedTo(a.frac) || a.i - b.i);
  for (const { i } of order) {
    if (remainder <= 0) break;
    floors[i]! += 1;
    remainder -= 1;
  }
  return floors;
}

/** An exact amount in major units expressed in minor units, unrounded: 1.2345 EUR → 123.45. */
export function inMinor(amount: Dec, currency: string): Dec {
  return amount.times(new Dec(10).pow(currencyDigits(currency)));
}
