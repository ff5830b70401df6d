// Request validation: bodies are checked strictly (no type coercion, unknown fields refused rather than
// silently dropped); path and query strings are text on the wire, so those are coerced to the schema's
// types. Fastify's default removes unknown fields quietly, which would hide a client's mistake.
// Two rules hold for every route, so that what passes validation can be stored and used: an integer without
// bounds of its own is bounded to PostgreSQL's integer (an id, an offset of 1e20 would otherwise fail in the
// database as a 500), and a date-time must be one JavaScript's Date can hold (RFC 3339 allows the leap second
// 23:59:60, which Date cannot represent: it would become an Invalid Date further on).
// Before any schema, one rule for all text of every route: nothing PostgreSQL cannot store (see
// unstorable-text.ts).
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.ts';
import { findUnstorableText } from './unstorable-text.ts';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const rfc3339DateTime = fullFormats['date-time'] as { validate: (value: string) => boolean };

/** PostgreSQL's integer: what an integer column or an offset holds. */
export const INT32 = { minimum: -(2 ** 31), maximum: 2 ** 31 - 1 } as const;

function build(coerce: boolean): Ajv {
  const ajv = new Ajv({
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
  });
  addFormats(ajv);
  ajv.addFormat('date-time', {
    type: 'string',
    validate: (value: string) => rfc3339DateTime.validate(value) && Number.isFinite(Date.parse(value)),
  });
  return ajv;
}

/** A copy of a JSON schema in which every integer without a bound of its own gets PostgreSQL's integer's. */
export function withIntegerBounds(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withIntegerBounds);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = withIntegerBounds(value);
  if (out.type === 'integer') {
    if (out.minimum === undefined && out.exclusiveMinimum === undefined) out.minimum = INT32.minimum;
    if (out.maximum === undefined && out.exclusiveMaximum === undefined) out.maximum = INT32.maximum;
  }
  return out;
}

export function installValidation(app: FastifyInstance): void {
  app.addHook('preValidation', async (req) => {
    for (const [part, value] of [
      ['params', req.params],
      ['querystring', req.query],
      ['body', req.body],
    ] as const) {
      const field = findUnstorableText(value, part);
      if (field) {
        const problem = 'contains a character that cannot be stored (U+0000 or an unpaired surrogate)';
        throw new ApiError(400, 'validation_failed', `${field} ${problem}`, [{ field, problem }]);
      }
    }
  });
  const strict = build(false);
  const coercing = build(true);
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(withIntegerBounds(schema) as object),
  );
}

export { build as buildAjv };
