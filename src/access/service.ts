// The access domain: who may use the API. People are users with scrypt-hashed passwords and login sessions;
// machines use API keys. Session tokens and keys are long random secrets, so a fast SHA-256 digest is
// enough to store them safely (nothing to brute-force), and it lets every request find its key by index
// instead of running scrypt per request. The audit log records every change and remote command.
import { createHash, randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { inTransaction, type Executor } from '../storage/transactions.ts';
import { hashPassword, verifyPassword } from '../security/passwords.ts';
import type { Role } from './tables.ts';

export interface Actor {
  kind: 'user' | 'api_key' | 'anonymous' | 'system';
  id: string | null;
  name: string | null;
  role: Role | null;
  organisationId: string | null;
}

/**
 * How an audited action ended, one word per meaning, so that filtering the log by outcome finds every entry:
 * a change that was made is `success` on every route.
 */
export const AUDIT_OUTCOMES = [
  'success',
  'denied', // wrong credentials
  'locked', // too many failed logins for the account
  'forbidden', // the role may not
  'not_found',
  'refused_out_of_scope', // a station outside a site host's scope
  'invalid', // refused input
  'offline', // a command for a charger that is not connected
  'timeout', // the charger did not answer
  'callerror', // the charger answered with a CALLERROR
  'invalid_answer', // the charger's answer broke its schema
  'error', // anything else that went wrong
] as const;

/** A command's outcome is the charger's own answer (accepted, rejected, ...), as the command log has it. */
export type ChargerAnswer = string & { readonly chargerAnswer: true };
export const chargerAnswer = (status: string): ChargerAnswer => status as ChargerAnswer;

export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number] | ChargerAnswer;

export interface AuditEntry {
  action: string;
  target?: string | null;
  outcome: AuditOutcome;
  details?: Record<string, unknown>;
}

export interface UserInput {
  email: string;
  name: string;
  password: string;
  role: Role;
  organisationId?: string | null;
}

export interface ApiKeyInput {
  name: string;
  role: Role;
  organisationId?: string | null;
  expiresAt?: Date | null;
  createdBy?: string | null;
}

export interface LoginUser {
  id: string;
  name: string;
  role: Role;
  organisationId: string | null;
}

export class DuplicateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DuplicateError';
  }
}

