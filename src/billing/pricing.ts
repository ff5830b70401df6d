// The pricing engine: a pure function from a pinned tariff and what a session consumed to OCPI charging periods
// and cost lines. No I/O, no clock: the same inputs always give the same figures, so a CDR can be recomputed
// and explained line by line.
//
// How it works (OCPI 2.2.1, mod_tariffs):
// 1. The session is cut into segments wherever anything a restriction looks at may change: state changes (charging
//    or idle), meter samples, local time-of-day and date boundaries of the tariff's restrictions, the instants the
//    session reaches a min/max duration, and the instants its energy reaches a min/max kWh.
// 2. Restrictions are evaluated at each segment's start. Per dimension, the first element (in tariff order) whose
//    restrictions all match and which has a price component of that dimension prices the segment: ENERGY wherever
//    energy flows, TIME while charging, PARKING_TIME while idle. FLAT is charged once, from the first segment where
//    an element with a FLAT component matches.
// 3. Adjacent segments priced by the same elements form one charging period (the CDR's charging_periods).
// 4. step_size (OCPI 2.2.1-d2): the total ENERGY volume of the session is rounded up to the step of the last ENERGY
//    component used; of TIME and PARKING_TIME only the dimension used last is rounded, on its session total, to the
//    step of its last component. The rounding surplus is billed in the last period of that dimension, at its price.
// 5. One cost line per (dimension, element), in AFIR order (per kWh, per minute, per session, others). Exact decimal
//    amounts are rounded once on the total (half-up to the currency's minor unit) and allocated to the lines, so
//    lines always add up to the total and excl. VAT + VAT = incl. VAT exactly. min_price / max_price add one
//    adjustment line.
import { allocate, currencyDigits, Dec, inMinor, toMinor } from './money.ts';
import { hhmmToMinute, localInstants, localParts, nextDate, offsetChanges } from './local-time.ts';
import type { PinnedTariff, PriceComponent, TariffDimension, TariffElement, TariffRestrictions } from './tariff.ts';
import { EnergyCurve, heldValue, type SessionUsage, type UsageState } from './usage.ts';

export type CdrDimensionType = 'ENERGY' | 'TIME' | 'PARKING_TIME';

/** An OCPI ChargingPeriod: measured volumes (kWh, hours) as decimal strings, and which elements priced it. */
export interface ChargingPeriod {
  start_date_time: string;
  end_date_time: string;
  state: UsageState;
  dimensions: { type: CdrDimensionType; volume: string }[];
  tariff_id: string;
  /** Index of the tariff element that priced each dimension in this period (absent: free). */
  elements: Partial<Record<CdrDimensionType, number>>;
}

export type LineKind = TariffDimension | 'MIN_PRICE' | 'MAX_PRICE';

export interface CostLine {
  kind: LineKind;
  /** Tariff element that priced the line; absent for min/max price adjustments. */
  elementIndex?: number;
  /** Unit price excl. VAT, decimal string in major units (per kWh, per hour, per session). */
  unitPrice: string;
  unit: 'kWh' | 'h' | 'session' | 'adjustment';
  /** Measured volume in the unit, decimal string. */
  volume: string;
  /** Volume billed after step_size rounding. */
  billedVolume: string;
  /** VAT percentage, or null when the tariff gives none (no VAT applicable). */
  vatRate: string | null;
  /** Minor units of the currency. */
  exclVat: number;
  vat: number;
  inclVat: number;
}

export interface Totals {
  exclVat: number;
  vat: number;
  inclVat: number;
}

export interface PricedSession {
  tariffId: string;
  tariffVersion: number;
  currency: string;
  /** Decimal places of the currency's minor unit. */
  currencyDigits: number;
  startedAt: string;
  endedAt: string;
  periods: ChargingPeriod[];
  lines: CostLine[];
  total: Totals;
  /** Sums of the lines per dimension (the CDR's total_energy_cost, total_time_cost, ...). */
  byKind: Partial<Record<LineKind, Totals>>;
  /** kWh, decimal string. */
  totalEnergy: string;
  /** Whole session duration, hours (OCPI total_time). */
  totalTime: string;
  /** Hours charging and idle. */
  chargingTime: string;
  parkingTime: string;
}

