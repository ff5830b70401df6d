// Outage causes as data: the ChargeX Minimum Required Error Codes (MREC) a charger can send, plus the causes
// OpenCPO derives itself when a charger sends no MREC code (an OCPP error code, or a situation such as the
// charger being offline or boot-looping). Each cause names the party responsible for it, which drives
// attribution in reports and which exclusions are plausible (a vehicle-side code supports NEVI reason 2).
//
// The MREC names and codes are those confirmed in DOMAIN.md 2.1 (INL page and EVerest). The MREC Rev5 PDF
// also assigns each code a responsible party; that column was not retrieved, so the parties below are
// OpenCPO's reading of each code's meaning (`partySource: 'opencpo'`). Replace them from the PDF when it is
// at hand; nothing else in the code depends on their values.

export type ResponsibleParty = 'cpo' | 'oem' | 'ev' | 'site_utility' | 'driver' | 'network' | 'unknown';

export type CauseSource = 'charger_mrec' | 'ocpp_error' | 'situation' | 'correction';

export interface CauseCode {
  code: string;
  name: string;
  description: string;
  party: ResponsibleParty;
  /** Where the party assignment comes from. */
  partySource: 'mrec' | 'opencpo';
  /** The NEVI exclusion reason this cause usually supports, if any (EV-ChART 1–6); a person still decides. */
  suggestedExclusion?: ExclusionReason;
}

/** EV-ChART `excluded_outage_reason` codes, in the order of §680.116(b)(3)'s list (see DOMAIN.md 1.1). */
export const EXCLUSION_REASONS = {
  1: 'electric utility service interruption',
  2: 'failure to charge caused by the vehicle',
  3: 'scheduled maintenance',
  4: 'vandalism',
  5: 'natural disaster',
  6: 'outside published hours of operation',
} as const;
export type ExclusionReason = keyof typeof EXCLUSION_REASONS;
export const EXCLUSION_REASON_NAMES: Record<string, ExclusionReason> = {
  utility_interruption: 1,
  vehicle_fault: 2,
  scheduled_maintenance: 3,
  vandalism: 4,
  natural_disaster: 5,
  outside_hours: 6,
};

export const CHARGEX_VENDOR_ID = 'https://chargex.inl.gov';

const MREC: CauseCode[] = [
  cause('CX001', 'ConnectorLockFailure', 'lock/unlock failure on the vehicle side', 'ev', 2),
  cause('CX002', 'GroundFailure', 'GFCI/RCD tripped', 'oem'),
  cause('CX003', 'HighTemperature', 'internal over-temperature derating power', 'oem'),
  cause('CX004', 'OverCurrentFailure', 'over-current protection tripped', 'oem'),
  cause('CX005', 'OverVoltage', 'voltage to vehicle too high', 'oem'),
  cause('CX006', 'UnderVoltage', 'voltage to vehicle too low', 'site_utility', 1),
  cause('CX008', 'EmergencyStop', 'emergency stop pressed', 'driver'),
  cause('CX009', 'AuthorizationTimeout', 'plugged in, not authorized before timeout', 'driver'),
  cause('CX010', 'InvalidVehicleMode', 'vehicle in a mode invalid for charging', 'ev', 2),
  cause('CX011', 'CableCheckFault', 'DC cable check (isolation test) failed', 'oem'),
  cause('CX014', 'PilotFault', 'control-pilot voltage out of range', 'oem'),
  cause('CX015', 'PowerLoss', 'no mains input', 'site_utility', 1),
  cause('CX017', 'EVSEContactorFault', 'EVSE contactor fails to open/close', 'oem'),
  cause('CX018', 'CableOverTempDerate', 'cable/connector hot, reduced power', 'oem'),
  cause('CX019', 'CableOverTempStop', 'cable/connector hot, session stopped', 'oem'),
  cause('CX020', 'PartialInsertion', 'connector not fully inserted', 'driver'),
  cause('CX022', 'ResistanceFault', 'isolation resistance fault', 'oem'),
  cause('CX023', 'ProximityFault', 'proximity voltage out of range', 'oem'),
  cause('CX024', 'ConnectorVoltageHigh', 'output voltage present before start or after end', 'oem'),
  cause('CX025', 'BrokenLatch', 'connector latch broken', 'cpo'),
  cause('CX026', 'CutCable', 'output cable severed', 'cpo', 4),
];

