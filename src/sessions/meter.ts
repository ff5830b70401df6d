// Normalisation of meter readings: every value is stored in one base unit per quantity, so energy is
// always Wh and power always W whatever the charger reported.

const SCALE: Record<string, { unit: string; factor: number }> = {
  Wh: { unit: 'Wh', factor: 1 },
  kWh: { unit: 'Wh', factor: 1000 },
  W: { unit: 'W', factor: 1 },
  kW: { unit: 'W', factor: 1000 },
  varh: { unit: 'varh', factor: 1 },
  kvarh: { unit: 'varh', factor: 1000 },
  var: { unit: 'var', factor: 1 },
  kvar: { unit: 'var', factor: 1000 },
  VA: { unit: 'VA', factor: 1 },
  kVA: { unit: 'VA', factor: 1000 },
  A: { unit: 'A', factor: 1 },
  V: { unit: 'V', factor: 1 },
  Celsius: { unit: 'Celsius', factor: 1 },
  Fahrenheit: { unit: 'Celsius', factor: NaN },
  K: { unit: 'Celsius', factor: NaN },
  Percent: { unit: 'Percent', factor: 1 },
  Hz: { unit: 'Hz', factor: 1 },
};

/** Default unit of a measurand when the charger sends none (OCPP's defaults: Wh for energy, W for power...). */
function defaultUnit(measurand: string): string {
  if (measurand.startsWith('Energy.Reactive')) return 'varh';
  if (measurand.startsWith('Energy')) return 'Wh';
  if (measurand.startsWith('Power.Reactive')) return 'var';
  if (measurand === 'Power.Factor') return '';
  if (measurand.startsWith('Power')) return 'W';
  if (measurand.startsWith('Current')) return 'A';
  if (measurand === 'Voltage') return 'V';
  if (measurand === 'SoC') return 'Percent';
  if (measurand === 'Temperature') return 'Celsius';
  if (measurand === 'Frequency') return 'Hz';
  return '';
}

export const ENERGY_REGISTER = 'Energy.Active.Import.Register';

/** Converts a reported value (with OCPP's optional unit and 2.0.1 multiplier) into the base unit. */
export function normalise(
  measurand: string | undefined,
  unit: string | undefined,
  value: number,
  multiplier = 0,
): { measurand: string; unit: string; value: number } {
  const m = measurand ?? ENERGY_REGISTER;
  const u = unit ?? defaultUnit(m);
  const v = value * 10 ** multiplier;
  if (u === 'Fahrenheit') return { measurand: m, unit: 'Celsius', value: ((v - 32) * 5) / 9 };
  if (u === 'K') return { measurand: m, unit: 'Celsius', value: v - 273.15 };
  const scale = SCALE[u];
  if (!scale) return { measurand: m, unit: u, value: v };
  return { measurand: m, unit: scale.unit, value: v * scale.factor };
}
