// Indexes for the questions asked of one station at a time: its outages (every live uptime run and the sweep)
// and its sessions in a time range (uptime evidence, reports). Without them both scanned the whole table,
// whose size grows with every station's history.
import { sql, type Kysely } from 'kysely';

const statements = [
  sql`CREATE INDEX uptime_outages_by_station ON uptime_outages (station_id, ended_at)`,
  sql`CREATE INDEX transactions_by_station_start ON transactions (station_id, started_at)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}
