// Values a schema accepts but PostgreSQL cannot store. The OCA schemas allow any string and any integer, while a
// text or jsonb column refuses U+0000 and a lone UTF-16 surrogate, and an integer column holds 32 bits. Such a
// value, let through, fails the group commit that carries it, and with it every other charger's message in the
// same flush. So every payload a peer sends (CALLs, and CALLRESULTs to our CALLs) is walked once after schema
// validation, and a value that cannot be stored is refused at the edge with the CALLERROR of the version:
// PropertyConstraintViolation for a NUL or an integer out of range (a value the field cannot hold),
// FormatViolation for a lone surrogate (not Unicode text: OCPP-J's UTF-8 cannot even encode it).
// It runs on every message, so it is cheap: a frame whose text has no \u escape cannot hold either character
// (JSON must escape U+0000, and a lone surrogate cannot be UTF-8), and then only the parts of the payload
// where the schema has integers are visited.
import { readFileSync } from 'node:fs';
import { RpcError, type OcppProtocol } from './protocols.ts';
import { schemaFile, type Direction } from './schemas.ts';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * Integer fields stored in wider columns (double precision): 1.6 meter registers, in Wh, pass 2^31 at 2.1 GWh,
 * which a fast charger's lifetime register can. They are bounded where a JSON number stops being the exact
 * integer the charger sent.
 */
const WIDE_INTEGERS: Record<OcppProtocol, Record<string, readonly string[]>> = {
  'ocpp1.6': { 'StartTransaction.req': ['/meterStart'], 'StopTransaction.req': ['/meterStop'] },
  'ocpp2.0.1': {},
};

/** What the schema says is at one place of a payload, as far as storing it goes. */
interface Shape {
  /** For an integer: the inclusive range a column holds. */
  min?: number;
  max?: number;
  /** Whether there is an integer here or anywhere below. */
  integers: boolean;
  properties?: Map<string, Shape>;
  items?: Shape;
}

/** Anything the schema does not describe (e.g. 2.0.1 customData's extra properties): its strings still count. */
const ANY: Shape = { integers: false };

interface SchemaNode {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

class ProtocolShapes {
  private readonly docs = new Map<string, { definitions?: Record<string, SchemaNode> } & SchemaNode>();
  private readonly shapes = new Map<string, Shape | undefined>();

  constructor(readonly protocol: OcppProtocol) {
    const docs = JSON.parse(readFileSync(schemaFile(protocol), 'utf8')) as ({ $id: string } & SchemaNode)[];
    for (const doc of docs) this.docs.set(doc.$id.replace(/^urn:/, ''), doc);
  }

