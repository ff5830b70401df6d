// A 2.0.1 NotifyEvent's EventData as a station event. Every one is a device-model event: which component and
// variable, what triggered it (Alerting, Delta, Periodic), the actual value and the charger's technical code. Only
// one that reports a failure is a fault: a variable that exists to report one (Problem, Tamper, Tripped) or an alert
// that carries a ChargeX code. Periodic readings and monitor thresholds are not faults even with a code attached:
// faults explain outages in uptime and field service, and a temperature reading explains none.
import type { StationEvent } from '../../stations/model.ts';
import { causeFor, isChargeXCode } from '../../uptime/cause-codes.ts';
import type { TimestampReader } from '../charger-clock.ts';

/** Standard 2.0.1 variables whose value says whether their component has failed. */
const FAILURE_VARIABLES: ReadonlySet<string> = new Set(['Problem', 'Tamper', 'Tripped']);

interface EventData {
  eventId: number;
  timestamp: string;
  trigger: string;
  cause?: number;
  actualValue: string;
  techCode?: string;
  techInfo?: string;
  cleared?: boolean;
  transactionId?: string;
  variableMonitoringId?: number;
  eventNotificationType: string;
  component: { name: string; instance?: string; evse?: { id: number; connectorId?: number } };
  variable: { name: string; instance?: string };
}

export function stationEventOf(e: EventData, at: TimestampReader): StationEvent {
  const failureVariable = FAILURE_VARIABLES.has(e.variable.name);
  const fault = failureVariable || (e.trigger === 'Alerting' && isChargeXCode(e.techCode));
  const cleared = e.cleared ?? (failureVariable ? isFalse(e.actualValue) : undefined);
  return {
    kind: fault ? 'fault' : 'event',
    evseId: e.component.evse?.id,
    connectorId: e.component.evse?.connectorId,
    ...(fault ? { errorCode: faultCode(e) } : {}),
    vendorErrorCode: e.techCode,
    info: e.techInfo,
    cleared,
    component: e.component.name,
    variable: e.variable.name,
    trigger: e.trigger,
    actualValue: e.actualValue,
    transactionRef: e.transactionId,
    eventRef: String(e.eventId),
    timestamp: at(e.timestamp),
    payload: e as unknown as Record<string, unknown>,
  };
}

/**
 * What failed, in the words faults are listed with: a ChargeX code's name (the 1.6 error code of the same failure,
 * e.g. GroundFailure), else the charger's own code, else the component and the variable (`RCD.Tripped`).
 */
function faultCode(e: EventData): string {
  if (isChargeXCode(e.techCode)) return causeFor(e.techCode).name;
  if (e.techCode) return e.techCode;
  return `${e.component.name}.${e.variable.name}`;
}

function isFalse(value: string): boolean {
  return value.toLowerCase() === 'false' || value === '0';
}
