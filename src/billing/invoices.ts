// Monthly invoices per account and their gap-free numbering. An invoice gathers the account's CDRs (and credit
// CDRs) of one calendar month (UTC) that no invoice has billed yet. A month is invoiced once it has ended, by the
// clock the service is given; CDRs of that month heard of later (a session priced at catch-up, a credit CDR)
// go on a supplementary invoice of the same month, with the next number. Its number comes from a per-operator
// counter row incremented in the same database transaction as the invoice itself: if anything fails, both roll
// back, so numbers are sequential with no gaps and never reused.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { systemClock, type Clock } from '../time/clock.ts';
import { inTransaction, type Executor } from '../storage/transactions.ts';

/** Invoicing a month that has not ended yet: its CDRs are still arriving. */
export class InvoicePeriodOpenError extends Error {
  constructor(readonly periodEnd: Date) {
    super(`the month has not ended (it ends at ${periodEnd.toISOString()}); a month is invoiced once it is over`);
    this.name = 'InvoicePeriodOpenError';
  }
}

export interface InvoiceLine {
  cdrId: string;
  credit: boolean;
  date: string;
  stationId: string;
  energyKwh: string;
  exclVat: number;
  vat: number;
  inclVat: number;
}

export interface InvoiceBody {
  number: string;
  operatorId: string;
  accountId: string;
  accountName: string;
  currency: string;
  periodStart: string;
  periodEnd: string;
  /** A supplementary invoice's first invoice of the month (its number). */
  supplementTo?: string;
  issuedAt: string;
  lines: InvoiceLine[];
  /** VAT per rate across the invoice's cost lines, minor units. */
  vatByRate: { rate: string | null; exclVat: number; vat: number }[];
  total: { exclVat: number; vat: number; inclVat: number };
}

export interface InvoiceRecord {
  id: string;
  number: string;
  sequence: number;
  /** 0 for the month's invoice; 1, 2, ... for supplementary invoices of the same month. */
  supplement: number;
  accountId: string;
  currency: string;
  periodStart: Date;
  periodEnd: Date;
  totalExclVat: number;
  totalVat: number;
  totalInclVat: number;
  body: InvoiceBody;
  createdAt: Date;
}

export function invoiceNumber(operatorId: string, sequence: number): string {
  return `${operatorId.toUpperCase().slice(0, 12)}-${String(sequence).padStart(6, '0')}`;
}

function toRecord(r: Record<string, any>): InvoiceRecord {
  return {
    id: r.id,
    number: r.number,
    sequence: r.sequence,
    supplement: r.supplement,
    accountId: r.account_id,
    currency: r.currency,
    periodStart: r.period_start,
    periodEnd: r.period_end,
    totalExclVat: Number(r.total_excl_vat),
    totalVat: Number(r.total_vat),
    totalInclVat: Number(r.total_incl_vat),
    body: r.body,
    createdAt: r.created_at,
  };
}

