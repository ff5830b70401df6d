// The OCPP versions OpenCPO speaks, named by their WebSocket subprotocols, and the RPC error codes each one
// spells its own way (1.6 has "FormationViolation" and the misspelled "OccurenceConstraintViolation").

export const PROTOCOLS = ['ocpp2.0.1', 'ocpp1.6'] as const;
export type OcppProtocol = (typeof PROTOCOLS)[number];

export function isProtocol(value: string): value is OcppProtocol {
  return (PROTOCOLS as readonly string[]).includes(value);
}

/** Version-independent names for the RPC error situations; `errorCodeFor` spells them per version. */
export type RpcErrorKind =
  | 'FormatViolation'
  | 'OccurrenceConstraintViolation'
  | 'PropertyConstraintViolation'
  | 'TypeConstraintViolation'
  | 'ProtocolError'
  | 'NotImplemented'
  | 'NotSupported'
  | 'InternalError'
  | 'SecurityError'
  | 'GenericError'
  | 'RpcFrameworkError'
  | 'MessageTypeNotSupported';

const V16: Record<RpcErrorKind, string> = {
  FormatViolation: 'FormationViolation',
  OccurrenceConstraintViolation: 'OccurenceConstraintViolation',
  PropertyConstraintViolation: 'PropertyConstraintViolation',
  TypeConstraintViolation: 'TypeConstraintViolation',
  ProtocolError: 'ProtocolError',
  NotImplemented: 'NotImplemented',
  NotSupported: 'NotSupported',
  InternalError: 'InternalError',
  SecurityError: 'SecurityError',
  GenericError: 'GenericError',
  // 1.6 has neither code: a frame that is no RPC message at all "does not conform to the PDU structure"
  // there (FormationViolation); an unknown message type is a generic error.
  RpcFrameworkError: 'FormationViolation',
  MessageTypeNotSupported: 'GenericError',
};

export function errorCodeFor(protocol: OcppProtocol, kind: RpcErrorKind): string {
  return protocol === 'ocpp1.6' ? V16[kind] : kind;
}

export class RpcError extends Error {
  constructor(
    readonly kind: RpcErrorKind,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'RpcError';
  }
}