/** Causes OpenCPO derives when the charger sent no MREC code. */
const DERIVED: CauseCode[] = [
  cause('OFFLINE', 'ChargerOffline', 'charger not connected to the CSMS beyond the grace period', 'network'),
  cause('BOOT_LOOP', 'BootLoop', 'charger rebooting repeatedly', 'oem'),
  cause('FAILED_SESSIONS', 'RepeatedFailedSessions', 'consecutive sessions delivered no energy', 'unknown'),
  cause('UNAVAILABLE', 'Unavailable', 'port reported Unavailable outside any scheduled window', 'cpo'),
  cause('FAULTED', 'FaultedUnspecified', 'port Faulted with no error code', 'unknown'),
  cause('VANDALISM', 'Vandalism', 'damage by a third party', 'cpo', 4),
  cause('UTILITY', 'UtilityInterruption', 'electric utility service interruption', 'site_utility', 1),
  cause('VEHICLE', 'VehicleFault', 'the vehicle failed to charge', 'ev', 2),
  cause('NATURAL_DISASTER', 'NaturalDisaster', 'natural disaster', 'site_utility', 5),
  cause('MAINTENANCE', 'ScheduledMaintenance', 'scheduled maintenance', 'cpo', 3),
];

/** OCPP 1.6 StatusNotification errorCodes: those with an exact MREC equivalent map to it (EVerest does the same). */
const OCPP16_ERRORS: Record<string, string> = {
  ConnectorLockFailure: 'CX001',
  GroundFailure: 'CX002',
  HighTemperature: 'CX003',
  OverCurrentFailure: 'CX004',
  OverVoltage: 'CX005',
  UnderVoltage: 'CX006',
};
const OCPP16_OTHER_PARTY: Record<string, ResponsibleParty> = {
  EVCommunicationError: 'ev',
  InternalError: 'oem',
  LocalListConflict: 'cpo',
  OtherError: 'unknown',
  PowerMeterFailure: 'oem',
  PowerSwitchFailure: 'oem',
  ReaderFailure: 'oem',
  ResetFailure: 'oem',
  WeakSignal: 'network',
};

const BY_CODE = new Map<string, CauseCode>([...MREC, ...DERIVED].map((c) => [c.code, c]));

export const CAUSE_CODES: readonly CauseCode[] = [
  ...MREC,
  ...DERIVED,
  ...Object.entries(OCPP16_OTHER_PARTY).map(([error, party]) =>
    cause(`OCPP:${error}`, error, `OCPP error code ${error}`, party),
  ),
];
for (const c of CAUSE_CODES) BY_CODE.set(c.code, c);

export function isChargeXCode(code: string | null | undefined): code is string {
  return typeof code === 'string' && /^CX0\d\d$/.test(code);
}

/** The cause for a code; an MREC code not in the confirmed table is still an MREC code, with an unknown party. */
export function causeFor(code: string): CauseCode {
  const known = BY_CODE.get(code);
  if (known) return known;
  if (isChargeXCode(code)) return cause(code, 'Unknown', `ChargeX code ${code}`, 'unknown');
  return cause(code, code, code, 'unknown');
}

/** The cause an OCPP error code implies when no MREC code came with it, or undefined for NoError/none. */
export function causeFromOcppError(errorCode: string | null | undefined): string | undefined {
  if (!errorCode || errorCode === 'NoError') return undefined;
  return OCPP16_ERRORS[errorCode] ?? `OCPP:${errorCode}`;
}

export function isKnownCause(code: string): boolean {
  return BY_CODE.has(code) || isChargeXCode(code);
}

/** One row of the cause table (ChargeX MREC codes and the ones we derive alike); parties are our reading. */
function cause(
  code: string,
  name: string,
  description: string,
  party: ResponsibleParty,
  suggestedExclusion?: ExclusionReason,
): CauseCode {
  return {
    code,
    name,
    description,
    party,
    partySource: 'opencpo',
    ...(suggestedExclusion ? { suggestedExclusion } : {}),
  };
}
