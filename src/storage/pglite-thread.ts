// The embedded database on a thread of its own (see pglite-thread-worker.mjs for why), behind the one method
// the Kysely PGlite dialect uses: query(sql, params) → rows. Statements are passed as messages; rows come back
// by structured clone, which keeps Dates, bigints and byte arrays as they are.
import { Worker } from 'node:worker_threads';
import { StatementCache } from './statement-cache.ts';

export interface QueryResult {
  rows: unknown[];
  affectedRows: number;
}

interface Pending {
  resolve: (result: QueryResult) => void;
  reject: (err: Error) => void;
}

type Reply =
  | { ready: true }
  | { fatal: ErrorFields }
  | { closed: true }
  | { id: number; rows: unknown[]; affectedRows: number }
  | { id: number; error: ErrorFields };

interface ErrorFields {
  message: string;
  [field: string]: unknown;
}

/** An error from the database thread, with PostgreSQL's fields (code, detail, ...) kept. */
export class DatabaseThreadError extends Error {
  constructor(fields: ErrorFields) {
    super(fields.message);
    Object.assign(this, fields);
    this.name = 'DatabaseError';
  }
}

export class PGliteThread {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  /** Texts run again and again get a name: the thread then parses and plans them once (as on PostgreSQL). */
  private readonly statements = new StatementCache();

  private constructor(
    private readonly worker: Worker,
    private readonly onLost?: (err: Error) => void,
  ) {}

  /**
   * Starts PGlite on its thread in `dataDir` ('memory' for a throw-away database); resolves when it is ready.
   * `onLost`: told once if the thread dies (not when it is closed). Every statement then fails, and /health
   * says so: the thread is not started again, since a memory database would come back empty and a directory's
   * is as safely recovered by starting the process again.
   */
  static async start(dataDir: string, onLost?: (err: Error) => void): Promise<PGliteThread> {
    const worker = new Worker(new URL('./pglite-thread-worker.mjs', import.meta.url), { workerData: { dataDir } });
    const thread = new PGliteThread(worker, onLost);
    await new Promise<void>((resolve, reject) => {
      const onFirst = (msg: Reply) => {
        worker.off('error', onError);
        if ('fatal' in msg) reject(new DatabaseThreadError(msg.fatal));
        else resolve();
      };
      const onError = (err: Error) => {
        worker.off('message', onFirst);
        reject(err);
      };
      worker.once('message', onFirst);
      worker.once('error', onError);
    });
    worker.on('message', (msg: Reply) => thread.onReply(msg));
    worker.on('error', (err) => thread.fail(err));
    worker.on('exit', (code) => thread.fail(new Error(`the database thread exited (code ${code})`)));
    // Idle, the thread does not keep the process alive; a statement in flight does (see query()).
    worker.unref();
    return thread;
  }

  query(sql: string, params: unknown[] = []): Promise<QueryResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new Error('the database is closed'));
    const id = this.nextId++;
    return new Promise<QueryResult>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, sql, params, name: params.length ? this.statements.nameFor(sql) : undefined });
    });
  }

  /** Waits for statements already sent, closes the database cleanly (its files stay consistent) and ends the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.failure) return;
      this.worker.ref();
      const closed = new Promise<void>((resolve) => {
        const onMessage = (msg: Reply) => {
          if ('closed' in msg) {
            this.worker.off('message', onMessage);
            resolve();
          }
        };
        this.worker.on('message', onMessage);
        this.worker.once('exit', () => resolve());
      });
      this.worker.postMessage({ close: true });
      await closed;
      this.failure = new Error('the database is closed');
      await this.worker.terminate();
    })();
    return this.closing;
  }

  private onReply(msg: Reply): void {
    if (!('id' in msg)) return;
    const waiter = this.pending.get(msg.id);
    if (!waiter) return;
    this.pending.delete(msg.id);
    if (this.pending.size === 0 && !this.closing) this.worker.unref();
    if ('error' in msg) waiter.reject(new DatabaseThreadError(msg.error));
    else waiter.resolve({ rows: msg.rows, affectedRows: msg.affectedRows });
  }

  private fail(err: Error): void {
    if (!this.failure && !this.closing) this.onLost?.(err);
    this.failure ??= err;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }
}
