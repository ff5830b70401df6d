// The ChargeX Minimum Required Error Codes (MREC) a simulated charger can raise, and how each travels in
// OCPP 1.6: the matching StatusNotification errorCode when 1.6 has one, otherwise OtherError, with the CX
// code in vendorErrorCode (the convention EVerest follows; see DOMAIN.md 2.1 and 2.2).

export const CHARGEX_VENDOR_ID = 'https://chargex.inl.gov';

export interface ChargeXFault {
  code: string;
  name: string;
  /** OCPP 1.6 StatusNotification errorCode. */
  errorCode16: string;
  /** Short human text; 1.6 `info` is limited to 50 characters. */
  info: string;
}

const TABLE: ChargeXFault[] = [
  { code: 'CX001', name: 'ConnectorLockFailure', errorCode16: 'ConnectorLockFailure', info: 'Connector lock failure' },
  { code: 'CX002', name: 'GroundFailure', errorCode16: 'GroundFailure', info: 'Ground fault (RCD/GFCI tripped)' },
  { code: 'CX003', name: 'HighTemperature', errorCode16: 'HighTemperature', info: 'Internal over-temperature' },
  { code: 'CX004', name: 'OverCurrentFailure', errorCode16: 'OverCurrentFailure', info: 'Over-current protection' },
  { code: 'CX005', name: 'OverVoltage', errorCode16: 'OverVoltage', info: 'Output over-voltage' },
  { code: 'CX006', name: 'UnderVoltage', errorCode16: 'UnderVoltage', info: 'Output under-voltage' },
  { code: 'CX008', name: 'EmergencyStop', errorCode16: 'OtherError', info: 'Emergency stop pressed' },
  { code: 'CX009', name: 'AuthorizationTimeout', errorCode16: 'OtherError', info: 'Authorization timeout' },
  { code: 'CX010', name: 'InvalidVehicleMode', errorCode16: 'OtherError', info: 'Vehicle in invalid mode' },
  { code: 'CX011', name: 'CableCheckFault', errorCode16: 'OtherError', info: 'DC cable check failed' },
  { code: 'CX014', name: 'PilotFault', errorCode16: 'OtherError', info: 'Control pilot out of range' },
  { code: 'CX015', name: 'PowerLoss', errorCode16: 'OtherError', info: 'Mains power lost' },
  { code: 'CX017', name: 'EVSEContactorFault', errorCode16: 'OtherError', info: 'EVSE contactor fault' },
  { code: 'CX018', name: 'CableOverTempDerate', errorCode16: 'OtherError', info: 'Cable hot, power derated' },
  { code: 'CX019', name: 'CableOverTempStop', errorCode16: 'OtherError', info: 'Cable hot, session stopped' },
  { code: 'CX020', name: 'PartialInsertion', errorCode16: 'OtherError', info: 'Connector not fully inserted' },
  { code: 'CX022', name: 'ResistanceFault', errorCode16: 'OtherError', info: 'Isolation resistance fault' },
  { code: 'CX023', name: 'ProximityFault', errorCode16: 'OtherError', info: 'Proximity voltage out of range' },
  { code: 'CX024', name: 'ConnectorVoltageHigh', errorCode16: 'OtherError', info: 'Voltage on connector when idle' },
  { code: 'CX025', name: 'BrokenLatch', errorCode16: 'OtherError', info: 'Connector latch broken' },
  { code: 'CX026', name: 'CutCable', errorCode16: 'OtherError', info: 'Output cable severed' },
];

const BY_CODE = new Map(TABLE.map((fault) => [fault.code, fault]));

export const CHARGEX_CODES: readonly string[] = TABLE.map((fault) => fault.code);

/**
 * The fault for a CX code. Codes not in the confirmed table (CX007, CX012...) are still accepted, as
 * OtherError, so that a test or operator can send any code the MREC document defines.
 */
export function chargeXFault(code: string): ChargeXFault {
  const known = BY_CODE.get(code);
  if (known) return known;
  if (!/^CX0\d\d$/.test(code)) throw new Error(`not a ChargeX fault code: ${code} (expected CX001..CX026)`);
  return { code, name: 'Unknown', errorCode16: 'OtherError', info: `ChargeX fault ${code}` };
}
