// Idempotency-Key for the routes whose retries must not apply twice (work orders, wallet top-ups). The key is
// reserved first, in the transaction of the change (INSERT ... ON CONFLICT DO NOTHING on its primary key), and
// the answer is stored in the same transaction before it commits. A retry, or a concurrent duplicate (whose
// insert waits on the first one's uncommitted row), then finds the key taken and gets the first answer back;
// the same key with another request is refused (422). A change that fails stores nothing: the key is free
// again. Keys belong to the principal that sent them. A route takes the header by declaring it in its schema
// (`headers: IdempotencyHeaders`); any other change refuses it, rather than accept it and apply retries twice.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ColumnType, Transaction } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { inTransaction } from '../storage/transactions.ts';
import { ApiError } from './errors.ts';
import { principalOf } from './auth.ts';
import { audited } from './audit.ts';
import type { AuditEntry } from '../access/service.ts';

export interface ApiIdempotencyTable {
  /** `kind:id` of the user or API key that sent the key. */
  principal: string;
  key: string;
  /** What the request was (method, URL, body), to tell a retry from a reuse of the key. */
  request_hash: string;
  /** The first answer; null only inside the transaction that reserved the key. */
  status_code: number | null;
  response: ColumnType<unknown, string | null, string | null>;
  created_at: ColumnType<Date, never, never>;
}

const HEADER = 'idempotency-key';
const KEY_PATTERN = '^[A-Za-z0-9_.:-]{8,128}$';

/** The header schema of a route that applies a change once per key. */
export const IdempotencyHeaders = Type.Object({
  [HEADER]: Type.Optional(
    Type.String({
      pattern: KEY_PATTERN,
      description:
        'applies the change once: a retry with the same key gets the first answer (8-128 of A-Z a-z 0-9 _ . : -)',
    }),
  ),
});

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function takesKey(req: FastifyRequest): boolean {
  const headers = req.routeOptions.schema?.headers as { properties?: Record<string, unknown> } | undefined;
  return Boolean(headers?.properties?.[HEADER]);
}

/** Refuses an Idempotency-Key on a change that does not apply it once per key. */
export function installIdempotency(app: FastifyInstance): void {
  app.addHook('preValidation', async (req) => {
    if (req.headers[HEADER] === undefined || !CHANGES.has(req.method) || takesKey(req)) return;
    throw new ApiError(
      400,
      'validation_failed',
      `headers.${HEADER}: this route does not take an Idempotency-Key; it would not stop a retry from applying twice`,
      [{ field: `headers.${HEADER}`, problem: 'is not taken by this route' }],
    );
  });
}

/**
 * Applies an audited change (see `audited`) and answers `status` with what it returns; with an Idempotency-Key,
 * at most once per key: a retry gets the stored answer, with the header `idempotent-replayed: true`.
 */
export async function idempotent<T>(
  req: FastifyRequest,
  reply: FastifyReply,
  status: number,
  change: (trx: Transaction<Database>) => Promise<T>,
  entry: AuditEntry | ((result: T) => AuditEntry),
): Promise<T> {
  const db = req.server.api.db;
  const key = req.headers[HEADER];
  reply.code(status);
  if (typeof key !== 'string') return audited(req, change, entry);
  const p = principalOf(req);
  const principal = `${p.kind}:${p.id}`;
  const requestHash = createHash('sha256')
    .update(`${req.method} ${req.url}\n${JSON.stringify(req.body ?? null)}`)
    .digest('hex');
  const outcome = await inTransaction(db, async (trx) => {
    const reserved = await trx
      .insertInto('api_idempotency')
      .values({ principal, key, request_hash: requestHash, status_code: null, response: null })
      .onConflict((oc) => oc.columns(['principal', 'key']).doNothing())
      .returning('key')
      .executeTakeFirst();
    if (!reserved) {
      // Taken: by a committed change (a concurrent one's insert waited for it to commit).
      const first = await trx
        .selectFrom('api_idempotency')
        .select(['request_hash', 'status_code', 'response'])
        .where('principal', '=', principal)
        .where('key', '=', key)
        .executeTakeFirstOrThrow();
      return { replayed: true as const, first };
    }
    const answer = await audited(req, change, entry, trx);
    await trx
      .updateTable('api_idempotency')
      .set({ status_code: status, response: JSON.stringify(answer ?? null) })
      .where('principal', '=', principal)
      .where('key', '=', key)
      .execute();
    return { replayed: false as const, answer };
  });
  if (!outcome.replayed) return outcome.answer;
  if (outcome.first.request_hash !== requestHash) {
    throw new ApiError(422, 'idempotency_key_reused', `headers.${HEADER}: this key was used for a different request`, [
      { field: `headers.${HEADER}`, problem: 'was used for a different request' },
    ]);
  }
  reply.code(outcome.first.status_code ?? status);
  reply.header('idempotent-replayed', 'true');
  return outcome.first.response as T;
}
