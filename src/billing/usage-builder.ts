// Reads what a session consumed from the sessions and stations tables: the energy register, power and current
// samples, the connector's status timeline turned into charging / idle, and the signed meter values.
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import type { SessionUsage, UsageState } from './usage.ts';
import type { LocationInfo } from './locations.ts';
import { PreparedQuery } from '../storage/prepared.ts';

const ENERGY_REGISTER = 'Energy.Active.Import.Register';

/**
 * Charging or idle, from a connector status. Idle means connected but not charging: suspended by the EV or the
 * EVSE, finishing, and preparing once charging has begun (before the first charging status, preparing is the
 * start of the session and counts as charging time). Any other status during a session counts as charging time.
 */
export function stateOf(status: string, hasCharged: boolean): UsageState {
  if (status === 'suspended_ev' || status === 'suspended_evse' || status === 'finishing') return 'idle';
  if (status === 'preparing') return hasCharged ? 'idle' : 'charging';
  return 'charging';
}

export interface SignedValue {
  nature: string;
  plain_data: string;
  signed_data: string;
  /** From OCPP 2.0.1 signedMeterValue (encodingMethod, publicKey); 1.6 sends the blob alone. */
  encoding_method?: string;
  public_key?: string;
}

/** A stored signed reading: 2.0.1's signedMeterValue object as JSON, or 1.6's raw blob (e.g. an OCMF string). */
function signedValueOf(raw: string, nature: string, value: number): SignedValue {
  try {
    const v = JSON.parse(raw) as { signedMeterData?: string; encodingMethod?: string; publicKey?: string };
    if (v && typeof v.signedMeterData === 'string') {
      return {
        nature,
        plain_data: Number.isNaN(value) ? '' : String(value),
        signed_data: v.signedMeterData,
        ...(v.encodingMethod ? { encoding_method: v.encodingMethod } : {}),
        ...(v.publicKey ? { public_key: v.publicKey } : {}),
      };
    }
  } catch {
    // not JSON: a raw blob
  }
  return {
    nature,
    plain_data: Number.isNaN(value) ? '' : String(value),
    signed_data: raw,
    ...(raw.startsWith('OCMF|') ? { encoding_method: 'OCMF' } : {}),
  };
}

export interface TransactionRow {
  id: string;
  station_id: string;
  evse_id: number;
  connector_id: number;
  id_token: string | null;
  id_token_type: string | null;
  auth_status: string | null;
  remote_start_id: number | null;
  started_at: Date | null;
  stopped_at: Date | null;
  energy_wh: number | null;
  /** The first and last register readings in the order the charger sent them (the session's energy is between). */
  meter_start_wh: number | null;
  meter_stop_wh: number | null;
  stop_reason: string | null;
  status: string;
  /** Every event up to the end is in (see sessions/event-statements.ts). */
  events_complete: boolean;
  /** Named by a transaction id OpenCPO never issued. */
  id_unknown: boolean;
}

const TRANSACTION_COLUMNS = [
  't.id',
  't.station_id',
  't.evse_id',
  't.connector_id',
  't.id_token',
  't.id_token_type',
  't.auth_status',
  't.remote_start_id',
  't.started_at',
  't.stopped_at',
  't.energy_wh',
  't.meter_start_wh',
  't.meter_stop_wh',
  't.stop_reason',
  't.status',
  't.events_complete',
  't.id_unknown',
] as const;

export async function loadTransaction(db: Kysely<Database>, id: string): Promise<TransactionRow | undefined> {
  return db.selectFrom('transactions as t').select(TRANSACTION_COLUMNS).where('t.id', '=', id).executeTakeFirst();
}

/** What billing needs to know about a session when it starts or ends, read in one round trip. */
export interface SessionContext {
  tx: TransactionRow;
  /** The session's CDR (same id) is already stored. */
  hasCdr: boolean;
  /** Where the station stands now. */
  location: LocationInfo | undefined;
  /** The account the session's token is linked to now. */
  account: { id: string; customerGroup: string } | undefined;
}

/** The transaction with its station's location, its token's account and whether its CDR exists (run per session). */
const sessionContextQuery = new PreparedQuery((db, args: { id: string }) =>
  db
    .selectFrom('transactions as t')
    .leftJoin('cdrs as c', 'c.id', 't.id')
    .leftJoin('station_assets as sa', 'sa.station_id', 't.station_id')
    .leftJoin('locations as l', 'l.id', 'sa.location_id')
    .leftJoin('billing_account_tokens as bt', 'bt.id_token', 't.id_token')
    .leftJoin('billing_accounts as ba', 'ba.id', 'bt.account_id')
    .select([
      ...TRANSACTION_COLUMNS,
      'c.id as cdr_id',
      'l.id as location_id',
      'l.name as location_name',
      'l.address as location_address',
      'l.city as location_city',
      'l.postal_code as location_postal_code',
      'l.country as location_country',
      'l.latitude as location_latitude',
      'l.longitude as location_longitude',
      'l.time_zone as location_time_zone',
      'l.organisation_id as location_organisation_id',
      'ba.id as account_id',
      'ba.customer_group as account_customer_group',
    ])
    .where('t.id', '=', args.id),
);

