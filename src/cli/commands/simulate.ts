// `opencpo simulate`: runs a fleet of autonomous simulated chargers (OCPP 1.6J, 2.0.1 or both) against a
// CSMS until Ctrl-C or the given duration, printing live counts.
import { Command, InvalidArgumentError, Option } from 'commander';
import { Fleet, LiveStatus, type FleetProtocol } from '../../simulator/fleet.ts';

const PROTOCOL_CHOICES: FleetProtocol[] = ['ocpp1.6', 'ocpp2.0.1', 'mixed'];

function positiveInteger(what: string, max: number) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1 || value > max) {
      throw new InvalidArgumentError(`${what} must be a whole number from 1 to ${max}.`);
    }
    return value;
  };
}

function positiveNumber(what: string) {
  return (raw: string): number => {
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value) || value <= 0) {
      throw new InvalidArgumentError(`${what} must be a number greater than 0.`);
    }
    return value;
  };
}

function websocketUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidArgumentError('expected a URL such as ws://127.0.0.1:8080/ocpp.');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new InvalidArgumentError(`the URL must start with ws:// or wss://, not ${url.protocol}//.`);
  }
  if (url.search || url.hash) throw new InvalidArgumentError('the URL must not have a query or fragment.');
  return raw.replace(/\/+$/, '');
}

function stationPrefix(raw: string): string {
  // The id ends up in the URL path and in 1.6's 20-character-ish identities: keep it short and plain.
  if (!/^[A-Za-z0-9_.-]{1,20}$/.test(raw)) {
    throw new InvalidArgumentError('use 1 to 20 letters, digits, "_", "." or "-".');
  }
  return raw;
}

export function simulateCommand(): Command {
  return new Command('simulate')
    .description('run simulated chargers with a realistic random life against a CSMS')
    .requiredOption(
      '--url <url>',
      'CSMS OCPP endpoint without the station id, e.g. ws://127.0.0.1:8080/ocpp',
      websocketUrl,
    )
    .option('--stations <n>', 'number of simulated stations', positiveInteger('--stations', 100_000), 10)
    .addOption(
      new Option('--protocol <protocol>', 'OCPP version of the stations; mixed alternates them')
        .choices(PROTOCOL_CHOICES)
        .default('mixed'),
    )
    .option('--prefix <prefix>', 'station id prefix: PREFIX-0001, PREFIX-0002...', stationPrefix, 'SIM')
    .option('--password <password>', 'HTTP Basic password (security profile 1); the username is the station id')
    .option('--connectors <n>', 'connectors per station', positiveInteger('--connectors', 16), 2)
    .option(
      '--meter-interval <seconds>',
      'seconds between meter values while charging',
      positiveInteger('--meter-interval', 86_400),
      60,
    )
    .option(
      '--duration <seconds>',
      'stop after this many seconds (default: run until Ctrl-C)',
      positiveNumber('--duration'),
    )
    .option(
      '--speed <factor>',
      'run simulated time this many times faster than real time',
      positiveNumber('--speed'),
      1,
    )
    .option('--seed <n>', 'seed for reproducible runs', positiveInteger('--seed', 2 ** 31))
    .option('--stagger <ms>', 'delay between two stations connecting', positiveInteger('--stagger', 60_000), 20)
    .action(async (opts) => {
      const fleet = new Fleet({
        url: opts.url,
        stations: opts.stations,
        protocol: opts.protocol,
        prefix: opts.prefix,
        password: opts.password,
        connectors: opts.connectors,
        meterIntervalS: opts.meterInterval,
        seed: opts.seed,
        staggerMs: opts.stagger,
        secondMs: 1000 / opts.speed,
      });
      const status = new LiveStatus(fleet);
      console.log(
        `simulating ${opts.stations} ${opts.protocol} station(s) against ${opts.url}` +
          (opts.duration ? ` for ${opts.duration} s` : '; Ctrl-C to stop'),
      );
      status.start();

      let finish!: () => void;
      const finished = new Promise<void>((resolve) => (finish = resolve));
      const onSignal = () => finish();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const deadline = opts.duration ? setTimeout(finish, opts.duration * 1000) : undefined;

      await Promise.race([fleet.start(), finished]);
      await finished;

      clearTimeout(deadline);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await fleet.stop();
      status.stop();
    });
}
