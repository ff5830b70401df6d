// Validation of every OCPP payload against the official OCA JSON schemas, taken unmodified from the
// `ocpp-rpc` package (its lib/schemas/ocpp1_6.json holds the 1.6 core and security-whitepaper messages,
// ocpp2_0_1.json all 64 actions of 2.0.1). Validators are compiled on first use and cached.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import * as uriJs from 'uri-js';
import { RpcError, type OcppProtocol, type RpcErrorKind } from './protocols.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

interface SchemaDoc {
  $id: string;
  [key: string]: unknown;
}

const require = createRequire(import.meta.url);
const schemaDir = join(dirname(require.resolve('ocpp-rpc/package.json')), 'lib', 'schemas');
const FILES: Record<OcppProtocol, string> = { 'ocpp1.6': 'ocpp1_6.json', 'ocpp2.0.1': 'ocpp2_0_1.json' };

/** The OCA schema file of a version: one JSON array of every action's request and response schema. */
export function schemaFile(protocol: OcppProtocol): string {
  return join(schemaDir, FILES[protocol]);
}

// Which schema keyword failing means which RPC error (OCPP-J: type errors, missing fields, bad values).
const KEYWORD_ERRORS: Record<string, RpcErrorKind> = {
  type: 'TypeConstraintViolation',
  required: 'OccurrenceConstraintViolation',
  minItems: 'OccurrenceConstraintViolation',
  maxItems: 'OccurrenceConstraintViolation',
  additionalProperties: 'PropertyConstraintViolation',
  enum: 'PropertyConstraintViolation',
  pattern: 'PropertyConstraintViolation',
  maxLength: 'PropertyConstraintViolation',
  minLength: 'PropertyConstraintViolation',
  maximum: 'PropertyConstraintViolation',
  minimum: 'PropertyConstraintViolation',
  multipleOf: 'PropertyConstraintViolation',
  format: 'FormatViolation',
};

export type Direction = 'req' | 'conf';

class ProtocolSchemas {
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();
  readonly actions: ReadonlySet<string>;

  constructor(readonly protocol: OcppProtocol) {
    const docs = JSON.parse(readFileSync(schemaFile(protocol), 'utf8')) as SchemaDoc[];
    // strictSchema off: the OCA schemas carry keywords such as javaType that are not JSON Schema.
    // The schemas' ids are bare URNs (urn:BootNotification.req) that Ajv's default URI parser rejects;
    // uri-js, Ajv's former resolver, accepts them.
    this.ajv = new Ajv({ strictSchema: false, allErrors: false, uriResolver: uriJs as any });
    addFormats(this.ajv);
    // OCA schemas use multipleOf 0.1 on decimals; binary floats make 0.3 / 0.1 inexact, so compare with a tolerance.
    this.ajv.removeKeyword('multipleOf');
    this.ajv.addKeyword({
      keyword: 'multipleOf',
      type: 'number',
      schemaType: 'number',
      validate: (step: number, data: number) => {
        const q = data / step;
        return Math.abs(q - Math.round(q)) < 1e-9 * Math.max(1, Math.abs(q));
      },
      errors: false,
    });
    const actions = new Set<string>();
    for (const doc of docs) {
      this.ajv.addSchema(doc);
      actions.add(
        doc.$id
          .replace(/^urn:/, '')
          .replace(/\.(req|conf)$/, '')
          .replace(/(Request|Response)$/, ''),
      );
    }
    this.actions = actions;
  }

  private id(action: string, direction: Direction): string {
    return `urn:${action}.${direction}`;
  }

  validator(action: string, direction: Direction): ValidateFunction | undefined {
    const key = this.id(action, direction);
    let fn = this.compiled.get(key);
    if (!fn) {
      fn = this.ajv.getSchema(key);
      if (fn) this.compiled.set(key, fn);
    }
    return fn;
  }
}

const cache = new Map<OcppProtocol, ProtocolSchemas>();

export function schemasFor(protocol: OcppProtocol): ProtocolSchemas {
  let s = cache.get(protocol);
  if (!s) {
    s = new ProtocolSchemas(protocol);
    cache.set(protocol, s);
  }
  return s;
}

export function isKnownAction(protocol: OcppProtocol, action: string): boolean {
  return schemasFor(protocol).actions.has(action);
}

/** Throws an RpcError naming the first violation when the payload breaks the schema of its action. */
export function validatePayload(protocol: OcppProtocol, action: string, direction: Direction, payload: unknown): void {
  const fn = schemasFor(protocol).validator(action, direction);
  if (!fn) throw new RpcError('NotImplemented', `No ${protocol} schema for ${action}.${direction}`);
  if (fn(payload)) return;
  const first = (fn.errors ?? [])[0] as ErrorObject | undefined;
  const kind = (first && KEYWORD_ERRORS[first.keyword]) ?? 'FormatViolation';
  const where = first?.instancePath || '(payload)';
  throw new RpcError(kind, `${action}: ${where} ${first?.message ?? 'is invalid'}`.slice(0, 255), {
    path: first?.instancePath ?? '',
    keyword: first?.keyword ?? '',
    params: (first?.params as Record<string, unknown>) ?? {},
  });
}