export async function loadSessionContext(db: Kysely<Database>, id: string): Promise<SessionContext | undefined> {
  const row = await sessionContextQuery.executeTakeFirst(db, { id });
  if (!row) return undefined;
  const {
    cdr_id,
    location_id,
    location_name,
    location_address,
    location_city,
    location_postal_code,
    location_country,
    location_latitude,
    location_longitude,
    location_time_zone,
    location_organisation_id,
    account_id,
    account_customer_group,
    ...tx
  } = row;
  return {
    tx,
    hasCdr: cdr_id !== null,
    location:
      location_id === null
        ? undefined
        : {
            id: location_id,
            name: location_name!,
            address: location_address!,
            city: location_city!,
            postalCode: location_postal_code,
            country: location_country!,
            latitude: location_latitude,
            longitude: location_longitude,
            timeZone: location_time_zone!,
            organisationId: location_organisation_id!,
          },
    account: account_id === null ? undefined : { id: account_id, customerGroup: account_customer_group! },
  };
}

/**
 * The session's energy is the transaction's: from its first to its last register reading in the order the charger
 * sent them (meter start and stop), whatever the readings' timestamps say. Those two become the curve's ends, at
 * the session's start and end; every other reading only shapes the curve between them (when the energy flowed),
 * held inside the session and between the two values. A reading stamped outside the session (a clock that jumped)
 * can then neither add energy nor take it away, and the CDR says what the transaction says.
 */
function anchorEnergy(energy: SessionUsage['energy'], tx: TransactionRow, startedAt: Date, until: Date): void {
  const from = tx.meter_start_wh;
  const to = tx.meter_stop_wh;
  if (from === null || to === null) return;
  const end = until < startedAt ? startedAt : until;
  const top = Math.max(from, to);
  for (const r of energy) {
    r.at = r.at < startedAt ? startedAt : r.at > end ? end : r.at;
    r.wh = Math.min(Math.max(r.wh, from), top);
  }
  energy.unshift({ at: startedAt, wh: from });
  energy.push({ at: end, wh: to < from ? from : to });
}

export async function loadUsage(
  db: Kysely<Database>,
  tx: TransactionRow,
  until: Date,
  timeZone: string,
): Promise<{ usage: SessionUsage; signed: SignedValue[] }> {
  const startedAt = tx.started_at ?? until;
  const samples = await db
    .selectFrom('meter_samples')
    .select(['sampled_at', 'measurand', 'phase', 'location', 'value', 'context', 'signed_data'])
    .where('transaction_id', '=', tx.id)
    .orderBy('sampled_at')
    .orderBy('id')
    .execute();
  const energy: SessionUsage['energy'] = [];
  const power: NonNullable<SessionUsage['power']> = [];
  const currentByTime = new Map<number, { total: number; phaseless?: number }>();
  const signed: SignedValue[] = [];
  for (const s of samples) {
    const outlet = s.location === null || s.location === 'Outlet';
    if (s.signed_data) {
      const nature =
        s.context === 'Transaction.Begin' ? 'Start' : s.context === 'Transaction.End' ? 'End' : 'Intermediate';
      signed.push(signedValueOf(s.signed_data, nature, s.value));
    }
    if (!outlet || Number.isNaN(s.value)) continue;
    if (s.measurand === ENERGY_REGISTER && s.phase === null) energy.push({ at: s.sampled_at, wh: s.value });
    else if (s.measurand === 'Power.Active.Import' && s.phase === null) power.push({ at: s.sampled_at, w: s.value });
    else if (s.measurand === 'Current.Import') {
      // Restrictions use the current summed over phases; a phase-less value already is that sum.
      const t = s.sampled_at.getTime();
      const c = currentByTime.get(t) ?? { total: 0 };
      if (s.phase === null) c.phaseless = s.value;
      else if (/^L[123]$/.test(s.phase)) c.total += s.value;
      currentByTime.set(t, c);
    }
  }
  const current = [...currentByTime.entries()].map(([t, c]) => ({ at: new Date(t), a: c.phaseless ?? c.total }));
  anchorEnergy(energy, tx, startedAt, until);

  // The status in force at the start, then every change during the session: a bounded read, however long the
  // connector's history (the port index serves both halves).
  const port = db
    .selectFrom('connector_status')
    .select(['status', 'occurred_at'])
    .where('station_id', '=', tx.station_id)
    .where('evse_id', '=', tx.evse_id)
    .where('connector_id', '=', tx.connector_id);
  const [atStart, during] = await Promise.all([
    port
      .where('occurred_at', '<=', startedAt < until ? startedAt : until)
      .orderBy('occurred_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .execute(),
    port
      .where('occurred_at', '>', startedAt)
      .where('occurred_at', '<=', until)
      .orderBy('occurred_at')
      .orderBy('id')
      .execute(),
  ]);
  const relevant = [...atStart, ...during];
  let hasCharged = false;
  const states: SessionUsage['states'] = [];
  for (const s of relevant) {
    const state = stateOf(s.status, hasCharged);
    if (s.status === 'charging') hasCharged = true;
    states.push({ at: s.occurred_at < startedAt ? startedAt : s.occurred_at, state });
  }
  return {
    usage: { startedAt, endedAt: until, timeZone, energy, power, current, states },
    signed,
  };
}
