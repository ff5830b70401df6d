// `opencpo migrate`: applies the database migrations and exits. Run it as the database's owner before starting a
// new version when OpenCPO itself runs as a role that owns nothing (the README's "Immutable records"), and let it
// grant that role what OpenCPO needs (`--grant-to`), also for the tables a new version adds.
import { Command } from 'commander';
import { loadConfig } from '../../config/config.ts';
import { openDatabase } from '../../storage/database.ts';
import { grantAppRole } from '../../storage/app-role.ts';

export function migrateCommand(): Command {
  return new Command('migrate')
    .description('apply the database migrations (as the owner) and exit; --grant-to gives a role what OpenCPO needs')
    .option('--data <dir>', "embedded database directory, or 'memory'")
    .option('--database-url <url>', 'PostgreSQL connection string (env DATABASE_URL)')
    .option('--grant-to <role>', 'PostgreSQL role OpenCPO runs as: may read and add, never change evidence')
    .action(async (opts: { data?: string; databaseUrl?: string; grantTo?: string }) => {
      const config = loadConfig(opts);
      if (opts.grantTo && !config.databaseUrl) throw new Error('--grant-to needs PostgreSQL (--database-url)');
      const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
      try {
        console.log(`${database.describe}: migrations applied`);
        if (opts.grantTo) {
          await grantAppRole(database.db, opts.grantTo);
          console.log(
            `granted ${opts.grantTo} what OpenCPO needs (no UPDATE or DELETE of CDRs, invoices, ledger, audit)`,
          );
        }
      } finally {
        await database.close();
      }
    });
}
