// The one rule for a charger's identity, used wherever an id enters: the OCPP edge (the last segment of
// /ocpp/<id>, which is also the Basic-auth user name), the API (station create, path and query parameters)
// and the command line. OCPP 2.0.1 (security, A00) makes the identity an identifierString of up to 48
// characters: letters, digits and * - _ = : + | @ . — characters a URL path carries without escaping and
// that no log, shell or page reads as markup. 1.6 sets no rule of its own, so it gets the same one.
// "." and ".." alone are excluded too: as path segments they mean "here" and "up", so no URL could
// address such a station.

export const MAX_STATION_ID_LENGTH = 48;

/** The rule as a regular expression (also the API schema's pattern). */
export const STATION_ID_PATTERN = `^(?!\\.{1,2}$)[A-Za-z0-9*_=:+|@.-]{1,${MAX_STATION_ID_LENGTH}}$`;

const STATION_ID = new RegExp(STATION_ID_PATTERN);

export function isStationId(id: string): boolean {
  return STATION_ID.test(id);
}

export const STATION_ID_RULE = `1 to ${MAX_STATION_ID_LENGTH} of A-Z a-z 0-9 * - _ = : + | @ . (not "." or ".." alone)`;

/** Thrown where an id that breaks the rule would otherwise be stored. */
export class InvalidStationIdError extends Error {
  constructor(id: string) {
    super(`station id ${JSON.stringify(id.slice(0, 60))} is not valid: ${STATION_ID_RULE}`);
    this.name = 'InvalidStationIdError';
  }
}

export function requireStationId(id: string): void {
  if (!isStationId(id)) throw new InvalidStationIdError(id);
}
