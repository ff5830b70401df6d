// OCPP 1.6 words ↔ the neutral model.
import type { ConnectorStatus } from '../../stations/model.ts';
import type { AuthorizationResult, MeterSample } from '../../sessions/model.ts';
import { normalise } from '../../sessions/meter.ts';
import type { TimestampReader } from '../charger-clock.ts';

const STATUS: Record<string, ConnectorStatus> = {
  Available: 'available',
  Preparing: 'preparing',
  Charging: 'charging',
  SuspendedEVSE: 'suspended_evse',
  SuspendedEV: 'suspended_ev',
  Finishing: 'finishing',
  Reserved: 'reserved',
  Unavailable: 'unavailable',
  Faulted: 'faulted',
};

export function connectorStatus(status: string): ConnectorStatus {
  return STATUS[status] ?? 'unavailable';
}

/**
 * 1.6 numbers connectors per charger (0 = the charger itself). The neutral model has EVSEs with
 * connectors; a 1.6 connector N is EVSE N with its one connector 1, and connector 0 is EVSE 0.
 */
export function portOf(connectorId: number): { evseId: number; connectorId: number } {
  return connectorId === 0 ? { evseId: 0, connectorId: 0 } : { evseId: connectorId, connectorId: 1 };
}

const AUTH: Record<AuthorizationResult['status'], string> = {
  accepted: 'Accepted',
  blocked: 'Blocked',
  expired: 'Expired',
  invalid: 'Invalid',
  unknown: 'Invalid',
  concurrent_tx: 'ConcurrentTx',
};

export function idTagInfo(auth: AuthorizationResult): Record<string, unknown> {
  const info: Record<string, unknown> = { status: AUTH[auth.status] };
  if (auth.expiresAt) info.expiryDate = auth.expiresAt.toISOString();
  if (auth.groupId) info.parentIdTag = auth.groupId.slice(0, 20);
  return info;
}

interface SampledValue16 {
  value: string;
  context?: string;
  format?: string;
  measurand?: string;
  phase?: string;
  location?: string;
  unit?: string;
}

export function meterSamples(
  meterValue: { timestamp: string; sampledValue: SampledValue16[] }[] = [],
  at: TimestampReader,
): MeterSample[] {
  const samples: MeterSample[] = [];
  for (const mv of meterValue) {
    const timestamp = at(mv.timestamp);
    for (const sv of mv.sampledValue) {
      const signed = sv.format === 'SignedData';
      // A signed reading's value is the signed blob; its number is unknown here (NaN), the blob is kept.
      const raw = signed ? NaN : Number(sv.value);
      if (!signed && !Number.isFinite(raw)) continue; // a reading that is not a number carries nothing to store
      const n = normalise(sv.measurand, sv.unit, raw);
      samples.push({
        timestamp,
        measurand: n.measurand,
        unit: n.unit,
        value: n.value,
        ...(sv.phase ? { phase: sv.phase } : {}),
        ...(sv.location ? { location: sv.location } : {}),
        ...(sv.context ? { context: sv.context } : {}),
        ...(signed ? { signedData: sv.value } : {}),
      });
    }
  }
  return samples;
}
