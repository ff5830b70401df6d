// `opencpo serve`: runs OpenCPO on one port (OCPP at /ocpp/<id>, API at /api/v1, /health, /metrics).
import { Command } from 'commander';
import { describeConfig, loadConfig } from '../../config/config.ts';
import { startOpenCpo } from '../../app.ts';
import { createLogger } from '../../observability/log.ts';
import { startDemo } from '../demo.ts';

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the central system: OCPP, API, health and metrics on one port')
    .option('--port <port>', 'port to listen on (env PORT)', undefined)
    .option('--host <host>', 'address to bind (env HOST)', undefined)
    .option('--data <dir>', "embedded database directory, or 'memory' (ignored when DATABASE_URL is set)")
    .option('--database-url <url>', 'PostgreSQL connection string (env DATABASE_URL)')
    .option('--accept-unknown-stations', 'register unknown chargers on first contact instead of refusing them')
    .option('--heartbeat-interval <seconds>', 'heartbeat interval given to chargers')
    .option('--call-timeout <ms>', 'how long a command waits for the charger')
    .option('--demo', 'embedded database, unknown stations accepted, ten simulated chargers')
    .action(async (opts) => {
      const config = loadConfig(opts);
      const log = createLogger(config.logLevel);
      log.info({ config: describeConfig(config) }, 'starting OpenCPO');
      const app = await startOpenCpo(config, log);
      log.info({ port: app.port, database: app.database.describe }, 'OpenCPO is listening');
      const demo = config.demo ? await startDemo(app) : undefined;
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'shutting down');
        await demo?.stop();
        await app.close();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
    });
}
