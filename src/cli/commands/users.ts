// `opencpo users` and `opencpo api-keys`: create the first administrator (and later ones) and API keys from
// the command line, against the same database the server uses. Secrets are printed once, never stored.
import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { loadConfig } from '../../config/config.ts';
import { openDatabase } from '../../storage/database.ts';
import { AccessService } from '../../access/service.ts';
import { ROLES, type Role } from '../../access/tables.ts';

async function withAccess<T>(opts: { data?: string; databaseUrl?: string }, fn: (a: AccessService) => Promise<T>) {
  const config = loadConfig(opts);
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    return await fn(new AccessService(database.db));
  } finally {
    await database.close();
  }
}

const storageOptions = (cmd: Command) =>
  cmd
    .option('--data <dir>', "embedded database directory, or 'memory'")
    .option('--database-url <url>', 'PostgreSQL connection string (env DATABASE_URL)');

export function usersCommand(): Command {
  const cmd = new Command('users').description('manage people who use the API');
  storageOptions(
    cmd
      .command('add-admin <email>')
      .description('create an administrator; prints a generated password unless --password is given')
      .option('--name <name>', 'display name')
      .option('--password <password>', 'password (at least 12 characters); generated when absent'),
  ).action(async (email: string, opts) => {
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw new Error(`not an e-mail address: ${email}`);
    const password: string = opts.password ?? randomBytes(18).toString('base64url');
    if (password.length < 12) throw new Error('--password must have at least 12 characters');
    const { id } = await withAccess(opts, (a) =>
      a.createUser({ email, name: opts.name ?? email, password, role: 'admin' }),
    );
    console.log(`administrator ${email} created (id ${id})`);
    if (!opts.password) console.log(`password (shown once): ${password}`);
    console.log('log in with POST /api/v1/auth/login {"email", "password"}');
  });
  return cmd;
}

export function apiKeysCommand(): Command {
  const cmd = new Command('api-keys').description('manage API keys for machines');
  storageOptions(
    cmd
      .command('create <name>')
      .description('create an API key and print it once')
      .option('--role <role>', `one of ${ROLES.join(', ')}`, 'admin')
      .option('--organisation <id>', 'organisation of a site_host key'),
  ).action(async (name: string, opts) => {
    if (!ROLES.includes(opts.role)) throw new Error(`--role must be one of ${ROLES.join(', ')}`);
    if (opts.role === 'site_host' && !opts.organisation) throw new Error('a site_host key needs --organisation');
    const { id, key } = await withAccess(opts, (a) =>
      a.createApiKey({ name, role: opts.role as Role, organisationId: opts.organisation ?? null, createdBy: 'cli' }),
    );
    console.log(`API key ${id} (${opts.role}) created; key (shown once):\n${key}`);
  });
  return cmd;
}
