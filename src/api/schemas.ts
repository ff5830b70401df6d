// Shared request and response schemas. Text fields refuse characters that have no business in names and
// addresses (markup, template and statement syntax, control characters), so injection attempts are
// answered with a 400 naming the field instead of being stored for some later consumer to trip over.
import { Type, type TSchema } from '@sinclair/typebox';
import { STATION_ID_PATTERN, STATION_ID_RULE } from '../stations/identity.ts';

/** A charger identity, by the one rule the OCPP edge admits too (src/stations/identity.ts). */
export const StationId = Type.String({
  pattern: STATION_ID_PATTERN,
  description: `charging station id: ${STATION_ID_RULE}`,
});
/** Our own ids (UUIDs). */
export const Uuid = Type.String({ pattern: '^[0-9a-fA-F-]{36}$' });
/** An id token as the charger sends it (IdToken/idTag): printable identifier characters, up to 36. */
export const IdTokenValue = Type.String({ pattern: '^[A-Za-z0-9*_=:+|@.-]{1,36}$' });

const SAFE_TEXT = '^[^<>{}\\[\\]\\\\;`$\\u0000-\\u001f\\u007f]*$';
export const Text = (maxLength = 200, options: Record<string, unknown> = {}) =>
  Type.String({ minLength: 1, maxLength, pattern: SAFE_TEXT, ...options });

export const Email = Type.String({ format: 'email', maxLength: 254 });
export const DateTime = Type.String({ format: 'date-time' });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const PageQuery = {
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
};

export const Page = <T extends TSchema>(item: T) =>
  Type.Object({
    items: Type.Array(item),
    total: Type.Integer(),
    limit: Type.Integer(),
    offset: Type.Integer(),
  });

const ErrorRef = Type.Ref('ApiError');

/**
 * The error answers every route may give (bad input, no or wrong credential, role, body too large or of
 * a type the route does not take, rate limit), plus any listed.
 */
export function errorResponses(...extra: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const code of [400, 401, 403, 413, 415, 429, ...extra]) out[code] = ErrorRef;
  return out;
}
