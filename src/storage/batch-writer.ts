// Group commit for hot data. Callers add rows and await durability; rows from many chargers arriving
// within a few milliseconds are written together, which is what makes PGlite and PostgreSQL keep up (one
// round-trip and one WAL flush for hundreds of messages). A flush is one statement whenever it fits: every
// table's multi-row insert is a data-modifying CTE of a single `WITH ... SELECT 1`, which PostgreSQL runs
// atomically without BEGIN/COMMIT round trips (each of which also waits its turn in a busy event loop).
// A charger's message is answered only after the promise resolves, so nothing acknowledged is lost.
// A flush that fails because of a row (a value the column refuses, a broken constraint) is retried in halves,
// down to each caller's rows alone, so that only the caller whose rows cannot be stored is refused.
import { sql, type Compilable, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from './schema.ts';

type TableName = keyof Database;

export interface StreamSpec {
  /** Conflict target; with no `update`, conflicting rows are skipped (DO NOTHING). */
  conflict?: string[];
  /** Columns overwritten from the new row on conflict. */
  update?: string[];
  /** Extra condition for the update, e.g. only when the new row is newer. */
  updateWhere?: ReturnType<typeof sql>;
  /** Within one batch keep one row per key (the last added, or the one `prefer` picks). */
  key?: (row: Record<string, unknown>) => string;
  prefer?: (current: Record<string, unknown>, incoming: Record<string, unknown>) => boolean;
  /**
   * A statement built from this stream's rows (not run) that is written atomically with them, in the same
   * statement. It must not depend on seeing the rows themselves: sibling CTEs share one snapshot.
   */
  alsoWrite?: (rows: Record<string, unknown>[]) => RawBuilder<unknown> | undefined;
}

interface Stream {
  table: TableName;
  spec: StreamSpec;
  rows: Record<string, unknown>[];
  keyed: Map<string, Record<string, unknown>>;
}

type Rows = Partial<Record<TableName, Record<string, unknown>[]>>;

interface Waiter {
  /** What this caller asked to write: kept (not copied) for the rare retry of a failed flush without the others. */
  parts: Rows;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Batch {
  stream: Stream;
  rows: Record<string, unknown>[];
}

export interface BatchWriterOptions {
  /**
   * How long the first row of a batch may wait for company, ms. 0 flushes at once when no flush is
   * running; rows that arrive while one runs form the next batch (group commit without a fixed delay).
   */
  windowMs: number;
  maxRows: number;
  /** Flushes allowed at the same time (PostgreSQL pools can run several; PGlite has one connection). */
  maxConcurrentFlushes?: number;
  onFlush?: (rows: number, ms: number) => void;
  onError?: (err: Error) => void;
}

const CHUNK = 500;
/** PostgreSQL allows 65,535 parameters per statement; a flush above this budget is split, in one transaction. */
const PARAMETER_BUDGET = 30_000;

/** One part of a flush: a data-modifying statement and roughly how many parameters it binds. */
interface Part {
  statement: Compilable<unknown> | RawBuilder<unknown>;
  parameters: number;
}

const byKey = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);

export class BatchWriter {
  private readonly streams: Stream[] = [];
  private readonly byTable = new Map<TableName, Stream>();
  private waiters: Waiter[] = [];
  private pendingRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly running = new Set<Promise<void>>();
  private closed = false;
  /** Per table: column → PostgreSQL type name, read once from the catalog for the unnest form of inserts. */
  private columnTypes: Promise<Map<string, Map<string, string>>> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: BatchWriterOptions,
  ) {}

  /** Declares a table the writer batches; streams are flushed in the order they were defined. */
  define(table: TableName, spec: StreamSpec = {}): void {
    const stream: Stream = { table, spec, rows: [], keyed: new Map() };
    this.streams.push(stream);
    this.byTable.set(table, stream);
  }

  /** Queues rows for several tables at once; resolves when all of them are committed. */
  write(parts: Rows): Promise<void> {
    if (this.closed) return Promise.reject(new Error('batch writer is closed'));
    for (const [table, rows] of Object.entries(parts) as [TableName, Record<string, unknown>[]][]) {
      const stream = this.byTable.get(table);
      if (!stream) throw new Error(`batch writer has no stream for ${table}`);
      for (const row of rows) this.pendingRows += addRow(stream, row);
    }
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ parts, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.waiters.length === 0) return;
    // Every flush slot busy: the next one to finish picks up what is queued (this is the group commit).
    if (this.running.size >= (this.options.maxConcurrentFlushes ?? 1)) return;
    if (this.pendingRows >= this.options.maxRows || this.options.windowMs === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.startFlush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.startFlush();
      }, this.options.windowMs);
    }
  }

  private startFlush(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    const batches = this.streams.map((s) => {
      const batch = { stream: s, rows: rowsOf(s) };
      s.rows = [];
      s.keyed = new Map();
      return batch;
    });
    const total = this.pendingRows;
    this.pendingRows = 0;
    const started = performance.now();
    const run = (async () => {
      try {
        await this.writeBatches(batches);
        this.options.onFlush?.(total, performance.now() - started);
        for (const w of waiters) w.resolve();
      } catch (err) {
        this.options.onError?.(err as Error);
        if (waiters.length > 1 && isRowError(err)) await this.isolate(waiters);
        else for (const w of waiters) w.reject(err as Error);
      }
    })();
    this.running.add(run);
    void run.finally(() => {
      this.running.delete(run);
      this.schedule();
    });
  }

  private async writeBatches(batches: Batch[]): Promise<void> {
    await this.writeParts(this.partsOf(batches, await this.columnTypesOf()));
  }

  /**
   * After a flush failed because of some row: its callers' rows again, in two halves (in the order they came,
   * each half deduplicated by key as a flush is), and a failing half in halves again, down to single callers.
   * Only a caller whose own rows fail is refused; with one bad caller among n this costs about 2·log2(n)
   * statements. A failure of another kind (the connection lost) refuses the half as it is: a retry could
   * write twice what the lost statement may have committed.
   */
  private async isolate(waiters: Waiter[]): Promise<void> {
    const middle = Math.ceil(waiters.length / 2);
    for (const half of [waiters.slice(0, middle), waiters.slice(middle)]) {
      try {
        await this.writeBatches(this.batchesOf(half));
        for (const w of half) w.resolve();
      } catch (err) {
        if (half.length > 1 && isRowError(err)) await this.isolate(half);
        else for (const w of half) w.reject(err as Error);
      }
    }
  }

  /** The batches the rows of `waiters` alone would make, as if no one else had written. */
  private batchesOf(waiters: Waiter[]): Batch[] {
    const streams = new Map<TableName, Stream>();
    for (const w of waiters) {
      for (const [table, rows] of Object.entries(w.parts) as [TableName, Record<string, unknown>[]][]) {
        let stream = streams.get(table);
        if (!stream) {
          stream = { ...this.byTable.get(table)!, rows: [], keyed: new Map() };
          streams.set(table, stream);
        }
        for (const row of rows) addRow(stream, row);
      }
    }
    // In the order the streams were defined, as a flush writes them.
    return this.streams.flatMap((s) => {
      const stream = streams.get(s.table);
      return stream ? [{ stream, rows: rowsOf(stream) }] : [];
    });
  }

  /** Resolves when everything queued up to now is written (or has failed). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.waiters.length || this.running.size) {
      if (this.waiters.length && this.running.size < (this.options.maxConcurrentFlushes ?? 1)) this.startFlush();
      await Promise.race(this.running);
    }
  }

  /** Column → PostgreSQL type of one of this writer's tables, read once from the catalog. */
  async columnTypesFor(table: TableName): Promise<Map<string, string>> {
    const types = (await this.columnTypesOf()).get(table);
    if (!types) throw new Error(`batch writer has no stream for ${table}`);
    return types;
  }

  /**
   * A statement of the caller's own (not queued, not batched) that inserts rows into one of this writer's
   * tables only when `guard` holds, in the same columnar form as a flush: e.g. an event's samples, stored only
   * if the event was not a replay. `arrayOf` gives each column's values as one array (or a placeholder for it).
   */
  static guardedInsert(
    table: TableName,
    types: Map<string, string>,
    columns: readonly string[],
    arrayOf: (column: string) => unknown,
    guard: RawBuilder<unknown>,
  ): RawBuilder<unknown> {
    const arrays = columns.map((c) => {
      const type = types.get(c);
      if (!type || type.startsWith('_')) throw new Error(`${table}.${c} has no plain column type`);
      return typedArray(arrayOf(c), type);
    });
    return sql`INSERT INTO ${sql.table(table)} (${sql.join(columns.map((c) => sql.id(c)))})
      SELECT * FROM unnest(${sql.join(arrays)}) WHERE ${guard}`;
  }

  private columnTypesOf(): Promise<Map<string, Map<string, string>>> {
    // A read that failed (its connection lost) is not kept: the next flush reads again instead of failing too.
    this.columnTypes ??= this.readColumnTypes().catch((err: Error) => {
      this.columnTypes = undefined;
      throw err;
    });
    return this.columnTypes;
  }

  private async readColumnTypes(): Promise<Map<string, Map<string, string>>> {
    const tables = this.streams.map((s) => s.table as string);
    const rows = await sql<{ table_name: string; column_name: string; udt_name: string }>`
      SELECT table_name, column_name, udt_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = ANY(${tables})`.execute(this.db);
    const types = new Map<string, Map<string, string>>();
    for (const r of rows.rows) {
      if (!types.has(r.table_name)) types.set(r.table_name, new Map());
      types.get(r.table_name)!.set(r.column_name, r.udt_name);
    }
    return types;
  }

  private partsOf(batches: Batch[], types: Map<string, Map<string, string>>): Part[] {
    const parts: Part[] = [];
    for (const { stream, rows } of batches) {
      if (rows.length === 0) continue;
      const columns = Object.keys(rows[0]!).length;
      for (let i = 0; i < rows.length; i += CHUNK) {
        const chunk = rows.slice(i, i + CHUNK);
        const columnar = columnarForm(chunk, types.get(stream.table));
        parts.push({
          statement: this.insert(stream, chunk, columnar),
          parameters: columnar ? columnar.length : chunk.length * columns,
        });
      }
      const extra = stream.spec.alsoWrite?.(rows);
      if (extra) parts.push({ statement: extra, parameters: rows.length * columns });
    }
    return parts;
  }

  /** One statement when the parts fit in its parameter budget; otherwise several in one transaction. */
  private async writeParts(parts: Part[]): Promise<void> {
    const statements: Part[][] = [];
    let current: Part[] = [];
    let parameters = 0;
    for (const part of parts) {
      if (current.length && parameters + part.parameters > PARAMETER_BUDGET) {
        statements.push(current);
        current = [];
        parameters = 0;
      }
      current.push(part);
      parameters += part.parameters;
    }
    if (current.length) statements.push(current);
    if (statements.length === 1)
      return combined(statements[0]!)
        .execute(this.db)
        .then(() => undefined);
    await this.db.transaction().execute(async (trx) => {
      for (const statement of statements) await combined(statement).execute(trx);
    });
  }

  private insert(
    stream: Stream,
    rows: Record<string, unknown>[],
    columnar: RawBuilder<unknown>[] | undefined,
  ): Compilable<unknown> {
    const { conflict, update, updateWhere } = stream.spec;
    let query = columnar
      ? this.db
          .insertInto(stream.table)
          .columns(Object.keys(rows[0]!) as any)
          .expression(sql`SELECT * FROM unnest(${sql.join(columnar)})`)
      : this.db.insertInto(stream.table).values(rows as any);
    if (conflict) {
      query = query.onConflict((oc) => {
        const target = oc.columns(conflict as any);
        if (!update?.length) return target.doNothing();
        const set: Record<string, unknown> = {};
        for (const col of update) set[col] = sql.ref(`excluded.${col}`);
        const upd = target.doUpdateSet(set as any);
        return updateWhere ? upd.where(() => updateWhere as any) : upd;
      });
    }
    return query;
  }

  /** Flushes what is queued and refuses new rows. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }
}

/** Adds a row to a stream; 1 when it is a new row, 0 when it replaced (or lost to) one of the same key. */
function addRow(stream: Stream, row: Record<string, unknown>): number {
  const { key, prefer } = stream.spec;
  if (!key) {
    stream.rows.push(row);
    return 1;
  }
  const k = key(row);
  const current = stream.keyed.get(k);
  if (!current || !prefer || prefer(current, row)) stream.keyed.set(k, row);
  return current ? 0 : 1;
}

