// Station admission: a registered station needs its password unless the operator allows it to connect
// without credentials (OCPP security profile 0, `allow_unauthenticated`). Stations registered on first
// contact (--accept-unknown-stations) are marked, because without a password they are admitted only while
// unknown stations are accepted. Stations from before this rule that have no password are treated as
// registered on first contact: a server that accepts unknown stations keeps admitting them; one that does
// not refuses them until they get a password or the flag.
import { sql, type Kysely } from 'kysely';

const statements = [
  sql`ALTER TABLE stations ADD COLUMN allow_unauthenticated boolean NOT NULL DEFAULT false`,
  sql`ALTER TABLE stations ADD COLUMN registered_on_first_contact boolean NOT NULL DEFAULT false`,
  sql`UPDATE stations SET registered_on_first_contact = true WHERE password_hash IS NULL`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}