interface Segment {
  from: number;
  to: number;
  state: UsageState;
  energyWh: Dec;
  elements: Partial<Record<CdrDimensionType, number>>;
}

const MS_PER_HOUR = 3_600_000;
const AFIR_ORDER: LineKind[] = ['ENERGY', 'TIME', 'FLAT', 'PARKING_TIME', 'MIN_PRICE', 'MAX_PRICE'];

function component(element: TariffElement, type: TariffDimension): PriceComponent | undefined {
  return element.price_components.find((pc) => pc.type === type);
}

/** What restrictions look at, at one instant of the session. */
interface Context {
  t: number;
  local: ReturnType<typeof localParts>;
  energyWh: Dec;
  durationS: number;
  powerKw: number | undefined;
  currentA: number | undefined;
}

export function restrictionsMatch(r: TariffRestrictions | undefined, c: Context): boolean {
  if (!r) return true;
  if (r.reservation) return false; // reservation pricing is not part of a charging session
  const m = c.local.minuteOfDay;
  if (r.start_time !== undefined || r.end_time !== undefined) {
    const s = r.start_time !== undefined ? hhmmToMinute(r.start_time) : undefined;
    const e = r.end_time !== undefined ? hhmmToMinute(r.end_time) : undefined;
    if (s !== undefined && e !== undefined) {
      if (s < e && !(m >= s && m < e)) return false;
      if (s > e && !(m >= s || m < e)) return false; // the window crosses midnight
    } else if (s !== undefined && m < s) return false;
    else if (e !== undefined && m >= e) return false;
  }
  if (r.start_date !== undefined && c.local.date < r.start_date) return false;
  if (r.end_date !== undefined && c.local.date >= r.end_date) return false;
  if (r.day_of_week && !r.day_of_week.includes(c.local.dayOfWeek)) return false;
  if (r.min_kwh !== undefined && c.energyWh.lt(new Dec(String(r.min_kwh)).times(1000))) return false;
  if (r.max_kwh !== undefined && c.energyWh.gte(new Dec(String(r.max_kwh)).times(1000))) return false;
  if (r.min_duration !== undefined && c.durationS < r.min_duration) return false;
  if (r.max_duration !== undefined && c.durationS >= r.max_duration) return false;
  if (r.min_power !== undefined || r.max_power !== undefined) {
    if (c.powerKw === undefined) return false;
    if (r.min_power !== undefined && c.powerKw < r.min_power) return false;
    if (r.max_power !== undefined && c.powerKw >= r.max_power) return false;
  }
  if (r.min_current !== undefined || r.max_current !== undefined) {
    // Without current samples the restriction cannot be shown to hold, so the element does not apply.
    if (c.currentA === undefined) return false;
    if (r.min_current !== undefined && c.currentA < r.min_current) return false;
    if (r.max_current !== undefined && c.currentA >= r.max_current) return false;
  }
  return true;
}

function firstMatching(elements: TariffElement[], type: TariffDimension, c: Context): number | undefined {
  const i = elements.findIndex((el) => component(el, type) !== undefined && restrictionsMatch(el.restrictions, c));
  return i < 0 ? undefined : i;
}

/** Every instant inside the session where a restriction's answer may change. */
function boundaries(tariff: PinnedTariff, usage: SessionUsage, curve: EnergyCurve, start: number, end: number) {
  const cuts = new Set<number>([start, end]);
  const add = (t: number | undefined) => {
    if (t !== undefined && t > start && t < end) cuts.add(t);
  };
  for (const s of usage.states) add(s.at.getTime());
  for (const t of curve.times) add(t);
  for (const s of usage.power ?? []) add(s.at.getTime());
  for (const s of usage.current ?? []) add(s.at.getTime());
  const minutes = new Set<number>([0]);
  const startEnergy = curve.at(start);
  for (const el of tariff.elements) {
    const r = el.restrictions;
    if (!r) continue;
    if (r.start_time) minutes.add(hhmmToMinute(r.start_time));
    if (r.end_time) minutes.add(hhmmToMinute(r.end_time));
    if (r.min_duration !== undefined) add(start + r.min_duration * 1000);
    if (r.max_duration !== undefined) add(start + r.max_duration * 1000);
    for (const kwh of [r.min_kwh, r.max_kwh]) {
      if (kwh !== undefined) add(curve.reaches(startEnergy.plus(new Dec(String(kwh)).times(1000)), start));
    }
  }
  // Local midnights (dates, weekdays) and time-of-day boundaries, from the day before the start to the end.
  let date = localParts(start - 86_400_000, usage.timeZone).date;
  const lastDate = localParts(end, usage.timeZone).date;
  for (let guard = 0; guard < 400 && date <= lastDate; guard++) {
    for (const minute of minutes) for (const t of localInstants(date, minute, usage.timeZone)) add(t);
    date = nextDate(date);
  }
  // A DST change moves the local clock without a boundary of its own (a repeated hour): cut there too.
  for (const t of offsetChanges(start - 86_400_000, end, usage.timeZone)) add(t);
  return [...cuts].sort((a, b) => a - b);
}

