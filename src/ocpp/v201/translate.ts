// OCPP 2.0.1 words ↔ the neutral model.
import type { ConnectorStatus } from '../../stations/model.ts';
import type { AuthorizationResult, ChargingState, MeterSample } from '../../sessions/model.ts';
import { normalise } from '../../sessions/meter.ts';
import type { TimestampReader } from '../charger-clock.ts';

/** Statuses that already say more than 2.0.1's "Occupied" (which only means something is plugged in). */
const OCCUPIED_DETAIL: ReadonlySet<ConnectorStatus> = new Set([
  'preparing',
  'charging',
  'suspended_ev',
  'suspended_evse',
  'finishing',
]);

export function connectorStatus(status: string, current: ConnectorStatus | undefined): ConnectorStatus {
  switch (status) {
    case 'Available':
      return 'available';
    case 'Occupied':
      // The transaction's charging state refines it; an Occupied report must not erase that detail.
      return current && OCCUPIED_DETAIL.has(current) ? current : 'preparing';
    case 'Reserved':
      return 'reserved';
    case 'Faulted':
      return 'faulted';
    default:
      return 'unavailable';
  }
}

const CHARGING_STATE: Record<string, ChargingState> = {
  Charging: 'charging',
  EVConnected: 'ev_connected',
  SuspendedEV: 'suspended_ev',
  SuspendedEVSE: 'suspended_evse',
  Idle: 'idle',
};

export function chargingState(state: string | undefined): ChargingState | undefined {
  return state ? CHARGING_STATE[state] : undefined;
}

const AUTH: Record<AuthorizationResult['status'], string> = {
  accepted: 'Accepted',
  blocked: 'Blocked',
  expired: 'Expired',
  invalid: 'Invalid',
  unknown: 'Unknown',
  concurrent_tx: 'ConcurrentTx',
};

export function idTokenInfo(auth: AuthorizationResult): Record<string, unknown> {
  const info: Record<string, unknown> = { status: AUTH[auth.status] };
  if (auth.expiresAt) info.cacheExpiryDateTime = auth.expiresAt.toISOString();
  if (auth.groupId) info.groupIdToken = { idToken: auth.groupId.slice(0, 36), type: 'Central' };
  // I TariffAndCost: the price shown to the driver before the session (billing, issue 4).
  if (auth.personalMessage) info.personalMessage = { format: 'UTF8', content: auth.personalMessage.slice(0, 512) };
  return info;
}

interface SampledValue201 {
  value: number;
  context?: string;
  measurand?: string;
  phase?: string;
  location?: string;
  signedMeterValue?: { signedMeterData: string; signingMethod: string; encodingMethod: string; publicKey: string };
  unitOfMeasure?: { unit?: string; multiplier?: number };
}

export function meterSamples(
  meterValue: { timestamp: string; sampledValue: SampledValue201[] }[] = [],
  at: TimestampReader,
): MeterSample[] {
  const samples: MeterSample[] = [];
  for (const mv of meterValue) {
    const timestamp = at(mv.timestamp);
    for (const sv of mv.sampledValue) {
      const n = normalise(sv.measurand, sv.unitOfMeasure?.unit, sv.value, sv.unitOfMeasure?.multiplier ?? 0);
      samples.push({
        timestamp,
        measurand: n.measurand,
        unit: n.unit,
        value: n.value,
        ...(sv.phase ? { phase: sv.phase } : {}),
        ...(sv.location ? { location: sv.location } : {}),
        ...(sv.context ? { context: sv.context } : {}),
        // Signed (OCMF / Eichrecht) data is kept beside the plain value for billing evidence.
        ...(sv.signedMeterValue ? { signedData: JSON.stringify(sv.signedMeterValue) } : {}),
      });
    }
  }
  return samples;
}
