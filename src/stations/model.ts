// The version-neutral model of a charger, as the OCPP edge hands it to the domain. Nothing here knows
// which OCPP version a charger speaks.

/** One status vocabulary for every connector, whatever the protocol; `offline` when the charger is not connected. */
export const CONNECTOR_STATUSES = [
  'available',
  'preparing',
  'charging',
  'suspended_ev',
  'suspended_evse',
  'finishing',
  'reserved',
  'unavailable',
  'faulted',
  'offline',
] as const;
export type ConnectorStatus = (typeof CONNECTOR_STATUSES)[number];

/** A port address. EVSE 0 means the charger as a whole (1.6 connectorId 0). */
export interface PortRef {
  evseId: number;
  connectorId: number;
}

export type RegistrationStatus = 'accepted' | 'pending' | 'rejected';

export interface BootInfo {
  vendor: string;
  model: string;
  serialNumber?: string;
  firmwareVersion?: string;
  iccid?: string;
  imsi?: string;
  meterType?: string;
  meterSerialNumber?: string;
  /** Why it booted (2.0.1 reason; 1.6 has none). */
  reason?: string;
}

export interface BootDecision {
  status: RegistrationStatus;
  intervalS: number;
  currentTime: Date;
}

export interface StatusReport extends PortRef {
  status: ConnectorStatus;
  /** OCPP 1.6 error code (2.0.1 reports errors through NotifyEvent instead). */
  errorCode?: string;
  vendorId?: string;
  vendorErrorCode?: string;
  info?: string;
  timestamp: Date;
}

/** Something a charger reported that is not a status: a fault, a monitored variable, a security event... */
export type StationEventKind =
  | 'fault'
  | 'event'
  | 'security'
  | 'firmware'
  | 'diagnostics'
  | 'log'
  | 'data_transfer'
  | 'reservation'
  | 'charging_limit'
  | 'display'
  | 'customer_information'
  | 'certificate'
  | 'monitoring'
  | 'connection'
  | 'boot'
  /** The charger's timestamps stopped being plausible (see ocpp/charger-clock.ts): once per episode. */
  | 'clock_fault';

export interface StationEvent {
  kind: StationEventKind;
  evseId?: number;
  connectorId?: number;
  errorCode?: string;
  vendorId?: string;
  /** 1.6 vendorErrorCode or 2.0.1 techCode; carries ChargeX codes (CX0nn). */
  vendorErrorCode?: string;
  info?: string;
  severity?: number;
  cleared?: boolean;
  component?: string;
  variable?: string;
  /** What made a 2.0.1 device-model event: Alerting, Delta or Periodic. */
  trigger?: string;
  actualValue?: string;
  transactionRef?: string;
  /** The charger's own event id (2.0.1 eventId, security event type, request id...). */
  eventRef?: string;
  timestamp: Date;
  /** The message as received, for evidence. */
  payload: Record<string, unknown>;
}

/** A device-model variable (2.0.1) as reported. */
export interface DeviceVariable {
  component: string;
  componentInstance?: string;
  evseId?: number;
  connectorId?: number;
  variable: string;
  variableInstance?: string;
  attributeType?: string;
  value?: string;
  mutability?: string;
  characteristics?: Record<string, unknown>;
}

/** A configuration key (1.6). */
export interface ConfigurationKey {
  key: string;
  value?: string;
  readonly: boolean;
}
