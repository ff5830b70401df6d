// `opencpo stations`: register chargers (and their OCPP Basic-auth passwords) before they connect.
import { Command } from 'commander';
import { loadConfig } from '../../config/config.ts';
import { openDatabase } from '../../storage/database.ts';
import { BatchWriter } from '../../storage/batch-writer.ts';
import { StationsService } from '../../stations/service.ts';

async function withStations<T>(opts: { data?: string; databaseUrl?: string }, fn: (s: StationsService) => Promise<T>) {
  const config = loadConfig(opts);
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  const writer = new BatchWriter(database.db, { windowMs: 0, maxRows: 1 });
  const stations = new StationsService(database.db, writer, {
    acceptUnknownStations: false,
    heartbeatIntervalS: config.heartbeatIntervalS,
  });
  try {
    return await fn(stations);
  } finally {
    await stations.close();
    await database.close();
  }
}

export function stationsCommand(): Command {
  const cmd = new Command('stations').description('manage registered chargers');
  cmd
    .command('add <stationId>')
    .description(
      'register a charger so it may connect (with a password for OCPP security profile 1); on a registered ' +
        'one, change only what is given. A running server applies a change at the next connection',
    )
    .option('--password <password>', 'Basic-auth password the charger will use (stored hashed)')
    .option('--blocked', 'register it blocked (or block it)')
    .option('--allow-unauthenticated', 'OCPP security profile 0: it may connect without a password')
    .option('--data <dir>', "embedded database directory, or 'memory'")
    .option('--database-url <url>', 'PostgreSQL connection string (env DATABASE_URL)')
    .action(async (stationId: string, opts) => {
      if (opts.password !== undefined && String(opts.password).length < 8) {
        throw new Error('--password must have at least 8 characters');
      }
      const outcome = await withStations(opts, (s) =>
        s.register({
          id: stationId,
          password: opts.password,
          admission: opts.blocked ? 'blocked' : undefined,
          allowUnauthenticated: opts.allowUnauthenticated ? true : undefined,
        }),
      );
      console.log(describeOutcome(stationId, outcome, opts));
    });
  return cmd;
}

function describeOutcome(
  stationId: string,
  outcome: 'registered' | 'updated' | 'unchanged',
  opts: { password?: string; blocked?: boolean; allowUnauthenticated?: boolean },
): string {
  const given = [
    opts.password ? 'with a password' : '',
    opts.blocked ? 'blocked' : '',
    opts.allowUnauthenticated ? 'allowed to connect without a password' : '',
  ].filter(Boolean);
  if (outcome === 'unchanged') return `station ${stationId} is already registered; nothing changed`;
  if (outcome === 'updated') return `station ${stationId} was already registered; now ${given.join(', ')}`;
  const note =
    opts.password || opts.allowUnauthenticated
      ? ''
      : ' (no password: it cannot connect until it has one, or --allow-unauthenticated)';
  return `station ${stationId} registered${given.length ? ' ' + given.join(', ') : ''}${note}`;
}