function stateAt(usage: SessionUsage, t: number): UsageState {
  let state: UsageState = 'charging';
  for (const s of usage.states) {
    if (s.at.getTime() > t) break;
    state = s.state;
  }
  return state;
}

function decimalOf(v: number | string): Dec {
  return new Dec(String(v));
}

/** Prices a session with the tariff it pinned at its start. */
export function priceSession(tariff: PinnedTariff, usage: SessionUsage): PricedSession {
  const currency = tariff.currency.toUpperCase();
  const start = usage.startedAt.getTime();
  const end = Math.max(start, usage.endedAt.getTime());
  const curve = new EnergyCurve(usage.energy);
  const power = (usage.power ?? []).map((s) => ({ t: s.at.getTime(), v: s.w })).sort((a, b) => a.t - b.t);
  const current = (usage.current ?? []).map((s) => ({ t: s.at.getTime(), v: s.a })).sort((a, b) => a.t - b.t);
  const states = { ...usage, states: [...usage.states].sort((a, b) => a.at.getTime() - b.at.getTime()) };
  const startEnergy = curve.at(start);

  const contextAt = (t: number, segmentEnd: number, state: UsageState): Context => {
    const energyWh = curve.at(t).minus(startEnergy);
    let powerW = heldValue(power, t);
    if (powerW === undefined) {
      // No power sample yet: the segment's average power (energy over time), zero while idle.
      const hours = (segmentEnd - t) / MS_PER_HOUR;
      powerW = state === 'idle' || hours <= 0 ? 0 : curve.at(segmentEnd).minus(curve.at(t)).div(hours).toNumber();
    }
    return {
      t,
      local: localParts(t, usage.timeZone),
      energyWh,
      durationS: (t - start) / 1000,
      powerKw: (powerW as number) / 1000,
      currentA: heldValue(current, t),
    };
  };

  // 1–2. Segments, each priced per dimension by the first matching element.
  const cuts = boundaries(tariff, usage, curve, start, end);
  const segments: Segment[] = [];
  let flat: { element: number; at: number } | undefined;
  for (let i = 0; i + 1 < cuts.length; i++) {
    const from = cuts[i]!;
    const to = cuts[i + 1]!;
    const state = stateAt(states, from);
    const energyWh = curve.at(to).minus(curve.at(from));
    const c = contextAt(from, to, state);
    const elements: Segment['elements'] = {};
    if (energyWh.gt(0)) elements.ENERGY = firstMatching(tariff.elements, 'ENERGY', c);
    if (state === 'charging') elements.TIME = firstMatching(tariff.elements, 'TIME', c);
    else elements.PARKING_TIME = firstMatching(tariff.elements, 'PARKING_TIME', c);
    if (!flat) {
      const f = firstMatching(tariff.elements, 'FLAT', c);
      if (f !== undefined) flat = { element: f, at: from };
    }
    segments.push({ from, to, state, energyWh, elements });
  }
  if (segments.length === 0) {
    // A session of no duration still owes its flat fee, judged at its start.
    const f = firstMatching(tariff.elements, 'FLAT', contextAt(start, start, 'charging'));
    if (f !== undefined) flat = { element: f, at: start };
  }

  // 3. Charging periods: adjacent segments in the same state priced by the same elements.
  const merged: Segment[] = [];
  for (const s of segments) {
    const prev = merged[merged.length - 1];
    if (
      prev &&
      prev.state === s.state &&
      prev.elements.ENERGY === s.elements.ENERGY &&
      prev.elements.TIME === s.elements.TIME &&
      prev.elements.PARKING_TIME === s.elements.PARKING_TIME
    ) {
      prev.to = s.to;
      prev.energyWh = prev.energyWh.plus(s.energyWh);
    } else merged.push({ ...s, elements: { ...s.elements } });
  }

  // 4–5. Volumes per (dimension, element), step rounding, cost lines.
  interface Bucket {
    kind: TariffDimension;
    element: number;
    volume: Dec; // Wh for ENERGY, ms for time
    billed: Dec;
  }
  const buckets: Bucket[] = [];
  const bucketOf = (kind: TariffDimension, element: number): Bucket => {
    let b = buckets.find((x) => x.kind === kind && x.element === element);
    if (!b) {
      b = { kind, element, volume: new Dec(0), billed: new Dec(0) };
      buckets.push(b);
    }
    return b;
  };
  const lastUse: Partial<Record<TariffDimension, { bucket: Bucket; at: number }>> = {};
  for (const p of merged) {
    const duration = new Dec(p.to - p.from);
    const uses: [TariffDimension, Dec][] = [
      ['ENERGY', p.energyWh],
      ['TIME', duration],
      ['PARKING_TIME', duration],
    ];
    for (const [kind, volume] of uses) {
      const element = p.elements[kind as CdrDimensionType];
      if (element === undefined || volume.lte(0)) continue;
      const b = bucketOf(kind, element);
      b.volume = b.volume.plus(volume);
      b.billed = b.billed.plus(volume);
      lastUse[kind] = { bucket: b, at: p.from };
    }
  }
  const roundUpTotal = (kind: TariffDimension, unit: Dec) => {
    const last = lastUse[kind];
    if (!last) return;
    const step = component(tariff.elements[last.bucket.element]!, kind)!.step_size;
    if (!(step > 0)) return;
    const total = buckets.filter((b) => b.kind === kind).reduce((sum, b) => sum.plus(b.volume), new Dec(0));
    const block = unit.times(step);
    const rounded = total.div(block).ceil().times(block);
    last.bucket.billed = last.bucket.billed.plus(rounded.minus(total));
  };
  roundUpTotal('ENERGY', new Dec(1)); // step in Wh, volume in Wh
  const lastTime = lastUse.TIME?.at ?? -Infinity;
  const lastParking = lastUse.PARKING_TIME?.at ?? -Infinity;
  if (lastUse.TIME || lastUse.PARKING_TIME)
    roundUpTotal(lastTime > lastParking ? 'TIME' : 'PARKING_TIME', new Dec(1000));

  // Exact amounts first; then excl. VAT and VAT are each rounded once, on the session total, and allocated to the
  // lines (largest remainder) so the lines still sum to it. This matches OCPI's worked examples (VAT on the total).
  interface Draft {
    kind: TariffDimension;
    pc: PriceComponent;
    element: number;
    unit: CostLine['unit'];
    volume: Dec;
    billed: Dec;
  }
  const drafts: Draft[] = buckets.map((b) => {
    const scale = b.kind === 'ENERGY' ? 1000 : MS_PER_HOUR;
    return {
      kind: b.kind,
      pc: component(tariff.elements[b.element]!, b.kind)!,
      element: b.element,
      unit: b.kind === 'ENERGY' ? 'kWh' : 'h',
      volume: b.volume.div(scale),
      billed: b.billed.div(scale),
    };
  });
  if (flat) {
    const pc = component(tariff.elements[flat.element]!, 'FLAT')!;
    drafts.push({ kind: 'FLAT', pc, element: flat.element, unit: 'session', volume: new Dec(1), billed: new Dec(1) });
  }
  drafts.sort((a, b) => AFIR_ORDER.indexOf(a.kind) - AFIR_ORDER.indexOf(b.kind));
  const exactExcl = drafts.map((d) => inMinor(decimalOf(d.pc.price).times(d.billed), currency));
  const rates = drafts.map((d) => (d.pc.vat === undefined ? null : decimalOf(d.pc.vat)));
  const excl = allocate(exactExcl);
  const vats = allocate(exactExcl.map((x, i) => (rates[i] === null ? new Dec(0) : x.times(rates[i]!).div(100))));
  const lines: CostLine[] = drafts.map((d, i) => ({
    kind: d.kind,
    elementIndex: d.element,
    unitPrice: decimalOf(d.pc.price).toString(),
    unit: d.unit,
    volume: shown(d.volume),
    billedVolume: shown(d.billed),
    vatRate: rates[i] === null ? null : rates[i]!.toString(),
    exclVat: excl[i]!,
    vat: vats[i]!,
    inclVat: excl[i]! + vats[i]!,
  }));

  // min_price / max_price: an adjustment line brings the total into the range. Excl. and incl. VAT are each
  // clamped to the limit given for them (a limit without incl_vat adjusts without VAT), so the total stays
  // monotone in what was consumed.
  let total = sum(lines);
  const adjust = (kind: 'MIN_PRICE' | 'MAX_PRICE', limit: NonNullable<PinnedTariff['min_price']>) => {
    const clamp = (value: number, bound: number) =>
      kind === 'MIN_PRICE' ? Math.max(value, bound) : Math.min(value, bound);
    const exclVat = clamp(total.exclVat, toMinor(decimalOf(limit.excl_vat), currency)) - total.exclVat;
    const inclVat =
      limit.incl_vat === undefined
        ? exclVat
        : clamp(total.inclVat, toMinor(decimalOf(limit.incl_vat), currency)) - total.inclVat;
    if (exclVat === 0 && inclVat === 0) return;
    lines.push({
      kind,
      unitPrice: decimalOf(limit.excl_vat).toString(),
      unit: 'adjustment',
      volume: '1',
      billedVolume: '1',
      vatRate: null,
      exclVat,
      vat: inclVat - exclVat,
      inclVat,
    });
    total = sum(lines);
  };
  if (tariff.min_price) adjust('MIN_PRICE', tariff.min_price);
  if (tariff.max_price) adjust('MAX_PRICE', tariff.max_price);

  const byKind: PricedSession['byKind'] = {};
  for (const l of lines) byKind[l.kind] = sum([l], byKind[l.kind]);

  let chargingMs = 0;
  let parkingMs = 0;
  for (const p of merged) {
    if (p.state === 'charging') chargingMs += p.to - p.from;
    else parkingMs += p.to - p.from;
  }
  const hours = (ms: number) => shown(new Dec(ms).div(MS_PER_HOUR));
  return {
    tariffId: tariff.id,
    tariffVersion: tariff.version,
    currency,
    currencyDigits: currencyDigits(currency),
    startedAt: new Date(start).toISOString(),
    endedAt: new Date(end).toISOString(),
    periods: merged.map((p) => periodOf(p, tariff.id)),
    lines,
    total,
    byKind,
    totalEnergy: shown(curve.at(end).minus(startEnergy).div(1000)),
    totalTime: hours(end - start),
    chargingTime: hours(chargingMs),
    parkingTime: hours(parkingMs),
  };
}

function periodOf(p: Segment, tariffId: string): ChargingPeriod {
  const dimensions: ChargingPeriod['dimensions'] = [];
  const hours = shown(new Dec(p.to - p.from).div(MS_PER_HOUR));
  if (p.energyWh.gt(0)) dimensions.push({ type: 'ENERGY', volume: shown(p.energyWh.div(1000)) });
  dimensions.push({ type: p.state === 'charging' ? 'TIME' : 'PARKING_TIME', volume: hours });
  return {
    start_date_time: new Date(p.from).toISOString(),
    end_date_time: new Date(p.to).toISOString(),
    state: p.state,
    dimensions,
    tariff_id: tariffId,
    elements: p.elements,
  };
}

/** Volumes as shown on lines and periods: six decimals (1 mWh, 3.6 ms) is finer than anything billed. */
function shown(volume: Dec): string {
  return volume.toDecimalPlaces(6).toString();
}

function sum(lines: Totals[], base: Totals = { exclVat: 0, vat: 0, inclVat: 0 }): Totals {
  return lines.reduce(
    (t, l) => ({ exclVat: t.exclVat + l.exclVat, vat: t.vat + l.vat, inclVat: t.inclVat + l.inclVat }),
    base,
  );
}