/** Input the access rules refuse; `field` names it as the caller sent it (expiresAt). */
export class AccessValidationError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field} ${problem}`);
    this.name = 'AccessValidationError';
  }
}

/** How long a login session lasts. */
const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
const KEY_PREFIX = 'ocpo_';
const SESSION_PREFIX = 'ocps_';

export function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function newSecret(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url');
}

export class AccessService {
  constructor(private readonly db: Kysely<Database>) {}

  // ---- users -------------------------------------------------------------------------------------

  async createUser(input: UserInput, db: Executor = this.db): Promise<{ id: string }> {
    const existing = await db
      .selectFrom('users')
      .select('id')
      .where((eb) => eb(eb.fn('lower', ['email']), '=', input.email.toLowerCase()))
      .executeTakeFirst();
    if (existing) throw new DuplicateError(`a user with e-mail ${input.email} exists`);
    const password_hash = await hashPassword(input.password);
    return db
      .insertInto('users')
      .values({
        email: input.email,
        name: input.name,
        password_hash,
        role: input.role,
        organisation_id: input.organisationId ?? null,
        disabled_at: null,
        last_login_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
  }

  /** Changes a user; a new password or role ends their open sessions, so the change applies at once. */
  async updateUser(
    userId: string,
    patch: { name?: string; role?: Role; organisationId?: string | null; password?: string },
    db: Executor = this.db,
  ): Promise<void> {
    const now = new Date();
    await db
      .updateTable('users')
      .set({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.role !== undefined ? { role: patch.role } : {}),
        ...(patch.organisationId !== undefined ? { organisation_id: patch.organisationId } : {}),
        ...(patch.password !== undefined ? { password_hash: await hashPassword(patch.password) } : {}),
        updated_at: now,
      })
      .where('id', '=', userId)
      .execute();
    if (patch.password !== undefined || patch.role !== undefined || patch.organisationId !== undefined) {
      await db
        .updateTable('user_sessions')
        .set({ revoked_at: now })
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .execute();
    }
  }

  /**
   * Disables a user: their sessions end, and the API keys they created are revoked, with the keys those keys
   * created in turn (a key's authority is its creator's: it must not outlive a disabled administrator).
   */
  async disableUser(userId: string, db: Executor = this.db): Promise<boolean> {
    const now = new Date();
    return inTransaction(db, async (trx) => {
      const r = await trx
        .updateTable('users')
        .set({ disabled_at: now, updated_at: now })
        .where('id', '=', userId)
        .where('disabled_at', 'is', null)
        .executeTakeFirst();
      await trx.updateTable('user_sessions').set({ revoked_at: now }).where('user_id', '=', userId).execute();
      await sql`
        WITH RECURSIVE issued(id) AS (
          SELECT id FROM api_keys WHERE created_by = ${userId}
          UNION
          SELECT k.id FROM api_keys k JOIN issued i ON k.created_by = i.id
        )
        UPDATE api_keys SET revoked_at = ${now}
         WHERE id IN (SELECT id FROM issued) AND revoked_at IS NULL`.execute(trx);
      return Number(r.numUpdatedRows) > 0;
    });
  }

  async adminExists(): Promise<boolean> {
    const [user, key] = await Promise.all([
      this.db
        .selectFrom('users')
        .select('id')
        .where('role', '=', 'admin')
        .where('disabled_at', 'is', null)
        .executeTakeFirst(),
      this.db
        .selectFrom('api_keys')
        .select('id')
        .where('role', '=', 'admin')
        .where('revoked_at', 'is', null)
        .executeTakeFirst(),
    ]);
    return Boolean(user || key);
  }

  /**
   * Checks an e-mail and password: the enabled user they belong to, or undefined. Nothing is written, so the
   * (deliberately slow) hash runs outside any transaction.
   */
  async checkLogin(email: string, password: string): Promise<LoginUser | undefined> {
    const user = await this.db
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb(eb.fn('lower', ['email']), '=', email.toLowerCase()))
      .executeTakeFirst();
    // Hash even when the user is unknown, so the answer time does not reveal which e-mails exist.
    const ok = user
      ? await verifyPassword(password, user.password_hash)
      : (await verifyPassword(password, DUMMY_HASH), false);
    if (!user || !ok || user.disabled_at) return undefined;
    return { id: user.id, name: user.name, role: user.role, organisationId: user.organisation_id };
  }

  /** Opens a login session for a user whose password was checked; returns its token (shown once). */
  async openSession(
    user: LoginUser,
    ip: string | null,
    db: Executor = this.db,
  ): Promise<{ token: string; expiresAt: Date }> {
    const token = newSecret(SESSION_PREFIX);
    const expiresAt = new Date(Date.now() + SESSION_TTL_MS);
    await db
      .insertInto('user_sessions')
      .values({ user_id: user.id, token_hash: digest(token), ip, expires_at: expiresAt, revoked_at: null })
      .execute();
    await db.updateTable('users').set({ last_login_at: new Date() }).where('id', '=', user.id).execute();
    return { token, expiresAt };
  }

  async logout(token: string, db: Executor = this.db): Promise<void> {
    await db
      .updateTable('user_sessions')
      .set({ revoked_at: new Date() })
      .where('token_hash', '=', digest(token))
      .where('revoked_at', 'is', null)
      .execute();
  }

  // ---- API keys ----------------------------------------------------------------------------------

  /**
   * Creates a key; the secret is returned here once and only its digest is kept. A key OpenCPO generates keeps
   * its first 12 characters in clear to tell keys apart (5 fixed and 7 of 43 random ones); a `chosen` secret
   * (the bootstrap key, which may be short or guessable) keeps none.
   */
  async createApiKey(
    input: ApiKeyInput,
    chosen?: string,
    db: Executor = this.db,
  ): Promise<{ id: string; key: string }> {
    const secret = chosen ?? newSecret(KEY_PREFIX);
    // A key that is expired already would be refused at its first use: that is a mistake worth saying now.
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now())
      throw new AccessValidationError('expiresAt', 'must be in the future');
    const row = await db
      .insertInto('api_keys')
      .values({
        name: input.name,
        prefix: chosen === undefined ? secret.slice(0, 12) : '',
        key_hash: digest(secret),
        role: input.role,
        organisation_id: input.organisationId ?? null,
        created_by: input.createdBy ?? null,
        expires_at: input.expiresAt ?? null,
        last_used_at: null,
        revoked_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: row.id, key: secret };
  }

  async revokeApiKey(id: string, db: Executor = this.db): Promise<boolean> {
    const r = await db
      .updateTable('api_keys')
      .set({ revoked_at: new Date() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Creates the bootstrap admin key from OPENCPO_BOOTSTRAP_API_KEY when it is not stored yet, so a fresh
   * install can be scripted. Returns true when it created it.
   */
  async ensureBootstrapKey(secret: string): Promise<boolean> {
    if (secret.length < 24) throw new Error('OPENCPO_BOOTSTRAP_API_KEY must have at least 24 characters');
    const known = await this.db
      .selectFrom('api_keys')
      .select('id')
      .where('key_hash', '=', digest(secret))
      .executeTakeFirst();
    if (known) return false;
    await this.createApiKey({ name: 'bootstrap', role: 'admin', createdBy: 'OPENCPO_BOOTSTRAP_API_KEY' }, secret);
    return true;
  }

  // ---- authentication ----------------------------------------------------------------------------

  /** Resolves a bearer secret (an API key or a session token) to the actor it belongs to. */
  async authenticate(secret: string): Promise<Actor | undefined> {
    const hash = digest(secret);
    const now = new Date();
    if (secret.startsWith(SESSION_PREFIX)) {
      const row = await this.db
        .selectFrom('user_sessions as s')
        .innerJoin('users as u', 'u.id', 's.user_id')
        .select(['u.id', 'u.name', 'u.role', 'u.organisation_id', 'u.disabled_at', 's.expires_at', 's.revoked_at'])
        .where('s.token_hash', '=', hash)
        .executeTakeFirst();
      if (!row || row.revoked_at || row.disabled_at || row.expires_at <= now) return undefined;
      return { kind: 'user', id: row.id, name: row.name, role: row.role, organisationId: row.organisation_id };
    }
    const key = await this.db.selectFrom('api_keys').selectAll().where('key_hash', '=', hash).executeTakeFirst();
    if (!key || key.revoked_at || (key.expires_at && key.expires_at <= now)) return undefined;
    // Last use is informative; a minute's precision keeps it from costing a write per request.
    if (!key.last_used_at || now.getTime() - key.last_used_at.getTime() > 60_000) {
      await this.db.updateTable('api_keys').set({ last_used_at: now }).where('id', '=', key.id).execute();
    }
    return { kind: 'api_key', id: key.id, name: key.name, role: key.role, organisationId: key.organisation_id };
  }

  // ---- audit log ---------------------------------------------------------------------------------

  /** Writes an audit entry; given the transaction of the change it records, it commits with it or not at all. */
  async audit(actor: Actor, entry: AuditEntry, ip: string | null, db: Executor = this.db): Promise<void> {
    await db
      .insertInto('audit_log')
      .values({
        at: new Date(),
        actor_kind: actor.kind,
        actor_id: actor.id,
        actor_name: actor.name,
        actor_role: actor.role,
        action: entry.action,
        target: entry.target ?? null,
        outcome: entry.outcome,
        details: JSON.stringify(entry.details ?? {}),
        ip,
      })
      .execute();
  }
}

// A valid hash of a random password, verified against when the e-mail is unknown (constant-ish timing).
const DUMMY_HASH = await hashPassword(randomBytes(16).toString('hex'));
