// Billing rows written straight into the database, for tests about what happens to them afterwards (invoicing,
// credits, immutability): a CDR as the pricing engine would have stored it, without running a session.
import type { Kysely } from 'kysely';
import type { Database } from '../../src/storage/schema.ts';

export interface CdrRowInput {
  id: string;
  accountId: string | null;
  /** When the session ended: the invoice month is the month of this instant (UTC). */
  endedAt: string;
  inclVat: number;
  currency?: string;
  stationId?: string;
}

/** Inserts an original CDR whose total is `inclVat` minor units (20 % VAT included, one energy line). */
export async function insertCdr(db: Kysely<Database>, input: CdrRowInput): Promise<void> {
  const currency = input.currency ?? 'EUR';
  const exclVat = Math.round(input.inclVat / 1.2);
  const vat = input.inclVat - exclVat;
  const ended = new Date(input.endedAt);
  const started = new Date(ended.getTime() - 3_600_000);
  await db
    .insertInto('cdrs')
    .values({
      id: input.id,
      transaction_id: input.id,
      credit: false,
      credit_reference_id: null,
      account_id: input.accountId,
      id_token: null,
      station_id: input.stationId ?? 'ROW-1',
      evse_id: 1,
      connector_id: 1,
      location_id: null,
      tariff_id: null,
      tariff_version: null,
      currency,
      start_date_time: started,
      end_date_time: ended,
      total_energy_kwh: '10',
      total_time_h: '1',
      total_parking_time_h: '0',
      total_excl_vat: exclVat,
      total_vat: vat,
      total_incl_vat: input.inclVat,
      body: JSON.stringify({
        id: input.id,
        total_cost: { excl_vat: exclVat / 100, incl_vat: input.inclVat / 100 },
        opencpo_cost_lines: [{ vatRate: '20', exclVat, vat, inclVat: input.inclVat }],
        opencpo_total_minor: { exclVat, vat, inclVat: input.inclVat },
      }),
      invoice_id: null,
    })
    .execute();
}

/** A clock that stands still at an instant until moved (structurally what billing and the lead's clock take). */
export function fixedClock(at: string): { now(): number; set(to: string): void } {
  let ms = Date.parse(at);
  return {
    now: () => ms,
    set: (to: string) => {
      ms = Date.parse(to);
    },
  };
}
