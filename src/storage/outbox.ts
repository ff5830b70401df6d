// The durable outbox: anything that leaves the process (webhook, e-mail, later OCPI pushes) is written here in
// the same transaction as the change that caused it, then delivered by a worker with retries, exponential
// back-off and a stable delivery id. A crash between sending and recording success re-sends the message with
// the same delivery id, so receivers de-duplicate on it: delivery is at least once, processing exactly once.
//
// Generic: a feature registers a channel (a function that delivers one payload) and enqueues on it. Rows are
// claimed with a lease (`locked_until`), so several nodes on one PostgreSQL never deliver the same row at once,
// and a node that dies mid-delivery leaves rows another node (or its own restart) picks up after the lease.
import { randomUUID } from 'node:crypto';
import { sql, type ColumnType, type Generated, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.ts';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface OutboxTable {
  id: Generated<string>;
  delivery_id: string;
  channel: string;
  topic: string;
  payload: ColumnType<Record<string, unknown>, string, string>;
  status: ColumnType<'pending' | 'delivered' | 'dead', 'pending' | 'delivered' | 'dead' | undefined>;
  attempts: Generated<number>;
  next_attempt_at: ColumnType<Date, Date | string | undefined, Date | string>;
  locked_until: Timestamp | null;
  last_error: string | null;
  created_at: Generated<Date>;
  delivered_at: Timestamp | null;
}

export interface OutboxMessage {
  id: string;
  deliveryId: string;
  channel: string;
  topic: string;
  payload: Record<string, unknown>;
  attempt: number;
}

/** Delivers one message; throws (or rejects) to have it retried. */
export type ChannelHandler = (message: OutboxMessage) => Promise<void>;

export interface OutboxOptions {
  /** How often the worker looks for due rows when nothing wakes it. */
  pollMs?: number;
  /** First retry delay; doubled on each attempt up to `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** After this many failed attempts a message is marked dead (kept for inspection and manual replay). */
  maxAttempts?: number;
  /** How long a claimed row is reserved for the node delivering it; must exceed a channel's own timeout. */
  leaseMs?: number;
  batchSize?: number;
  onError?: (err: Error, message: OutboxMessage) => void;
}

type Executor = Kysely<Database> | Transaction<Database>;

export class Outbox {
  private readonly channels = new Map<string, ChannelHandler>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private wakeAgain = false;
  private stopped = true;
  private readonly options: Required<Omit<OutboxOptions, 'onError'>> & Pick<OutboxOptions, 'onError'>;

  constructor(
    private readonly db: Kysely<Database>,
    options: OutboxOptions = {},
  ) {
    this.options = {
      pollMs: options.pollMs ?? 1000,
      baseBackoffMs: options.baseBackoffMs ?? 1000,
      maxBackoffMs: options.maxBackoffMs ?? 15 * 60_000,
      maxAttempts: options.maxAttempts ?? 20,
      leaseMs: options.leaseMs ?? 15_000,
      batchSize: options.batchSize ?? 20,
      onError: options.onError,
    };
  }

  registerChannel(channel: string, handler: ChannelHandler): void {
    this.channels.set(channel, handler);
  }

  /**
   * Queues a message. Pass the transaction of the change that caused it, so the message exists exactly when
   * the change does. Returns the delivery id the receiver will see.
   */
  async enqueue(
    executor: Executor,
    message: { channel: string; topic: string; payload: Record<string, unknown> },
  ): Promise<string> {
    const deliveryId = randomUUID();
    await executor
      .insertInto('outbox')
      .values({
        delivery_id: deliveryId,
        channel: message.channel,
        topic: message.topic,
        payload: JSON.stringify(message.payload),
        status: 'pending',
        locked_until: null,
        last_error: null,
        delivered_at: null,
      })
      .execute();
    return deliveryId;
  }

  /** Starts the delivery worker. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Asks the worker to look now (after an enqueue whose transaction has committed). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.wakeAgain = true;
      return;
    }
    this.schedule(0);
  }

  /**
   * For code that enqueued inside a transaction it does not commit itself: looks again shortly, when that
   * transaction has most likely committed (the poll interval catches the rest).
   */
  wakeSoon(delayMs = 25): void {
    if (this.stopped) return;
    setTimeout(() => this.wake(), delayMs).unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.runOnce()
        .then(() => undefined)
        .catch((err: Error) =>
          this.options.onError?.(err, { id: '', deliveryId: '', channel: '', topic: '', payload: {}, attempt: 0 }),
        )
        .finally(() => {
          this.running = undefined;
          if (this.stopped) return;
          const again = this.wakeAgain;
          this.wakeAgain = false;
          this.schedule(again ? 0 : this.options.pollMs);
        });
    }, ms);
  }

  /** Claims due rows and delivers them; returns how many were delivered. Public for tests and tools. */
  async runOnce(): Promise<number> {
    const claimed = await this.claim();
    let delivered = 0;
    await Promise.all(
      claimed.map(async (message) => {
        const handler = this.channels.get(message.channel);
        try {
          if (!handler) throw new Error(`no handler for outbox channel ${message.channel}`);
          await handler(message);
          await this.db
            .updateTable('outbox')
            .set({ status: 'delivered', delivered_at: new Date(), locked_until: null, last_error: null })
            .where('id', '=', message.id)
            .execute();
          delivered++;
        } catch (err) {
          this.options.onError?.(err as Error, message);
          const dead = message.attempt >= this.options.maxAttempts;
          const backoff = Math.min(this.options.maxBackoffMs, this.options.baseBackoffMs * 2 ** (message.attempt - 1));
          await this.db
            .updateTable('outbox')
            .set({
              status: dead ? 'dead' : 'pending',
              next_attempt_at: new Date(Date.now() + backoff),
              locked_until: null,
              last_error: String((err as Error).message ?? err).slice(0, 1000),
            })
            .where('id', '=', message.id)
            .execute();
        }
      }),
    );
    if (claimed.length === this.options.batchSize) this.wakeAgain = true;
    return delivered;
  }

  private async claim(): Promise<OutboxMessage[]> {
    const channels = [...this.channels.keys()];
    if (channels.length === 0) return [];
    const now = new Date();
    const leaseEnd = new Date(now.getTime() + this.options.leaseMs);
    // One statement: pick due, unleased rows (skipping rows another node is claiming) and lease them.
    const result = await sql<{
      id: string;
      delivery_id: string;
      channel: string;
      topic: string;
      payload: Record<string, unknown>;
      attempts: number;
    }>`UPDATE outbox SET locked_until = ${leaseEnd}, attempts = attempts + 1
        WHERE id IN (
          SELECT id FROM outbox
          WHERE status = 'pending' AND next_attempt_at <= ${now}
            AND (locked_until IS NULL OR locked_until < ${now})
            AND channel IN (${sql.join(channels)})
          ORDER BY id
          LIMIT ${this.options.batchSize}
          FOR UPDATE SKIP LOCKED)
        RETURNING id, delivery_id, channel, topic, payload, attempts`.execute(this.db);
    return result.rows
      .map((r) => ({
        id: String(r.id),
        deliveryId: r.delivery_id,
        channel: r.channel,
        topic: r.topic,
        payload: r.payload,
        attempt: r.attempts,
      }))
      .sort((a, b) => Number(a.id) - Number(b.id));
  }
}
