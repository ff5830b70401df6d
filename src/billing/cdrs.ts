// Charge detail records. When a session ends it is priced once, with the tariff it pinned at its start, and
// stored as an immutable OCPI 2.2.1 CDR (the database refuses edits). A correction is a credit CDR with negated
// amounts referring to the original, never an edit. Sessions under the minimum energy or duration are not billed
// and are recorded in failed_sessions instead.
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { BillingOptions } from './options.ts';
import type { PricedSession } from './pricing.ts';
import { formatMinor } from './money.ts';
import type { LocationInfo } from './locations.ts';
import type { SignedValue, TransactionRow } from './usage-builder.ts';

export interface CdrRecord {
  id: string;
  transactionId: string;
  credit: boolean;
  creditReferenceId: string | null;
  accountId: string | null;
  idToken: string | null;
  stationId: string;
  evseId: number;
  connectorId: number;
  locationId: string | null;
  tariffId: string | null;
  tariffVersion: number | null;
  currency: string;
  startDateTime: Date;
  endDateTime: Date;
  totalEnergyKwh: string;
  totalTimeH: string;
  totalParkingTimeH: string;
  totalExclVat: number;
  totalVat: number;
  totalInclVat: number;
  body: Record<string, unknown>;
  invoiceId: string | null;
  createdAt: Date;
}

/** OCPI token type from the OCPP id token type. */
function ocpiTokenType(type: string | null): string {
  switch (type) {
    case 'ISO14443':
    case 'ISO15693':
      return 'RFID';
    case 'eMAID':
      return 'APP_USER';
    case 'NoAuthorization':
      return 'AD_HOC_USER';
    default:
      return type ? 'OTHER' : 'AD_HOC_USER';
  }
}

/** OCPI auth method: a remote start is COMMAND; a token checked with us is AUTH_REQUEST; else the charger's list. */
function authMethod(tx: TransactionRow): string {
  if (tx.remote_start_id !== null) return 'COMMAND';
  if (tx.auth_status !== null) return 'AUTH_REQUEST';
  return 'WHITELIST';
}

/** Price in OCPI's shape, as decimal numbers in major units. */
function price(minorExcl: number, minorIncl: number, currency: string) {
  return { excl_vat: Number(formatMinor(minorExcl, currency)), incl_vat: Number(formatMinor(minorIncl, currency)) };
}

export function buildCdrBody(
  options: BillingOptions,
  id: string,
  tx: TransactionRow,
  priced: PricedSession,
  location: LocationInfo | undefined,
  accountId: string | null,
  signed: SignedValue[],
  now: Date,
): Record<string, unknown> {
  const c = priced.currency;
  const part = (kind: keyof PricedSession['byKind']) => {
    const t = priced.byKind[kind];
    return t ? price(t.exclVat, t.inclVat, c) : undefined;
  };
  return {
    country_code: options.countryCode,
    party_id: options.partyId,
    id,
    start_date_time: priced.startedAt,
    end_date_time: priced.endedAt,
    session_id: tx.id,
    cdr_token: {
      country_code: options.countryCode,
      party_id: options.partyId,
      uid: tx.id_token ?? 'UNKNOWN',
      type: ocpiTokenType(tx.id_token_type),
      contract_id: accountId ?? tx.id_token ?? 'UNKNOWN',
    },
    auth_method: authMethod(tx),
    cdr_location: {
      id: location?.id ?? tx.station_id,
      name: location?.name,
      address: location?.address ?? '',
      city: location?.city ?? '',
      postal_code: location?.postalCode ?? undefined,
      country: location?.country ?? '',
      coordinates:
        location?.latitude != null && location?.longitude != null
          ? { latitude: String(location.latitude), longitude: String(location.longitude) }
          : undefined,
      evse_uid: `${tx.station_id}*${tx.evse_id}`,
      evse_id: `${options.countryCode}*${options.partyId}*E${tx.station_id}*${tx.evse_id}`,
      connector_id: String(tx.connector_id),
    },
    currency: c,
    tariffs: priced.tariffId ? [{ id: priced.tariffId, version: priced.tariffVersion }] : [],
    charging_periods: priced.periods.map((p) => ({
      start_date_time: p.start_date_time,
      dimensions: p.dimensions.map((d) => ({ type: d.type, volume: Number(d.volume) })),
      tariff_id: p.tariff_id,
    })),
    ...(signed.length
      ? {
          signed_data: {
            encoding_method: signed.find((v) => v.encoding_method)?.encoding_method ?? 'UNKNOWN',
            ...(signed.find((v) => v.public_key) ? { public_key: signed.find((v) => v.public_key)!.public_key } : {}),
            signed_values: signed.map((v) => ({
              nature: v.nature,
              plain_data: v.plain_data,
              signed_data: v.signed_data,
            })),
          },
        }
      : {}),
    total_cost: price(priced.total.exclVat, priced.total.inclVat, c),
    total_fixed_cost: part('FLAT'),
    total_energy: Number(priced.totalEnergy),
    total_energy_cost: part('ENERGY'),
    total_time: Number(priced.totalTime),
    total_time_cost: part('TIME'),
    total_parking_time: Number(priced.parkingTime),
    total_parking_cost: part('PARKING_TIME'),
    credit: false,
    last_updated: now.toISOString(),
    // Not OCPI: the lines that explain total_cost, in minor units, for receipts and invoices.
    opencpo_cost_lines: priced.lines,
    opencpo_total_minor: priced.total,
  };
}

