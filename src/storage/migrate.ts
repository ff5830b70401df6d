// Versioned migrations, applied in order at start. A migration is never edited once released: add a new one.
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import * as m0001 from './migrations/0001_ocpp_core.ts';
import * as m0002 from './migrations/0002_api.ts';
import * as m0003 from './migrations/0003_billing.ts';
import * as m0004 from './migrations/0004_uptime_fieldservice.ts';
import * as m0005 from './migrations/0005_per_station_indexes.ts';
import * as m0008 from './migrations/0008_billing_integrity.ts';
import * as m0010 from './migrations/0010_api_integrity.ts';
import * as m0007 from './migrations/0007_transaction_integrity.ts';
import * as m0009 from './migrations/0009_station_admission.ts';

const migrations: Record<string, Migration> = {
  '0001_ocpp_core': m0001,
  '0002_api': m0002,
  '0003_billing': m0003,
  '0004_uptime_fieldservice': m0004,
  '0005_per_station_indexes': m0005,
  '0008_billing_integrity': m0008,
  '0010_api_integrity': m0010,
  '0007_transaction_integrity': m0007,
  '0009_station_admission': m0009,
};

class StaticProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  // Unordered: migrations of parallel work may land in any order; each is applied once, by name.
  const migrator = new Migrator({ db, provider: new StaticProvider(), allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
