// The tariff model, shaped as an OCPI 2.2.1 Tariff so it can be published to roaming partners as is:
// a currency, elements of price components (ENERGY per kWh, TIME per charging hour, PARKING_TIME per idle hour,
// FLAT per session) with VAT and step sizes, restrictions, a validity window and min/max price.
// Amounts are JSON numbers as OCPI sends them; the engine reads them through their decimal text, never as floats.
import { currencyDigits, Dec } from './money.ts';

export const DIMENSIONS = ['ENERGY', 'TIME', 'PARKING_TIME', 'FLAT'] as const;
export type TariffDimension = (typeof DIMENSIONS)[number];

export const DAYS_OF_WEEK = ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY'] as const;
export type DayOfWeek = (typeof DAYS_OF_WEEK)[number];

export const TARIFF_TYPES = ['AD_HOC_PAYMENT', 'PROFILE_CHEAP', 'PROFILE_FAST', 'PROFILE_GREEN', 'REGULAR'] as const;

export interface PriceComponent {
  type: TariffDimension;
  /** Price per unit excl. VAT: per kWh, per hour, or per session (FLAT). */
  price: number | string;
  /** VAT percentage; omitted means no VAT applies (not the same as 0). */
  vat?: number | string;
  /** Billing block: Wh for ENERGY, seconds for TIME and PARKING_TIME; ignored for FLAT. */
  step_size: number;
}

export interface TariffRestrictions {
  /** Local time of day "HH:MM", inclusive. */
  start_time?: string;
  /** Local time of day "HH:MM", exclusive; earlier than start_time means the window crosses midnight. */
  end_time?: string;
  /** Local date "YYYY-MM-DD", inclusive. */
  start_date?: string;
  /** Local date "YYYY-MM-DD", exclusive. */
  end_date?: string;
  /** Energy charged so far in the session, kWh: min inclusive, max exclusive. */
  min_kwh?: number;
  max_kwh?: number;
  /** Current, summed over phases, A: min inclusive, max exclusive. */
  min_current?: number;
  max_current?: number;
  /** Charging power, kW: min inclusive, max exclusive. */
  min_power?: number;
  max_power?: number;
  /** Session duration so far, seconds: min inclusive, max exclusive. */
  min_duration?: number;
  max_duration?: number;
  day_of_week?: DayOfWeek[];
  reservation?: 'RESERVATION' | 'RESERVATION_EXPIRES';
}

export interface TariffElement {
  price_components: PriceComponent[];
  restrictions?: TariffRestrictions;
}

export interface Price {
  excl_vat: number | string;
  incl_vat?: number | string;
}

export interface TariffBody {
  currency: string;
  type?: (typeof TARIFF_TYPES)[number];
  tariff_alt_text?: { language: string; text: string }[];
  min_price?: Price;
  max_price?: Price;
  elements: TariffElement[];
  /** Validity window, UTC instants (ISO 8601). */
  start_date_time?: string;
  end_date_time?: string;
}

/** A tariff as the engine receives it: its body plus which stored version it is. */
export interface PinnedTariff extends TariffBody {
  id: string;
  version: number;
}

export class TariffValidationError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'TariffValidationError';
  }
}

/**
 * The highest price per unit (kWh, hour, session) and min/max price a tariff may state, in major units. It is
 * far above any real price even in currencies of small units (VND, IDR), and keeps every session's total in minor
 * units an exact integer: 10,000,000 × 10,000 kWh × 1,000 minor units stays below 2^53.
 */
export const MAX_PRICE = 10_000_000;

const HHMM = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function decimalOk(value: unknown): boolean {
  if (typeof value !== 'number' && typeof value !== 'string') return false;
  if (typeof value === 'number' && !Number.isFinite(value)) return false;
  try {
    new Dec(String(value));
    return true;
  } catch {
    return false;
  }
}

/** A decimal from 0 to MAX_PRICE. */
function priceOk(value: unknown): boolean {
  return decimalOk(value) && new Dec(String(value)).gte(0) && new Dec(String(value)).lte(MAX_PRICE);
}

function check(ok: boolean, field: string, message: string): void {
  if (!ok) throw new TariffValidationError(field, message);
}

/** Checks a tariff body beyond its JSON shape: currency, decimals, step sizes, restriction formats and ranges. */
export function validateTariff(body: TariffBody): TariffBody {
  try {
    currencyDigits(body.currency);
  } catch {
    throw new TariffValidationError('currency', 'must be an ISO 4217 currency code');
  }
  check(Array.isArray(body.elements) && body.elements.length > 0, 'elements', 'at least one element is required');
  body.elements.forEach((element, i) => {
    const at = `elements[${i}]`;
    check(
      Array.isArray(element.price_components) && element.price_components.length > 0,
      `${at}.price_components`,
      'at least one price component is required',
    );
    element.price_components.forEach((pc, j) => {
      const pat = `${at}.price_components[${j}]`;
      check(DIMENSIONS.includes(pc.type), `${pat}.type`, `must be one of ${DIMENSIONS.join(', ')}`);
      check(priceOk(pc.price), `${pat}.price`, `must be a decimal from 0 to ${MAX_PRICE}`);
      if (pc.vat !== undefined)
        check(decimalOk(pc.vat) && new Dec(String(pc.vat)).gte(0), `${pat}.vat`, 'must be a percentage ≥ 0');
      check(Number.isInteger(pc.step_size) && pc.step_size >= 0, `${pat}.step_size`, 'must be an integer ≥ 0');
    });
    const r = element.restrictions;
    if (!r) return;
    const rat = `${at}.restrictions`;
    for (const key of ['start_time', 'end_time'] as const)
      if (r[key] !== undefined) check(HHMM.test(r[key]), `${rat}.${key}`, 'must be HH:MM (24 h)');
    for (const key of ['start_date', 'end_date'] as const)
      if (r[key] !== undefined) check(DATE.test(r[key]), `${rat}.${key}`, 'must be YYYY-MM-DD');
    for (const key of [
      'min_kwh',
      'max_kwh',
      'min_current',
      'max_current',
      'min_power',
      'max_power',
      'min_duration',
      'max_duration',
    ] as const)
      if (r[key] !== undefined)
        check(typeof r[key] === 'number' && Number.isFinite(r[key]) && r[key] >= 0, `${rat}.${key}`, 'must be ≥ 0');
    if (r.day_of_week !== undefined)
      check(
        Array.isArray(r.day_of_week) && r.day_of_week.every((d) => DAYS_OF_WEEK.includes(d)),
        `${rat}.day_of_week`,
        `must list days among ${DAYS_OF_WEEK.join(', ')}`,
      );
  });
  for (const key of ['min_price', 'max_price'] as const) {
    const p = body[key];
    if (!p) continue;
    check(priceOk(p.excl_vat), `${key}.excl_vat`, `must be a decimal from 0 to ${MAX_PRICE}`);
    if (p.incl_vat !== undefined)
      check(priceOk(p.incl_vat), `${key}.incl_vat`, `must be a decimal from 0 to ${MAX_PRICE}`);
  }
  for (const key of ['start_date_time', 'end_date_time'] as const) {
    const v = body[key];
    if (v !== undefined) check(!Number.isNaN(Date.parse(v)), key, 'must be an ISO 8601 date-time');
  }
  return body;
}

/** Whether the tariff's validity window (start inclusive, end exclusive) contains an instant. */
export function tariffValidAt(body: TariffBody, at: Date): boolean {
  if (body.start_date_time && at.getTime() < Date.parse(body.start_date_time)) return false;
  if (body.end_date_time && at.getTime() >= Date.parse(body.end_date_time)) return false;
  return true;
}