export function rowToCdr(r: Database['cdrs'] extends infer T ? Record<keyof T, any> : never): CdrRecord {
  return {
    id: r.id,
    transactionId: r.transaction_id,
    credit: r.credit,
    creditReferenceId: r.credit_reference_id,
    accountId: r.account_id,
    idToken: r.id_token,
    stationId: r.station_id,
    evseId: r.evse_id,
    connectorId: r.connector_id,
    locationId: r.location_id,
    tariffId: r.tariff_id,
    tariffVersion: r.tariff_version,
    currency: r.currency,
    startDateTime: r.start_date_time,
    endDateTime: r.end_date_time,
    totalEnergyKwh: String(r.total_energy_kwh),
    totalTimeH: String(r.total_time_h),
    totalParkingTimeH: String(r.total_parking_time_h),
    totalExclVat: Number(r.total_excl_vat),
    totalVat: Number(r.total_vat),
    totalInclVat: Number(r.total_incl_vat),
    body: r.body,
    invoiceId: r.invoice_id,
    createdAt: r.created_at,
  };
}

export async function getCdr(db: Kysely<Database>, id: string): Promise<CdrRecord | undefined> {
  const row = await db.selectFrom('cdrs').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? rowToCdr(row) : undefined;
}

/** A CDR has one credit at most: a second (or a concurrent one) is refused. */
export class CdrAlreadyCreditedError extends Error {
  constructor(
    readonly cdrId: string,
    readonly creditId: string,
  ) {
    super(`CDR ${cdrId} was already credited by ${creditId}`);
    this.name = 'CdrAlreadyCreditedError';
  }
}

/**
 * The CDR that stands for a session now: its latest CDR that is neither a credit nor credited (a session's first
 * CDR has the session's id; one re-issued after a correction `<session>-R<n>`).
 */
export async function currentCdr(db: Kysely<Database>, transactionId: string): Promise<CdrRecord | undefined> {
  const row = await db
    .selectFrom('cdrs as c')
    .selectAll('c')
    .where('c.transaction_id', '=', transactionId)
    .where('c.credit', '=', false)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('cdrs as cr').select('cr.id').whereRef('cr.credit_reference_id', '=', 'c.id'))),
    )
    .orderBy('c.created_at', 'desc')
    .orderBy('c.id', 'desc')
    .executeTakeFirst();
  return row ? rowToCdr(row) : undefined;
}

/** The id of a session's next re-issued CDR: `<session>-R<n>`, n counting the CDRs issued for it before. */
export async function reissuedCdrId(db: Kysely<Database>, transactionId: string): Promise<string> {
  const { issued } = await db
    .selectFrom('cdrs')
    .select((eb) => eb.fn.countAll<string>().as('issued'))
    .where('transaction_id', '=', transactionId)
    .where('credit', '=', false)
    .executeTakeFirstOrThrow();
  return `${transactionId}-R${Number(issued)}`;
}

/**
 * A credit's id: `<cdr>-CR`; for a re-issued `<session>-R<n>`, `<session>-C<n>` (OCPI ids have at most 39
 * characters, and a session id has 36). Derived from the original's, so the primary key allows one credit per CDR.
 */
export function creditIdOf(cdrId: string): string {
  const reissued = /^(.+)-R(\d+)$/.exec(cdrId);
  return reissued ? `${reissued[1]}-C${reissued[2]}` : `${cdrId.slice(0, 36)}-CR`;
}

/**
 * Issues a credit CDR for a CDR: new id, credit = true, credit_reference_id, every amount negated. The original
 * stays as it was. Only one credit per CDR (CdrAlreadyCreditedError otherwise, also when two race).
 */
export async function creditCdr(db: Kysely<Database>, originalId: string, reason: string): Promise<CdrRecord> {
  const original = await getCdr(db, originalId);
  if (!original) throw new Error(`CDR ${originalId} not found`);
  if (original.credit) throw new Error(`CDR ${originalId} is itself a credit`);
  const id = creditIdOf(original.id);
  const negate = (p: unknown) =>
    p && typeof p === 'object'
      ? Object.fromEntries(Object.entries(p as Record<string, number>).map(([k, v]) => [k, -v]))
      : p;
  const b = original.body;
  const body = {
    ...b,
    id,
    credit: true,
    credit_reference_id: original.id,
    remark: reason,
    total_cost: negate(b.total_cost),
    total_fixed_cost: negate(b.total_fixed_cost),
    total_energy_cost: negate(b.total_energy_cost),
    total_time_cost: negate(b.total_time_cost),
    total_parking_cost: negate(b.total_parking_cost),
    opencpo_total_minor: negate(b.opencpo_total_minor),
    opencpo_cost_lines: ((b.opencpo_cost_lines as Record<string, unknown>[]) ?? []).map((l) => ({
      ...l,
      exclVat: -(l.exclVat as number),
      vat: -(l.vat as number),
      inclVat: -(l.inclVat as number),
    })),
    last_updated: new Date().toISOString(),
  };
  const inserted = await db
    .insertInto('cdrs')
    .values({
      id,
      transaction_id: original.transactionId,
      credit: true,
      credit_reference_id: original.id,
      account_id: original.accountId,
      id_token: original.idToken,
      station_id: original.stationId,
      evse_id: original.evseId,
      connector_id: original.connectorId,
      location_id: original.locationId,
      tariff_id: original.tariffId,
      tariff_version: original.tariffVersion,
      currency: original.currency,
      start_date_time: original.startDateTime,
      end_date_time: original.endDateTime,
      total_energy_kwh: original.totalEnergyKwh,
      total_time_h: original.totalTimeH,
      total_parking_time_h: original.totalParkingTimeH,
      total_excl_vat: -original.totalExclVat,
      total_vat: -original.totalVat,
      total_incl_vat: -original.totalInclVat,
      body: JSON.stringify(body),
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!inserted) throw new CdrAlreadyCreditedError(original.id, id);
  return rowToCdr(inserted);
}
