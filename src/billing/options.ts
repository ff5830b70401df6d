// Billing settings, from the environment with safe defaults. Read once at start.

export interface BillingOptions {
  /** OCPI party of this operator, printed on CDRs (country_code, party_id). */
  countryCode: string;
  partyId: string;
  /** Invoice numbering series: numbers are sequential without gaps per operator id. */
  operatorId: string;
  /** Sessions below either minimum are not billed and are recorded as failed sessions. */
  minEnergyWh: number;
  minDurationS: number;
  /** Ended sessions without a CDR from this many days back are priced at start-up. */
  catchUpDays: number;
  /** Time zone used when a station has no location (restrictions on local time need one). */
  defaultTimeZone: string;
  /** Shortest interval between two CostUpdated messages for one session (OCPP 2.0.1), seconds; -1 = never. */
  costUpdateIntervalS: number;
  /** How a wallet or card hold is sized at session start, minor units of the account's currency. */
  holdAmountMinor: number;
  /**
   * How long an ended session whose events are not all in (2.0.1 seqNos missing) waits for them before its CDR is
   * issued with what arrived, seconds; an event arriving later corrects it (credit CDR and a new one).
   */
  lateEventsWaitS: number;
}

function num(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number ≥ 0, got ${JSON.stringify(raw)}`);
  return n;
}

export function billingOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): BillingOptions {
  return {
    countryCode: (env.OPENCPO_COUNTRY_CODE ?? 'NL').toUpperCase(),
    partyId: (env.OPENCPO_PARTY_ID ?? 'OCP').toUpperCase(),
    operatorId: env.OPENCPO_OPERATOR_ID ?? 'default',
    minEnergyWh: num(env, 'OPENCPO_BILLING_MIN_ENERGY_WH', 100),
    minDurationS: num(env, 'OPENCPO_BILLING_MIN_DURATION_S', 60),
    defaultTimeZone: env.OPENCPO_DEFAULT_TIME_ZONE ?? 'UTC',
    catchUpDays: num(env, 'OPENCPO_BILLING_CATCH_UP_DAYS', 35),
    holdAmountMinor: num(env, 'OPENCPO_BILLING_HOLD_MINOR', 5000),
    lateEventsWaitS: num(env, 'OPENCPO_BILLING_LATE_EVENTS_WAIT_S', 600),
    // 'off' turns CostUpdated off (e.g. chargers whose display shows it badly).
    costUpdateIntervalS:
      env.OPENCPO_COST_UPDATE_INTERVAL_S === 'off' ? -1 : num(env, 'OPENCPO_COST_UPDATE_INTERVAL_S', 60),
  };
}
