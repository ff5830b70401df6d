// The version-neutral model of authorization, transactions and meter samples.

export type AuthorizationStatus = 'accepted' | 'blocked' | 'expired' | 'invalid' | 'unknown' | 'concurrent_tx';

export interface IdTokenRef {
  idToken: string;
  /** Token type: ISO14443, ISO15693, eMAID, Central, KeyCode, Local, MacAddress, NoAuthorization (1.6 tags: ISO14443). */
  type: string;
  /** The protocol carries no type (1.6 idTags): `type` is only assumed, and a token of any registered type matches. */
  typeAssumed?: boolean;
}

export interface AuthorizationResult {
  status: AuthorizationStatus;
  expiresAt?: Date;
  groupId?: string;
  /** Text for the driver (billing puts the price here before the session starts); 2.0.1 shows it on the charger. */
  personalMessage?: string;
}

/** Something a domain wants the driver to read when a token is accepted (e.g. the price, from billing). */
export type PersonalMessageProvider = (stationId: string, token: IdTokenRef) => Promise<string | undefined>;

/** A meter sample in SI-ish base units: energy Wh, power W, current A, voltage V, SoC percent, temperature Celsius. */
export interface MeterSample {
  timestamp: Date;
  measurand: string;
  phase?: string;
  location?: string;
  unit: string;
  /** NaN when only signed data was reported. */
  value: number;
  context?: string;
  signedData?: string;
}

export type TransactionEventType = 'started' | 'updated' | 'ended';

export type ChargingState = 'charging' | 'ev_connected' | 'suspended_ev' | 'suspended_evse' | 'idle';

/**
 * One thing that happened to a transaction, from either version: 1.6 StartTransaction / MeterValues /
 * StopTransaction or a 2.0.1 TransactionEvent.
 */
export interface AuthorizeOptions {
  /**
   * Build a personal message (e.g. the price) for an accepted token. Only for chargers that can show one: it
   * costs the message provider's lookups, which a charger that discards it should not pay for.
   */
  personalMessage?: boolean;
}

export interface TransactionEventInput {
  eventType: TransactionEventType;
  timestamp: Date;
  /** The port, when the event names it (2.0.1 requires it in the first event only; a 1.6 stop names none). */
  evseId?: number;
  connectorId?: number;
  /** The charger's id when it assigns one (2.0.1); absent when the CSMS must assign it (1.6 start). */
  chargerTransactionId?: string;
  /**
   * `chargerTransactionId` is an id the CSMS assigned (1.6 stop): a transaction it names that is not stored was never
   * assigned, and is recorded flagged `id_unknown`.
   */
  idAssignedByCsms?: boolean;
  /** The charger's ordering of events for this transaction; synthesised by the edge when the protocol has none. */
  seqNo?: number;
  offline?: boolean;
  triggerReason?: string;
  chargingState?: ChargingState;
  idToken?: IdTokenRef;
  /** The charger can show the driver a message with the token's answer (see `AuthorizeOptions`). */
  personalMessage?: boolean;
  /** Energy register at start / stop in Wh when the protocol reports it directly (1.6 meterStart/meterStop). */
  meterStartWh?: number;
  meterStopWh?: number;
  stopReason?: string;
  reservationId?: number;
  remoteStartId?: number;
  meterValues?: MeterSample[];
  /** The message as received, kept in the transaction's event log. */
  payload: Record<string, unknown>;
}

export interface TransactionEventResult {
  /** Our own stable id. */
  transactionId: string;
  /** The id the charger knows the transaction by (1.6: the integer the CSMS assigned, as a string). */
  chargerTransactionId: string;
  /** Authorization of the token that came with the event, when one did. */
  idTokenInfo?: AuthorizationResult;
  /** True when this event had been stored before (a replay) and was not applied again. */
  duplicate: boolean;
}
