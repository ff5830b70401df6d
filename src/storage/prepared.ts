// Queries on the hot path, built and compiled by Kysely once and then run many times with new values. Kysely's
// builders are immutable and compile on every run: for billing's six-table session read that was about 200 µs of
// CPU and 44 KB of garbage per run (measured), four times the cost of sending the statement itself. A prepared
// query is built once with placeholders in place of its values; each run sends the same SQL text (which the
// statement cache then keeps prepared in PostgreSQL) with that run's values in the placeholders' positions.
import { CompiledQuery, type Compilable, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from './schema.ts';

/** Stands for one named value while the query is built; never sent to the database. */
class Placeholder {
  constructor(readonly name: string) {}
}

interface Compiled {
  sql: string;
  /** Per parameter position: the argument it takes, or undefined for a constant of the query. */
  slots: (string | undefined)[];
  constants: unknown[];
}

export class PreparedQuery<A extends Record<string, unknown>, O> {
  /** Per database: compiled once (both backends speak PostgreSQL, but a test may open several). */
  private readonly compiled = new WeakMap<object, Compiled>();

  /**
   * `build` receives placeholders for the arguments and must use each only as a plain value (a comparison,
   * an inserted value, an array parameter): not inside `sql.raw`, not as a list for `in`. Compiling checks that
   * every argument used became a parameter.
   */
  constructor(private readonly build: (db: Kysely<Database>, args: A) => Compilable<O> | RawBuilder<O>) {}

  async execute(db: Kysely<Database>, args: A): Promise<O[]> {
    let compiled = this.compiled.get(db);
    if (!compiled) {
      compiled = compileWithPlaceholders(db, (placeholders: A) => this.build(db, placeholders));
      this.compiled.set(db, compiled);
    }
    return run(db, compiled, args);
  }

  async executeTakeFirst(db: Kysely<Database>, args: A): Promise<O | undefined> {
    return (await this.execute(db, args))[0];
  }
}

/**
 * A prepared query whose text comes in a few shapes (which optional parts a statement has): compiled once per
 * shape. `keyOf` must tell apart every shape `build` can produce, and `build` may branch only on the shape.
 */
export class ShapedQuery<S, A extends Record<string, unknown>, O> {
  private readonly byShape = new Map<string, PreparedQuery<A, O>>();

  constructor(
    private readonly keyOf: (shape: S) => string,
    private readonly build: (db: Kysely<Database>, args: A, shape: S) => Compilable<O> | RawBuilder<O>,
  ) {}

  execute(db: Kysely<Database>, shape: S, args: A): Promise<O[]> {
    const key = this.keyOf(shape);
    let query = this.byShape.get(key);
    if (!query) {
      query = new PreparedQuery<A, O>((d, placeholders) => this.build(d, placeholders, shape));
      this.byShape.set(key, query);
    }
    return query.execute(db, args);
  }
}

async function run<O>(db: Kysely<Database>, { sql, slots, constants }: Compiled, args: Record<string, unknown>) {
  const parameters = new Array<unknown>(slots.length);
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i];
    parameters[i] = slot === undefined ? constants[i] : args[slot];
  }
  const result = await db.executeQuery<O>(CompiledQuery.raw(sql, parameters));
  return result.rows;
}

function compileWithPlaceholders<A extends Record<string, unknown>>(
  db: Kysely<Database>,
  build: (args: A) => Compilable<unknown> | RawBuilder<unknown>,
): Compiled {
  const used = new Set<string>();
  const args = new Proxy(
    {},
    {
      get: (_, name) => {
        if (typeof name !== 'string') return undefined;
        used.add(name);
        return new Placeholder(name);
      },
      // Kysely would read an enumerated object's keys (e.g. `.values(args)`), which placeholders do not have.
      ownKeys: () => {
        throw new Error('prepared query: name each argument (args cannot be spread or enumerated)');
      },
    },
  ) as A;
  const built = build(args);
  const query = 'isRawBuilder' in built ? built.compile(db) : built.compile();
  const slots = query.parameters.map((p) => (p instanceof Placeholder ? p.name : undefined));
  for (const name of used) {
    if (!slots.includes(name)) throw new Error(`prepared query: argument "${name}" did not become a parameter`);
  }
  return { sql: query.sql, slots, constants: [...query.parameters] };
}
