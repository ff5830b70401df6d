// Tables owned by the access domain: people (users and their login sessions), machines (API keys), and
// the audit log of every change and remote command.
import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export const ROLES = ['admin', 'operator', 'site_host', 'technician', 'read_only'] as const;
export type Role = (typeof ROLES)[number];

export interface UsersTable {
  id: Generated<string>;
  email: string;
  name: string;
  password_hash: string;
  role: Role;
  organisation_id: string | null;
  disabled_at: Timestamp | null;
  last_login_at: Timestamp | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface UserSessionsTable {
  id: Generated<string>;
  user_id: string;
  token_hash: string;
  ip: string | null;
  created_at: Generated<Date>;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
}

export interface ApiKeysTable {
  id: Generated<string>;
  name: string;
  /**
   * The first characters of a key OpenCPO generated, so people can tell keys apart without the secret; empty
   * for a key chosen outside OpenCPO (the bootstrap key), of which nothing is kept in clear.
   */
  prefix: string;
  key_hash: string;
  role: Role;
  organisation_id: string | null;
  created_by: string | null;
  created_at: Generated<Date>;
  expires_at: Timestamp | null;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface AuditLogTable {
  id: Generated<string>;
  at: Timestamp;
  actor_kind: string;
  actor_id: string | null;
  actor_name: string | null;
  actor_role: string | null;
  action: string;
  target: string | null;
  outcome: string;
  details: JSONColumnType<Record<string, unknown>>;
  ip: string | null;
}