/** A stream's queued rows; keyed (upserted) ones in key order, so concurrent flushes lock rows in the same order. */
function rowsOf(stream: Stream): Record<string, unknown>[] {
  return stream.spec.key ? [...stream.keyed.entries()].sort(byKey).map(([, row]) => row) : stream.rows;
}

/**
 * Whether a statement failed because of the values it carried (SQLSTATE class 22, data exception: a NUL, an
 * integer out of range; class 23, a broken constraint), rather than the connection or the server.
 */
function isRowError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/**
 * A value as an element of a column's array parameter. A timestamp goes as ISO text: node-postgres would format
 * each Date of an array in local time, by hand, which was one of the largest allocators of a flush (measured);
 * PostgreSQL reads both the same.
 */
export function arrayElement(value: unknown): unknown {
  return value instanceof Date ? value.toISOString() : value;
}

/** `values` (one array parameter, or a placeholder for it) cast to an array of the column's type. */
function typedArray(values: unknown, type: string): RawBuilder<unknown> {
  return sql`${values}::${sql.raw(`"${type}"`)}[]`;
}

/**
 * A chunk's values as one array parameter per column (`unnest($1::text[], $2::int4[], ...)`) instead of one
 * parameter per value: the statement's text is the same for any number of rows (so PostgreSQL can keep it
 * prepared), and building and binding it costs per column, not per value. Undefined when the rows do not all
 * have the same plain-valued columns of known, non-array types: those take the multi-row VALUES form.
 */
