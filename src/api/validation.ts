// Request validation: bodies are checked strictly (no type coercion, unknown fields refused rather than
// silently dropped); path and query strings are text on the wire, so those are coerced to the schema's
// types. Fastify's default removes unknown fields quietly, which would hide a client's mistake. Before any
// schema, one rule for all text of every route: nothing PostgreSQL cannot store (see unstorable-text.ts).
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.ts';
import { findUnstorableText } from './unstorable-text.ts';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function build(coerce: boolean): Ajv {
  const ajv = new Ajv({
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
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
    (httpPart === 'body' ? strict : coercing).compile(schema as object),
  );
}

export { build as buildAjv };
