// `opencpo report`: regulatory and reliability reports from the same database `serve` uses.
//   opencpo report nevi --quarter 2026Q3 --out DIR [--year 2026]   EV-ChART Modules 2, 3, 4 (and 5)
//   opencpo report reliability --from … --to … --out DIR           JSON figures and SVG charts
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../../config/config.ts';
import { openDatabase } from '../../storage/database.ts';
import { UptimeService } from '../../uptime/service.ts';
import { FieldService } from '../../fieldservice/service.ts';
import { Outbox } from '../../storage/outbox.ts';
import { uptimeSettingsFromEnv } from '../../uptime/options.ts';
import { EvChartReports, parseQuarter } from '../../uptime/evchart.ts';
import { reliabilityReport } from '../../uptime/reliability.ts';
import { causeChart, uptimeChart } from '../../uptime/charts.ts';

async function withUptime<T>(
  opts: { data?: string; databaseUrl?: string; station?: string[] },
  fn: (db: Awaited<ReturnType<typeof openDatabase>>['db'], uptime: UptimeService) => Promise<T>,
): Promise<T> {
  const config = loadConfig(opts);
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    // The server's settings (OPENCPO_OFFLINE_GRACE_S...): what is derived here is what it would derive.
    const settings = uptimeSettingsFromEnv();
    const uptime = new UptimeService(database.db, settings.uptime);
    // Its constructor has field service follow uptime's outage changes, as in the server.
    new FieldService(database.db, new Outbox(database.db), uptime, { reopenWindowMs: settings.reopenWindowMs });
    await deriveOwedOutages(uptime, opts.station);
    return await fn(database.db, uptime);
  } finally {
    await database.close();
  }
}

/**
 * Brings the stored outages up to date with the evidence before reporting: a server that crashed (or one
 * stopped before its live re-derivations ran) leaves outages only its evidence shows, and this process cannot
 * know which stations owe one, so each station reported on is re-derived (as the server's sweep would). With
 * field service listening, an outage found here raises its alerts and webhooks through the outbox, which the
 * server delivers. A station whose run fails (a server deriving it at the same moment) is reported from what
 * is stored, with a warning.
 */
async function deriveOwedOutages(uptime: UptimeService, stationIds: string[] | undefined): Promise<void> {
  for (const stationId of stationIds ?? (await uptime.knownStations())) {
    try {
      await uptime.syncStation(stationId);
    } catch (err) {
      console.warn(`${stationId}: outages not re-derived (${(err as Error).message}); reporting what is stored`);
    }
  }
}

function storageOptions(cmd: Command): Command {
  return cmd
    .option('--data <dir>', 'embedded database directory (ignored when DATABASE_URL is set)')
    .option('--database-url <url>', 'PostgreSQL connection string (env DATABASE_URL)')
    .option('--station <id...>', 'only these stations');
}

export function reportCommand(): Command {
  const cmd = new Command('report').description('regulatory (NEVI / EV-ChART) and reliability reports');
  storageOptions(
    cmd
      .command('nevi')
      .description('EV-ChART quarterly CSVs: module 2 (sessions), 3 (uptime), 4 (outages); module 5 with --year')
      .requiredOption('--quarter <quarter>', 'the quarter, e.g. 2026Q3')
      .requiredOption('--out <dir>', 'directory to write the CSV files to')
      .option('--year <year>', 'also write the annual module 5 (maintenance cost) for this year')
      .option('--network-provider <name>', 'network_provider value (env OPENCPO_NETWORK_PROVIDER)'),
  ).action(async (opts) => {
    parseQuarter(opts.quarter); // fail before opening anything
    const year = opts.year === undefined ? undefined : Number(opts.year);
    if (year !== undefined && (!Number.isInteger(year) || year < 2000 || year > 2100))
      throw new Error('--year must be a year');
    const networkProvider = opts.networkProvider ?? process.env.OPENCPO_NETWORK_PROVIDER ?? 'opencpo';
    const files = await withUptime(opts, (db, uptime) =>
      new EvChartReports(db, uptime, { networkProvider, stationIds: opts.station }).files(opts.quarter, year),
    );
    mkdirSync(opts.out, { recursive: true });
    for (const [name, csv] of Object.entries(files)) {
      writeFileSync(join(opts.out, name), csv);
      console.log(`${join(opts.out, name)}: ${csv.trimEnd().split('\n').length - 1} rows`);
    }
  });
  storageOptions(
    cmd
      .command('reliability')
      .description('session success rate, MTTR, MTBF, outage minutes by cause and party, first-time fix rate')
      .requiredOption('--from <date>', 'start (ISO date or datetime, UTC)')
      .requiredOption('--to <date>', 'end, exclusive')
      .requiredOption('--out <dir>', 'directory for reliability.json, uptime.svg and causes.svg'),
  ).action(async (opts) => {
    const from = Date.parse(opts.from);
    const to = Date.parse(opts.to);
    if (!Number.isFinite(from)) throw new Error('--from is not a date');
    if (!Number.isFinite(to) || to <= from) throw new Error('--to must be a date after --from');
    const report = await withUptime(opts, (db, uptime) => reliabilityReport(db, uptime, { from, to }, opts.station));
    mkdirSync(opts.out, { recursive: true });
    writeFileSync(join(opts.out, 'reliability.json'), JSON.stringify(report, null, 2));
    writeFileSync(
      join(opts.out, 'uptime.svg'),
      await uptimeChart(
        report.portUptime.map((p) => ({ label: `${p.stationId} ${p.evseId}-${p.connectorId}`, uptime: p.uptime })),
      ),
    );
    writeFileSync(join(opts.out, 'causes.svg'), await causeChart(report.byCause));
    console.log(`reliability report written to ${opts.out}`);
  });
  return cmd;
}