function columnarForm(
  rows: Record<string, unknown>[],
  types: Map<string, string> | undefined,
): RawBuilder<unknown>[] | undefined {
  if (!types) return undefined;
  const columns = Object.keys(rows[0]!);
  const arrays: RawBuilder<unknown>[] = [];
  for (const column of columns) {
    const type = types.get(column);
    if (!type || type.startsWith('_')) return undefined;
    const values = new Array<unknown>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      if (!(column in row)) return undefined;
      const value = row[column];
      // SQL expressions (e.g. now()) cannot travel inside an array parameter.
      if (value !== null && typeof value === 'object' && !(value instanceof Date) && !Buffer.isBuffer(value)) {
        return undefined;
      }
      values[i] = arrayElement(value);
    }
    arrays.push(typedArray(sql.val(values), type));
  }
  for (const row of rows) if (Object.keys(row).length !== columns.length) return undefined;
  return arrays;
}

/**
 * Several data-modifying statements as one: each a CTE of `WITH ... SELECT 1`. PostgreSQL runs every one of them
 * to completion, atomically, whether or not the outer query reads it (foreign keys between them are checked at
 * the end of the statement, so a parent and its child rows may share one).
 */
function combined(parts: Part[]): RawBuilder<unknown> {
  if (parts.length === 1) return sql`${parts[0]!.statement}`;
  return sql`WITH ${sql.join(parts.map((p, i) => sql`${sql.id(`w${i}`)} AS (${p.statement})`))} SELECT 1`;
}
