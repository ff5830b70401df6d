// The `opencpo` command line: one entry, one subcommand per job. Each subcommand lives in cli/commands/.
import { Command } from 'commander';
import { serveCommand } from './commands/serve.ts';
import { stationsCommand } from './commands/stations.ts';
import { simulateCommand } from './commands/simulate.ts';
import { benchCommand } from './commands/bench.ts';
import { apiKeysCommand, usersCommand } from './commands/users.ts';
import { reportCommand } from './commands/report.ts';
import { migrateCommand } from './commands/migrate.ts';

export function buildProgram(): Command {
  const program = new Command('opencpo')
    .description('OpenCPO: the open charge point management system')
    .showHelpAfterError()
    .enablePositionalOptions();
  program.addCommand(serveCommand());
  program.addCommand(stationsCommand());
  program.addCommand(simulateCommand());
  program.addCommand(benchCommand());
  program.addCommand(usersCommand());
  program.addCommand(apiKeysCommand());
  program.addCommand(reportCommand());
  program.addCommand(migrateCommand());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    console.error(`opencpo: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
