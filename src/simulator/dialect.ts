// The version-neutral state of a simulated station's connectors, and the interface each OCPP version
// implements to turn that state into messages (v16.ts, v201.ts). The station decides what happens; the
// dialect only knows how to say it in its version.
import type { ChargeXFault } from './faults.ts';
import type { ConnectorMeter, MeterReading } from './meter.ts';

/** What a connector is doing, in 1.6 words; 2.0.1 folds Preparing/Charging/Finishing into Occupied. */
export type ConnectorPhase =
  'Available' | 'Preparing' | 'Charging' | 'Finishing' | 'Reserved' | 'Unavailable' | 'Faulted';

export interface TransactionState {
  /** 2.0.1: the id this charger generated; 1.6: the integer the CSMS assigned, as a string. */
  id: string;
  idTag: string;
  meterStartWh: number;
  startedAt: Date;
  /** 2.0.1 TransactionEvent sequence number of the next event (Started is 0). */
  nextSeqNo: number;
  remoteStartId?: number;
}

export interface ConnectorState {
  /** 1.6 connectorId; in 2.0.1 the EVSE id (each simulated EVSE has one connector, connectorId 1). */
  readonly id: number;
  readonly meter: ConnectorMeter;
  operative: boolean;
  plugged: boolean;
  fault?: ChargeXFault;
  transaction?: TransactionState;
  reservationId?: number;
  /** The status word last reported, so unchanged statuses are not sent twice. */
  lastReportedStatus?: string;
}

export function phaseOf(connector: ConnectorState): ConnectorPhase {
  if (connector.fault) return 'Faulted';
  if (!connector.operative) return 'Unavailable';
  if (connector.transaction) return 'Charging';
  if (connector.plugged) return connector.lastReportedStatus === 'Charging' ? 'Finishing' : 'Preparing';
  if (connector.reservationId !== undefined) return 'Reserved';
  return 'Available';
}

export type RegistrationStatus = 'Accepted' | 'Pending' | 'Rejected';

export interface BootAnswer {
  status: RegistrationStatus;
  intervalS: number;
}

export interface AuthorizeAnswer {
  /** The CSMS's authorization status word as sent (Accepted, Invalid, Blocked...). */
  status: string;
  accepted: boolean;
  raw: unknown;
}

export interface StartAnswer {
  transactionId: string;
  /** False when the CSMS refused the token in its answer; the station then ends the transaction. */
  accepted: boolean;
}

/** Version-neutral stop reasons; each dialect spells them in its own enum. */
export type StopReason =
  | 'Local'
  | 'Remote'
  | 'EVDisconnected'
  | 'DeAuthorized'
  | 'EmergencyStop'
  | 'PowerLoss'
  | 'Reboot'
  | 'HardReset'
  | 'SoftReset'
  | 'GroundFault'
  | 'OvercurrentFault'
  | 'UnlockCommand'
  | 'Other';

export interface Dialect {
  /** Status word this version reports for a phase (e.g. 2.0.1 "Occupied" for Charging). */
  statusWord(phase: ConnectorPhase): string;
  /** The id a charger gives a new transaction itself (2.0.1); undefined when the CSMS assigns it (1.6). */
  newTransactionId(): string | undefined;
  bootNotification(reason: string): Promise<BootAnswer>;
  heartbeat(): Promise<void>;
  /** Reports a connector's status; `connectorId` 0 (1.6 only) is the charger as a whole. */
  statusNotification(connector: ConnectorState | 0, word: string): Promise<void>;
  authorize(idTag: string): Promise<AuthorizeAnswer>;
  /** Announces the transaction already recorded on `connector`; resolves with the id it ends up with. */
  startTransaction(
    connector: ConnectorState,
    idTag: string,
    reading: MeterReading,
    remoteStartId?: number,
  ): Promise<StartAnswer>;
  meterValues(connector: ConnectorState, reading: MeterReading, context: 'Sample.Periodic' | 'Trigger'): Promise<void>;
  stopTransaction(connector: ConnectorState, reason: StopReason, reading: MeterReading): Promise<void>;
  /** Announces a raised (or, with `cleared`, a cleared) fault, beyond the status change itself. */
  faultEvent(connector: ConnectorState, fault: ChargeXFault, cleared: boolean): Promise<void>;
  /** Answers a CSMS-initiated CALL; follow-up messages are scheduled with `station.later`. */
  handleCall(action: string, payload: any): Promise<unknown> | unknown;
}