  shapeOf(action: string, direction: Direction): Shape | undefined {
    const key = `${action}.${direction}`;
    if (this.shapes.has(key)) return this.shapes.get(key);
    const doc = this.docs.get(key);
    const wide = new Set(WIDE_INTEGERS[this.protocol][key] ?? []);
    const shape = doc ? build(doc, doc.definitions ?? {}, '', wide, new Set()) : undefined;
    this.shapes.set(key, shape);
    return shape;
  }
}

function build(
  node: SchemaNode,
  definitions: Record<string, SchemaNode>,
  path: string,
  wide: Set<string>,
  resolving: Set<string>,
): Shape {
  if (node.$ref) {
    const name = node.$ref.replace(/^#\/definitions\//, '');
    const target = definitions[name];
    // A definition that contains itself (none in the OCA schemas today) is walked like undescribed data.
    if (!target || resolving.has(name)) return ANY;
    return build(target, definitions, path, wide, new Set([...resolving, name]));
  }
  const types = Array.isArray(node.type) ? node.type : [node.type];
  if (types.includes('integer')) {
    return wide.has(path)
      ? { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, integers: true }
      : { min: INT32_MIN, max: INT32_MAX, integers: true };
  }
  const shape: Shape = { integers: false };
  if (node.properties) {
    shape.properties = new Map();
    for (const [name, child] of Object.entries(node.properties)) {
      const built = build(child, definitions, `${path}/${name}`, wide, resolving);
      shape.properties.set(name, built);
      shape.integers ||= built.integers;
    }
  }
  if (node.items) {
    shape.items = build(node.items, definitions, `${path}/[]`, wide, resolving);
    shape.integers ||= shape.items.integers;
  }
  return shape;
}

const shapes = new Map<OcppProtocol, ProtocolShapes>();

function shapesFor(protocol: OcppProtocol): ProtocolShapes {
  let s = shapes.get(protocol);
  if (!s) {
    s = new ProtocolShapes(protocol);
    shapes.set(protocol, s);
  }
  return s;
}

/** Node 20 has String.prototype.isWellFormed (no lone surrogates); TypeScript's ES2022 library does not list it. */
const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;

/**
 * Throws the RpcError for the first value of a schema-valid payload that cannot be stored: a string (or an
 * object's key) holding U+0000 or a lone surrogate, or an integer outside its column's range. `escaped`: whether
 * the frame's text has a \u escape (without one, no string can hold either character, and none is looked at).
 */
export function assertStorable(
  protocol: OcppProtocol,
  action: string,
  direction: Direction,
  payload: unknown,
  escaped = true,
): void {
  const path: (string | number)[] = [];
  const problem = walk(payload, shapesFor(protocol).shapeOf(action, direction) ?? ANY, path, escaped);
  if (!problem) return;
  // A key may be the bad value itself: spelled as JSON spells it, so the message is storable text too.
  const where = path.map((p) => `/${JSON.stringify(String(p)).slice(1, -1)}`).join('');
  const details = { path: where, keyword: 'storable', params: {} as Record<string, unknown> };
  switch (problem.kind) {
    case 'nul':
      throw new RpcError(
        'PropertyConstraintViolation',
        `${action}: ${where} holds U+0000, which cannot be stored`,
        details,
      );
    case 'surrogate':
      throw new RpcError(
        'FormatViolation',
        `${action}: ${where} holds a lone UTF-16 surrogate, which is not text`,
        details,
      );
    case 'range':
      details.params = { min: problem.shape.min, max: problem.shape.max };
      throw new RpcError(
        'PropertyConstraintViolation',
        `${action}: ${where} ${problem.value} is outside the range OpenCPO stores (${problem.shape.min} to ${problem.shape.max})`,
        details,
      );
  }
}

type Problem = { kind: 'nul' | 'surrogate' } | { kind: 'range'; value: number; shape: Shape };

/**
 * The first problem under `value`, with `path` left holding the way to it; undefined (and `path` as it was) if
 * none. `texts`: whether strings need looking at; without, only where the schema has integers is visited.
 */
function walk(value: unknown, shape: Shape, path: (string | number)[], texts: boolean): Problem | undefined {
  if (!texts && !shape.integers) return undefined;
  if (typeof value === 'string') return textProblem(value);
  if (typeof value === 'number') {
    return shape.max !== undefined && (value > shape.max || value < shape.min!)
      ? { kind: 'range', value, shape }
      : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    const items = shape.items ?? ANY;
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      const problem = walk(value[i], items, path, texts);
      if (problem) return problem;
      path.pop();
    }
    return undefined;
  }
  const properties = shape.properties;
  for (const key in value) {
    path.push(key);
    const problem =
      (texts ? textProblem(key) : undefined) ??
      walk((value as Record<string, unknown>)[key], properties?.get(key) ?? ANY, path, texts);
    if (problem) return problem;
    path.pop();
  }
  return undefined;
}

const NUL: Problem = { kind: 'nul' };
const SURROGATE: Problem = { kind: 'surrogate' };

function textProblem(text: string): Problem | undefined {
  if (text.includes('\u0000')) return NUL;
  if (!isWellFormed.call(text)) return SURROGATE;
  return undefined;
}
