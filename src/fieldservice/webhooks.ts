// Signed webhooks for field-service systems and other integrations. Each event is queued in the outbox, in the
// transaction of the change it reports, once per matching subscription; the outbox worker delivers it with
// retries. The receiver verifies `X-OpenCPO-Signature` (HMAC-SHA256 over "<timestamp>.<body>" with the
// subscription's secret) and de-duplicates on `X-OpenCPO-Delivery`, which stays the same across retries.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { Outbox, OutboxMessage } from '../storage/outbox.ts';

export const WEBHOOK_CHANNEL = 'webhook';
const TIMEOUT_MS = 10_000;

type Executor = Kysely<Database> | Transaction<Database>;

export function sign(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers (and tests): checks a signature in constant time. */
export function verifySignature(secret: string, timestamp: string, body: string, signature: string): boolean {
  const expected = Buffer.from(sign(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export function newWebhookSecret(): string {
  return randomBytes(32).toString('base64url');
}

export async function addWebhook(
  db: Executor,
  hook: { id: string; url: string; secret?: string; topics?: string[]; siteId?: string },
): Promise<{ id: string; secret: string }> {
  const url = new URL(hook.url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('webhook url must be http(s)');
  const secret = hook.secret ?? newWebhookSecret();
  await db
    .insertInto('fieldservice_webhooks')
    .values({
      id: hook.id,
      url: url.toString(),
      secret,
      topics: JSON.stringify(hook.topics ?? ['*']),
      site_id: hook.siteId ?? null,
      active: true,
    })
    .execute();
  return { id: hook.id, secret };
}

function topicMatches(patterns: string[], topic: string): boolean {
  return patterns.some((p) => p === '*' || p === topic || (p.endsWith('.*') && topic.startsWith(p.slice(0, -1))));
}

/** Queues an event for every active subscription that wants it (by topic and site), in the caller's transaction. */
export async function publishWebhookEvent(
  trx: Executor,
  outbox: Outbox,
  topic: string,
  data: Record<string, unknown>,
  siteId: string | null,
  occurredAt: Date,
): Promise<number> {
  const hooks = await trx.selectFrom('fieldservice_webhooks').selectAll().where('active', '=', true).execute();
  let queued = 0;
  for (const hook of hooks) {
    if (hook.site_id && hook.site_id !== siteId) continue;
    if (!topicMatches(hook.topics, topic)) continue;
    await outbox.enqueue(trx, {
      channel: WEBHOOK_CHANNEL,
      topic,
      payload: { webhookId: hook.id, occurredAt: occurredAt.toISOString(), data },
    });
    queued++;
  }
  return queued;
}

/** The outbox channel that POSTs one event to its subscription. Any non-2xx answer is retried. */
export function webhookChannel(db: Kysely<Database>) {
  return async (message: OutboxMessage): Promise<void> => {
    const webhookId = String(message.payload.webhookId);
    const hook = await db
      .selectFrom('fieldservice_webhooks')
      .selectAll()
      .where('id', '=', webhookId)
      .executeTakeFirst();
    if (!hook || !hook.active) return; // unsubscribed since: nothing to deliver
    const body = JSON.stringify({
      id: message.deliveryId,
      type: message.topic,
      occurredAt: message.payload.occurredAt,
      data: message.payload.data,
    });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const res = await fetch(hook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'OpenCPO-Webhooks/1',
        'x-opencpo-delivery': message.deliveryId,
        'x-opencpo-event': message.topic,
        'x-opencpo-timestamp': timestamp,
        'x-opencpo-attempt': String(message.attempt),
        'x-opencpo-signature': sign(hook.secret, timestamp, body),
      },
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: 'error',
    });
    // Drain the body so the connection is reused.
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`webhook ${hook.id} answered ${res.status}`);
  };
}