export class InvoicesService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly operatorId: string,
    private clock: Clock = systemClock,
  ) {}

  useClock(clock: Clock): void {
    this.clock = clock;
  }

  /**
   * Issues the invoices of one ended month for an account, one per currency it charged in: the month's invoice,
   * or a supplementary one when the month was invoiced before. Returns the invoices issued (none when there is
   * nothing unbilled; no number is used up then). Throws InvoicePeriodOpenError for a month not over yet.
   */
  async issueMonthly(accountId: string, year: number, month: number, db: Executor = this.db): Promise<InvoiceRecord[]> {
    const periodStart = new Date(Date.UTC(year, month - 1, 1));
    const periodEnd = new Date(Date.UTC(year, month, 1));
    if (this.clock.now() < periodEnd.getTime()) throw new InvoicePeriodOpenError(periodEnd);
    const issued: InvoiceRecord[] = [];
    const account = await db.selectFrom('billing_accounts').selectAll().where('id', '=', accountId).executeTakeFirst();
    if (!account) throw new Error(`account ${accountId} not found`);
    const currencies = await db
      .selectFrom('cdrs')
      .select('currency')
      .distinct()
      .where('account_id', '=', accountId)
      .where('invoice_id', 'is', null)
      .where('end_date_time', '>=', periodStart)
      .where('end_date_time', '<', periodEnd)
      .execute();
    for (const { currency } of currencies) {
      const invoice = await inTransaction(db, async (trx) => {
        // One invoicing of an account at a time: two could otherwise pick the same supplement number.
        await trx.selectFrom('billing_accounts').select('id').where('id', '=', accountId).forUpdate().execute();
        const cdrs = await trx
          .selectFrom('cdrs')
          .selectAll()
          .where('account_id', '=', accountId)
          .where('currency', '=', currency)
          .where('invoice_id', 'is', null)
          .where('end_date_time', '>=', periodStart)
          .where('end_date_time', '<', periodEnd)
          .orderBy('end_date_time')
          .orderBy('id')
          .forUpdate()
          .execute();
        if (cdrs.length === 0) return undefined;
        const earlier = await trx
          .selectFrom('invoices')
          .select(['number', 'supplement'])
          .where('account_id', '=', accountId)
          .where('period_start', '=', periodStart)
          .where('currency', '=', currency)
          .orderBy('supplement')
          .execute();
        const supplement = earlier.length ? earlier[earlier.length - 1]!.supplement + 1 : 0;
        const counter = await trx
          .insertInto('invoice_counters')
          .values({ operator_id: this.operatorId, last_number: 1 })
          .onConflict((oc) =>
            oc.column('operator_id').doUpdateSet({ last_number: sql`invoice_counters.last_number + 1` }),
          )
          .returning('last_number')
          .executeTakeFirstOrThrow();
        const sequence = counter.last_number;
        const number = invoiceNumber(this.operatorId, sequence);
        const lines: InvoiceLine[] = cdrs.map((c) => ({
          cdrId: c.id,
          credit: c.credit,
          date: c.end_date_time.toISOString(),
          stationId: c.station_id,
          energyKwh: String(c.total_energy_kwh),
          exclVat: Number(c.total_excl_vat),
          vat: Number(c.total_vat),
          inclVat: Number(c.total_incl_vat),
        }));
        const byRate = new Map<string, { rate: string | null; exclVat: number; vat: number }>();
        for (const c of cdrs) {
          for (const l of ((c.body as Record<string, unknown>).opencpo_cost_lines ?? []) as {
            vatRate: string | null;
            exclVat: number;
            vat: number;
          }[]) {
            const key = l.vatRate ?? 'none';
            const r = byRate.get(key) ?? { rate: l.vatRate, exclVat: 0, vat: 0 };
            r.exclVat += l.exclVat;
            r.vat += l.vat;
            byRate.set(key, r);
          }
        }
        const total = lines.reduce(
          (t, l) => ({ exclVat: t.exclVat + l.exclVat, vat: t.vat + l.vat, inclVat: t.inclVat + l.inclVat }),
          { exclVat: 0, vat: 0, inclVat: 0 },
        );
        const id = randomUUID();
        const body: InvoiceBody = {
          number,
          operatorId: this.operatorId,
          accountId,
          accountName: account.name,
          currency,
          periodStart: periodStart.toISOString(),
          periodEnd: periodEnd.toISOString(),
          ...(earlier[0] ? { supplementTo: earlier[0].number } : {}),
          issuedAt: new Date(this.clock.now()).toISOString(),
          lines,
          vatByRate: [...byRate.values()],
          total,
        };
        await trx
          .insertInto('invoices')
          .values({
            id,
            operator_id: this.operatorId,
            number,
            sequence,
            account_id: accountId,
            supplement,
            period_start: periodStart,
            period_end: periodEnd,
            currency,
            total_excl_vat: total.exclVat,
            total_vat: total.vat,
            total_incl_vat: total.inclVat,
            body: JSON.stringify(body),
          })
          .execute();
        await trx
          .updateTable('cdrs')
          .set({ invoice_id: id })
          .where(
            'id',
            'in',
            cdrs.map((c) => c.id),
          )
          .execute();
        return id;
      });
      if (invoice) issued.push((await this.get(invoice, db))!);
    }
    return issued;
  }

  async get(id: string, db: Executor = this.db): Promise<InvoiceRecord | undefined> {
    const row = await db.selectFrom('invoices').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  async list(accountId: string | undefined, limit: number, offset: number) {
    let q = this.db.selectFrom('invoices');
    if (accountId) q = q.where('account_id', '=', accountId);
    const [rows, total] = await Promise.all([
      q.selectAll().orderBy('sequence', 'desc').limit(limit).offset(offset).execute(),
      q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(toRecord), total: Number(total.n) };
  }
}
