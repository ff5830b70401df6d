// Billing over HTTP (issue 4): tariffs (versioned; an edit is a new version) and where they apply, CDRs with
// their PDF receipt and credit notes, customer accounts with tokens and wallet top-ups, monthly invoices (JSON and
// PDF), failed sessions and settlement reports. The domain lives in src/billing; this file only maps HTTP to it.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TProperties } from '@sinclair/typebox';
import { sql } from 'kysely';
import { ApiError, notFound } from './errors.ts';
import { authorize, principalOf } from './auth.ts';
import { audited } from './audit.ts';
import { IdempotencyHeaders, idempotent } from './idempotency.ts';
import { canSee, visibleStations } from './scope.ts';
import {
  DateTime,
  Email,
  IdTokenValue,
  Nullable,
  Page,
  PageQuery,
  StationId,
  Text,
  errorResponses,
} from './schemas.ts';
import { withinScope } from './common.ts';
import type { Role } from '../access/tables.ts';
import type { Executor } from '../storage/transactions.ts';
import type { BillingService, CostSoFar } from '../billing/service.ts';
import { TariffNotFoundError, type TariffRecord } from '../billing/tariff-store.ts';
import { MAX_PRICE, TariffValidationError, type TariffBody } from '../billing/tariff.ts';
import { AccountValidationError, type Account } from '../billing/accounts.ts';
import { CdrAlreadyCreditedError, type CdrRecord } from '../billing/cdrs.ts';
import { InvoicePeriodOpenError, type InvoiceRecord } from '../billing/invoices.ts';
import { invoicePdf, receiptPdf } from '../billing/pdf.ts';
import { formatMinor, parseMajor } from '../billing/money.ts';

const READERS: Role[] = ['admin', 'operator', 'site_host', 'read_only'];
/** Customer data (accounts, invoices) is not for site hosts. */
const CUSTOMER_READERS: Role[] = ['admin', 'operator', 'read_only'];
const WRITERS: Role[] = ['admin', 'operator'];

const obj = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });
const Id = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' });
/** A price in major units, up to the tariff maximum (a longer decimal string is refused by the tariff's rules). */
const Decimal = Type.Union(
  [Type.Number({ minimum: 0, maximum: MAX_PRICE }), Type.String({ pattern: '^\\d{1,12}(\\.\\d{1,6})?$' })],
  { description: `0 to ${MAX_PRICE}` },
);
const Hhmm = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' });
const Day = Type.Union(
  ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY'].map((d) => Type.Literal(d)),
);
const Ymd = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' });
const NonNeg = Type.Number({ minimum: 0 });
/** A PDF file (sent as bytes; documented as a binary string). */
const PdfSchema = Type.Unsafe<Buffer>({ type: 'string', format: 'binary' });

/** OCPI 2.2.1 Tariff (the parts that price a session). */
export const TariffBodySchema = obj({
  currency: Type.String({ pattern: '^[A-Z]{3}$' }),
  type: Type.Optional(
    Type.Union(
      ['AD_HOC_PAYMENT', 'PROFILE_CHEAP', 'PROFILE_FAST', 'PROFILE_GREEN', 'REGULAR'].map((t) => Type.Literal(t)),
    ),
  ),
  tariff_alt_text: Type.Optional(
    Type.Array(obj({ language: Type.String({ pattern: '^[a-z]{2}$' }), text: Text(512) }), { maxItems: 20 }),
  ),
  min_price: Type.Optional(obj({ excl_vat: Decimal, incl_vat: Type.Optional(Decimal) })),
  max_price: Type.Optional(obj({ excl_vat: Decimal, incl_vat: Type.Optional(Decimal) })),
  start_date_time: Type.Optional(DateTime),
  end_date_time: Type.Optional(DateTime),
  elements: Type.Array(
    obj({
      price_components: Type.Array(
        obj({
          type: Type.Union(['ENERGY', 'TIME', 'PARKING_TIME', 'FLAT'].map((t) => Type.Literal(t))),
          price: Decimal,
          vat: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
          step_size: Type.Integer({ minimum: 0, maximum: 86_400 }),
        }),
        { minItems: 1, maxItems: 8 },
      ),
      restrictions: Type.Optional(
        obj({
          start_time: Type.Optional(Hhmm),
          end_time: Type.Optional(Hhmm),
          start_date: Type.Optional(Ymd),
          end_date: Type.Optional(Ymd),
          min_kwh: Type.Optional(NonNeg),
          max_kwh: Type.Optional(NonNeg),
          min_current: Type.Optional(NonNeg),
          max_current: Type.Optional(NonNeg),
          min_power: Type.Optional(NonNeg),
          max_power: Type.Optional(NonNeg),
          min_duration: Type.Optional(Type.Integer({ minimum: 0 })),
          max_duration: Type.Optional(Type.Integer({ minimum: 0 })),
          day_of_week: Type.Optional(Type.Array(Day, { minItems: 1, maxItems: 7 })),
          reservation: Type.Optional(Type.Union([Type.Literal('RESERVATION'), Type.Literal('RESERVATION_EXPIRES')])),
        }),
      ),
    }),
    { minItems: 1, maxItems: 50 },
  ),
});

const TariffSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  version: Type.Integer(),
  tariff: Type.Unknown(),
  retiredAt: Nullable(DateTime),
  createdAt: DateTime,
  updatedAt: DateTime,
});
const AssignmentSchema = Type.Object({
  id: Type.String(),
  tariffId: Type.String(),
  locationId: Nullable(Type.String()),
  stationId: Nullable(Type.String()),
  evseId: Nullable(Type.Integer()),
  customerGroup: Nullable(Type.String()),
});
const CustomerGroup = Type.String({ pattern: '^(ad_hoc|members|partner:[A-Za-z0-9_-]{1,40})$' });
const MoneySchema = Type.Object({ exclVat: Type.String(), vat: Type.String(), inclVat: Type.String() });
const CdrSchema = Type.Object({
  id: Type.String(),
  transactionId: Type.String(),
  credit: Type.Boolean(),
  creditReferenceId: Nullable(Type.String()),
  accountId: Nullable(Type.String()),
  idToken: Nullable(Type.String()),
  stationId: Type.String(),
  evseId: Type.Integer(),
  connectorId: Type.Integer(),
  locationId: Nullable(Type.String()),
  tariffId: Nullable(Type.String()),
  tariffVersion: Nullable(Type.Integer()),
  currency: Type.String(),
  startDateTime: DateTime,
  endDateTime: DateTime,
  totalEnergyKwh: Type.String(),
  totalTimeH: Type.String(),
  totalParkingTimeH: Type.String(),
  total: MoneySchema,
  invoiceId: Nullable(Type.String()),
  ocpi: Type.Unknown({ description: 'the CDR as OCPI 2.2.1 describes it, with opencpo_cost_lines' }),
});
const AccountSchema = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  name: Type.String(),
  email: Nullable(Type.String()),
  customerGroup: Type.String(),
  currency: Type.String(),
  paymentMethod: Type.String(),
  tokens: Type.Array(Type.String()),
  walletBalance: Type.String(),
});
const InvoiceSchema = Type.Object({
  id: Type.String(),
  number: Type.String(),
  supplement: Type.Integer({ description: '0: the month’s invoice; 1, 2, ...: supplementary invoices of that month' }),
  accountId: Type.String(),
  currency: Type.String(),
  periodStart: DateTime,
  periodEnd: DateTime,
  total: MoneySchema,
  body: Type.Unknown(),
  createdAt: DateTime,
});
/** A running session's cost so far; also served on the transaction itself. */
export const CostSoFarSchema = Type.Object({
  tariffId: Type.String(),
  tariffVersion: Type.Integer(),
  currency: Type.String(),
  exclVat: Type.String(),
  inclVat: Type.String(),
  energyKwh: Type.String(),
  asOf: DateTime,
});

const money = (excl: number, vat: number, incl: number, currency: string) => ({
  exclVat: formatMinor(excl, currency),
  vat: formatMinor(vat, currency),
  inclVat: formatMinor(incl, currency),
});
const tariffOut = (t: TariffRecord) => ({
  id: t.id,
  name: t.name,
  version: t.version,
  tariff: t.body,
  retiredAt: t.retiredAt ? t.retiredAt.toISOString() : null,
  createdAt: t.createdAt.toISOString(),
  updatedAt: t.updatedAt.toISOString(),
});
const cdrOut = (c: CdrRecord) => ({
  id: c.id,
  transactionId: c.transactionId,
  credit: c.credit,
  creditReferenceId: c.creditReferenceId,
  accountId: c.accountId,
  idToken: c.idToken,
  stationId: c.stationId,
  evseId: c.evseId,
  connectorId: c.connectorId,
  locationId: c.locationId,
  tariffId: c.tariffId,
  tariffVersion: c.tariffVersion,
  currency: c.currency,
  startDateTime: c.startDateTime.toISOString(),
  endDateTime: c.endDateTime.toISOString(),
  totalEnergyKwh: c.totalEnergyKwh,
  totalTimeH: c.totalTimeH,
  totalParkingTimeH: c.totalParkingTimeH,
  total: money(c.totalExclVat, c.totalVat, c.totalInclVat, c.currency),
  invoiceId: c.invoiceId,
  ocpi: c.body,
});
const invoiceOut = (i: InvoiceRecord) => ({
  id: i.id,
  number: i.number,
  supplement: i.supplement,
  accountId: i.accountId,
  currency: i.currency,
  periodStart: i.periodStart.toISOString(),
  periodEnd: i.periodEnd.toISOString(),
  total: money(i.totalExclVat, i.totalVat, i.totalInclVat, i.currency),
  body: i.body,
  createdAt: i.createdAt.toISOString(),
});
export const costOut = (c: CostSoFar) => ({
  tariffId: c.tariffId,
  tariffVersion: c.tariffVersion,
  currency: c.currency,
  exclVat: c.exclVat,
  inclVat: c.inclVat,
  energyKwh: c.energyKwh,
  asOf: c.asOf,
});

/** Domain validation errors as the API's 400, naming the field the way request validation does (body.a.0.b). */
function domainError(prefix: string) {
  return (err: unknown): never => {
    if (err instanceof TariffValidationError || err instanceof AccountValidationError) {
      const field = `${prefix}.${err.field.replace(/\[(\d+)\]/g, '.$1')}`;
      const problem = err.message.slice(err.field.length + 2);
      throw new ApiError(400, 'validation_failed', `${field} ${problem}`, [{ field, problem }]);
    }
    if (err instanceof TariffNotFoundError) throw notFound('tariff');
    throw err;
  };
}

export interface BillingRoutesDeps {
  billing: BillingService;
}

export function registerBillingRoutes(root: FastifyInstance, deps: BillingRoutesDeps): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { billing } = deps;
  const db = root.api.db;
  // The transaction route shows a session's cost so far through this hook (see src/api/transactions.ts).
  root.decorate('transactionCost', async (transactionId: string) => {
    const cost = await billing.costSoFar(transactionId);
    return cost ? costOut(cost) : null;
  });

  const accountOut = async (a: Account, trx?: Executor) => ({
    id: a.id,
    kind: a.kind,
    name: a.name,
    email: a.email,
    customerGroup: a.customerGroup,
    currency: a.currency,
    paymentMethod: a.paymentMethod,
    tokens: a.tokens,
    walletBalance: formatMinor(await billing.wallet.balance(a, trx), a.currency),
  });

  // ---- tariffs
  app.get(
    '/api/v1/tariffs',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['billing'],
        summary: 'List tariffs (current versions)',
        querystring: obj(PageQuery),
        response: { 200: Page(TariffSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const { items, total } = await billing.tariffs.list(req.query.limit, req.query.offset);
      return { items: items.map(tariffOut), total, limit: req.query.limit, offset: req.query.offset };
    },
  );

  app.post(
    '/api/v1/tariffs',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['billing'],
        summary: 'Create a tariff (OCPI 2.2.1 Tariff body)',
        body: obj({ name: Text(200), tariff: TariffBodySchema }),
        response: { 201: TariffSchema, ...errorResponses() },
      },
    },
    async (req, reply) => {
      const created = await audited(
        req,
        (trx) =>
          billing.tariffs.create(req.body.name, req.body.tariff as TariffBody, principalOf(req).name, undefined, trx),
        (c) => ({ action: 'tariff.create', target: c.id, outcome: 'success', details: req.body }),
      ).catch(domainError('body.tariff'));
      return reply.code(201).send(tariffOut(created));
    },
  );

  app.get(
    '/api/v1/tariffs/:tariffId',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['billing'],
        summary: 'One tariff: the current version, or ?version=n',
        params: obj({ tariffId: Id }),
        querystring: obj({ version: Type.Optional(Type.Integer({ minimum: 1 })) }),
        response: { 200: TariffSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      const t = await billing.tariffs.get(req.params.tariffId, req.query.version);
      if (!t) throw notFound(`tariff ${req.params.tariffId}`);
      return tariffOut(t);
    },
  );

  app.put(
    '/api/v1/tariffs/:tariffId',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['billing'],
        summary: 'Edit a tariff: stores a new version; sessions already started keep the version they pinned',
        params: obj({ tariffId: Id }),
        body: obj({ name: Type.Optional(Text(200)), tariff: Type.Optional(TariffBodySchema) }),
        response: { 200: TariffSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      const updated = await audited(
        req,
        (trx) =>
          billing.tariffs.update(
            req.params.tariffId,
            { name: req.body.name, body: req.body.tariff as TariffBody | undefined },
            principalOf(req).name,
            trx,
          ),
        (u) => ({ action: 'tariff.update', target: u.id, outcome: 'success', details: req.body }),
      ).catch(domainError('body.tariff'));
      return tariffOut(updated);
    },
  );

  app.delete(
    '/api/v1/tariffs/:tariffId',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['billing'],
        summary: 'Retire a tariff (no new sessions; its versions stay for existing CDRs)',
        params: obj({ tariffId: Id }),
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      await audited(req, (trx) => billing.tariffs.retire(req.params.tariffId, trx), {
        action: 'tariff.retire',
        target: req.params.tariffId,
        outcome: 'success',
      }).catch(domainError('params'));
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/v1/tariffs/:tariffId/assignments',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['billing'],
        summary: 'Where a tariff applies (a site host: at its own locations and stations, and everywhere)',
        params: obj({ tariffId: Id }),
        response: { 200: Type.Array(AssignmentSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const assignments = await billing.tariffs.assignments(req.params.tariffId);
      const principal = principalOf(req);
      if (principal.role !== 'site_host') return assignments;
      // Another organisation's station and location ids are not for a site host to learn.
      const stations = await visibleStations(principal);
      const locations = await db
        .selectFrom('locations')
        .select('id')
        .where('organisation_id', '=', principal.organisationId ?? '')
        .execute();
      const ownLocations = new Set(locations.map((l) => l.id));
      return assignments.filter((a) =>
        a.stationId !== null ? canSee(stations, a.stationId) : a.locationId === null || ownLocations.has(a.locationId),
      );
    },
  );

  app.post(
    '/api/v1/tariffs/:tariffId/assignments',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['billing'],
        summary:
          'Apply a tariff to an EVSE, a station, a location or everywhere, optionally for one customer group. ' +
          'Precedence: EVSE > station > location > everywhere; at each scope a customer-group match beats everyone.',
        params: obj({ tariffId: Id }),
        body: obj({
          locationId: Type.Optional(Id),
          stationId: Type.Optional(StationId),
          evseId: Type.Optional(Type.Integer({ minimum: 1 })),
          customerGroup: Type.Optional(CustomerGroup),
        }),
        response: { 201: AssignmentSchema, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      if (req.body.evseId !== undefined && !req.body.stationId)
        throw new ApiError(400, 'validation_failed', 'body.stationId is required with evseId', [
          { field: 'body.stationId', problem: 'is required with evseId' },
        ]);
      const a = await audited(
        req,
        (trx) => billing.tariffs.assign({ tariffId: req.params.tariffId, ...req.body }, trx),
        (a) => ({ action: 'tariff.assign', target: req.params.tariffId, outcome: 'success', details: { ...a } }),
      ).catch(domainError('body'));
      return reply.code(201).send(a);
    },
  );

  app.delete(
    '/api/v1/tariff-assignments/:assignmentId',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['billing'],
        summary: 'Remove a tariff assignment',
        params: obj({ assignmentId: Type.String({ pattern: '^\\d{1,18}$' }) }),
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      await audited(
        req,
        async (trx) => {
          if (!(await billing.tariffs.unassign(req.params.assignmentId, trx))) throw notFound('assignment');
        },
        { action: 'tariff.unassign', target: req.params.assignmentId, outcome: 'success' },
      );
      return reply.code(204).send(null);
    },
  );

  // ---- CDRs
  app.get(
    '/api/v1/cdrs',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['billing'],
        summary: 'Charge detail records, newest first',
        querystring: obj({
          ...PageQuery,
          stationId: Type.Optional(StationId),
          accountId: Type.Optional(Id),
          from: Type.Optional(DateTime),
          to: Type.Optional(DateTime),
        }),
        response: { 200: Page(CdrSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const q = req.query;
      let query = withinScope(db.selectFrom('cdrs'), 'station_id', await visibleStations(principalOf(req)));
      if (q.stationId) query = query.where('station_id', '=', q.stationId);
      if (q.accountId) query = query.where('account_id', '=', q.accountId);
      if (q.from) query = query.where('end_date_time', '>=', new Date(q.from));
      if (q.to) query = query.where('end_date_time', '<', new Date(q.to));
      const [rows, total] = await Promise.all([
        query.select('id').orderBy('end_date_time', 'desc').orderBy('id').limit(q.limit).offset(q.offset).execute(),
        query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
      ]);
      const items = [];
      for (const r of rows) items.push(cdrOut((await billing.getCdr(r.id))!));
      return { items, total: Number(total.n), limit: q.limit, offset: q.offset };
    },
  );

  const visibleCdr = async (req: Parameters<typeof principalOf>[0], id: string) => {
    const cdr = await billing.getCdr(id);
    if (!cdr || !canSee(await visibleStations(principalOf(req)), cdr.stationId)) throw notFound(`CDR ${id}`);
    return cdr;
  };

  app.get(
    '/api/v1/cdrs/:cdrId',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['billing'],
        summary: 'One CDR with its OCPI body and cost lines',
        params: obj({ cdrId: Id }),
        response: { 200: CdrSchema, ...errorResponses(404) },
      },
    },
    async (req) => cdrOut(await visibleCdr(req, req.params.cdrId)),
  );

  app.get(
    '/api/v1/cdrs/:cdrId/receipt.pdf',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['billing'],
        summary: 'The session receipt as PDF',
        params: obj({ cdrId: Id }),
        produces: ['application/pdf'],
        response: { 200: PdfSchema, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      const pdf = await receiptPdf(await visibleCdr(req, req.params.cdrId));
      reply.header('content-type', 'application/pdf');
      reply.header('content-disposition', `inline; filename="receipt-${req.params.cdrId}.pdf"`);
      return reply.send(pdf);
    },
  );

  app.post(
    '/api/v1/cdrs/:cdrId/credit',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['billing'],
        summary: 'Correct a CDR: issues a credit CDR (negated amounts); the original is never edited',
        params: obj({ cdrId: Id }),
        body: obj({ reason: Text(255) }),
        response: { 201: CdrSchema, ...errorResponses(404, 409) },
      },
    },
    async (req, reply) => {
      const original = await visibleCdr(req, req.params.cdrId);
      if (original.credit) throw new ApiError(409, 'conflict', 'a credit CDR cannot be credited');
      const credit = await audited(req, (trx) => billing.credit(original.id, req.body.reason, trx), {
        action: 'cdr.credit',
        target: original.id,
        outcome: 'success',
        details: req.body,
      }).catch((err: unknown) => {
        if (err instanceof CdrAlreadyCreditedError) throw new ApiError(409, 'conflict', err.message);
        throw err;
      });
      return reply.code(201).send(cdrOut(credit));
    },
  );

  app.get(
    '/api/v1/transactions/:transactionId/cost',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['billing'],
        summary: 'A session’s cost so far, with the tariff version it pinned at its start',
        params: obj({ transactionId: Id }),
        response: { 200: CostSoFarSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      const tx = await db
        .selectFrom('transactions')
        .select('station_id')
        .where('id', '=', req.params.transactionId)
        .executeTakeFirst();
      if (!tx || !canSee(await visibleStations(principalOf(req)), tx.station_id))
        throw notFound(`transaction ${req.params.transactionId}`);
      const cost = await billing.costSoFar(req.params.transactionId);
      if (!cost) throw notFound(`a tariff for transaction ${req.params.transactionId}`);
      return costOut(cost);
    },
  );

  app.get(
    '/api/v1/failed-sessions',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['billing'],
        summary:
          'Sessions not billed, with the reason: under the minimum energy or duration, a refused token, an unknown transaction',
        querystring: obj({ ...PageQuery, stationId: Type.Optional(StationId) }),
        response: {
          200: Page(
            Type.Object({
              transactionId: Type.String(),
              stationId: Type.String(),
              evseId: Type.Integer(),
              connectorId: Type.Integer(),
              reason: Type.String(),
              energyWh: Type.Number(),
              durationS: Type.Number(),
              startedAt: DateTime,
              endedAt: DateTime,
              stopReason: Nullable(Type.String()),
            }),
          ),
          ...errorResponses(),
        },
      },
    },
    async (req) => {
      const q = req.query;
      let query = withinScope(db.selectFrom('failed_sessions'), 'station_id', await visibleStations(principalOf(req)));
      if (q.stationId) query = query.where('station_id', '=', q.stationId);
      const [rows, total] = await Promise.all([
        query.selectAll().orderBy('ended_at', 'desc').limit(q.limit).offset(q.offset).execute(),
        query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
      ]);
      return {
        items: rows.map((r) => ({
          transactionId: r.transaction_id,
          stationId: r.station_id,
          evseId: r.evse_id,
          connectorId: r.connector_id,
          reason: r.reason,
          energyWh: r.energy_wh,
          durationS: r.duration_s,
          startedAt: r.started_at.toISOString(),
          endedAt: r.ended_at.toISOString(),
          stopReason: r.stop_reason,
        })),
        total: Number(total.n),
        limit: q.limit,
        offset: q.offset,
      };
    },
  );

  // ---- accounts
  app.get(
    '/api/v1/accounts',
    {
      preHandler: authorize(...CUSTOMER_READERS),
      schema: {
        tags: ['billing'],
        summary: 'Customer accounts (drivers, fleets)',
        querystring: obj(PageQuery),
        response: { 200: Page(AccountSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const { items, total } = await billing.accounts.list(req.query.limit, req.query.offset);
      const out = [];
      for (const a of items) out.push(await accountOut(a));
      return { items: out, total, limit: req.query.limit, offset: req.query.offset };
    },
  );

  app.post(
    '/api/v1/accounts',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['billing'],
        summary: 'Create a customer account',
        body: obj({
          kind: Type.Union([Type.Literal('driver'), Type.Literal('fleet')]),
          name: Text(200),
          email: Type.Optional(Email),
          customerGroup: Type.Optional(CustomerGroup),
          currency: Type.String({ pattern: '^[A-Z]{3}$' }),
          paymentMethod: Type.Optional(
            Type.Union([Type.Literal('wallet'), Type.Literal('stripe'), Type.Literal('invoice')]),
          ),
          stripeCustomerId: Type.Optional(Type.String({ pattern: '^cus_[A-Za-z0-9]{1,64}$' })),
          stripePaymentMethodId: Type.Optional(Type.String({ pattern: '^pm_[A-Za-z0-9_]{1,64}$' })),
          tokens: Type.Optional(Type.Array(IdTokenValue, { maxItems: 100 })),
        }),
        response: { 201: AccountSchema, ...errorResponses() },
      },
    },
    async (req, reply) => {
      const { tokens, ...input } = req.body;
      const account = await audited(
        req,
        async (trx) => {
          const created = await billing.accounts.create(input, undefined, trx);
          for (const t of tokens ?? []) await billing.accounts.addToken(created.id, t, trx);
          return created;
        },
        (a) => ({ action: 'account.create', target: a.id, outcome: 'success', details: req.body }),
      ).catch(domainError('body'));
      return reply.code(201).send(await accountOut((await billing.accounts.get(account.id))!));
    },
  );

  const accountOr404 = async (id: string) => {
    const a = await billing.accounts.get(id);
    if (!a) throw notFound(`account ${id}`);
    return a;
  };

  app.get(
    '/api/v1/accounts/:accountId',
    {
      preHandler: authorize(...CUSTOMER_READERS),
      schema: {
        tags: ['billing'],
        summary: 'One account with its tokens and wallet balance',
        params: obj({ accountId: Id }),
        response: { 200: AccountSchema, ...errorResponses(404) },
      },
    },
    async (req) => accountOut(await accountOr404(req.params.accountId)),
  );

  app.post(
    '/api/v1/accounts/:accountId/tokens',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['billing'],
        summary: 'Link an id token to the account',
        params: obj({ accountId: Id }),
        body: obj({ idToken: IdTokenValue }),
        response: { 200: AccountSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      await accountOr404(req.params.accountId);
      await audited(req, (trx) => billing.accounts.addToken(req.params.accountId, req.body.idToken, trx), {
        action: 'account.token.add',
        target: req.params.accountId,
        outcome: 'success',
        details: req.body,
      });
      return accountOut(await accountOr404(req.params.accountId));
    },
  );

  app.delete(
    '/api/v1/accounts/:accountId/tokens/:idToken',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['billing'],
        summary: 'Unlink an id token from the account',
        params: obj({ accountId: Id, idToken: IdTokenValue }),
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      await audited(
        req,
        async (trx) => {
          if (!(await billing.accounts.removeToken(req.params.accountId, req.params.idToken, trx))) {
            throw notFound('token');
          }
        },
        { action: 'account.token.remove', target: req.params.accountId, outcome: 'success', details: req.params },
      );
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/v1/accounts/:accountId/wallet/top-ups',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['billing'],
        summary: 'Credit the prepaid wallet (a ledger journal from the external account) (Idempotency-Key)',
        params: obj({ accountId: Id }),
        headers: IdempotencyHeaders,
        body: obj({ amount: Type.String({ pattern: '^\\d{1,9}(\\.\\d{1,3})?$' }), reference: Text(200) }),
        response: { 200: AccountSchema, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      const account = await accountOr404(req.params.accountId);
      let minor: number;
      try {
        minor = parseMajor(req.body.amount, account.currency);
      } catch (err) {
        throw new ApiError(400, 'validation_failed', `body.amount ${(err as Error).message}`, [
          { field: 'body.amount', problem: (err as Error).message },
        ]);
      }
      if (minor <= 0)
        throw new ApiError(400, 'validation_failed', 'body.amount must be positive', [
          { field: 'body.amount', problem: 'must be positive' },
        ]);
      return idempotent(
        req,
        reply,
        200,
        async (trx) => {
          await billing.wallet.topUp(account, minor, req.body.reference, trx);
          return accountOut(account, trx);
        },
        { action: 'wallet.top_up', target: account.id, outcome: 'success', details: req.body },
      );
    },
  );

  // ---- invoices
  app.get(
    '/api/v1/invoices',
    {
      preHandler: authorize(...CUSTOMER_READERS),
      schema: {
        tags: ['billing'],
        summary: 'Invoices, newest number first',
        querystring: obj({ ...PageQuery, accountId: Type.Optional(Id) }),
        response: { 200: Page(InvoiceSchema), ...errorResponses() },
      },
    },
    async (req) => {
      const { items, total } = await billing.invoices.list(req.query.accountId, req.query.limit, req.query.offset);
      return { items: items.map(invoiceOut), total, limit: req.query.limit, offset: req.query.offset };
    },
  );

  app.post(
    '/api/v1/invoices',
    {
      preHandler: authorize(...WRITERS),
      schema: {
        tags: ['billing'],
        summary:
          'Issue the monthly invoice(s) of an account: its unbilled CDRs of that month, one per currency. A month is ' +
          'invoiced once it has ended (422 before); CDRs of an invoiced month heard of later (late sessions, ' +
          'credits) go on a supplementary invoice of that month.',
        body: obj({
          accountId: Id,
          year: Type.Integer({ minimum: 2000, maximum: 2999 }),
          month: Type.Integer({ minimum: 1, maximum: 12 }),
        }),
        response: { 201: Type.Array(InvoiceSchema), ...errorResponses(404, 422) },
      },
    },
    async (req, reply) => {
      await accountOr404(req.body.accountId);
      const issued = await audited(
        req,
        (trx) => billing.invoices.issueMonthly(req.body.accountId, req.body.year, req.body.month, trx),
        (invoices) => ({
          action: 'invoice.issue',
          target: req.body.accountId,
          outcome: 'success',
          details: { ...req.body, numbers: invoices.map((i) => i.number) },
        }),
      ).catch((err: unknown) => {
        if (err instanceof InvoicePeriodOpenError)
          throw new ApiError(422, 'period_not_ended', `body.month ${err.message}`, [
            { field: 'body.month', problem: err.message },
          ]);
        throw err;
      });
      return reply.code(201).send(issued.map(invoiceOut));
    },
  );

  const invoiceOr404 = async (id: string) => {
    const i = await billing.invoices.get(id);
    if (!i) throw notFound(`invoice ${id}`);
    return i;
  };

  app.get(
    '/api/v1/invoices/:invoiceId',
    {
      preHandler: authorize(...CUSTOMER_READERS),
      schema: {
        tags: ['billing'],
        summary: 'One invoice (JSON)',
        params: obj({ invoiceId: Id }),
        response: { 200: InvoiceSchema, ...errorResponses(404) },
      },
    },
    async (req) => invoiceOut(await invoiceOr404(req.params.invoiceId)),
  );

  app.get(
    '/api/v1/invoices/:invoiceId/invoice.pdf',
    {
      preHandler: authorize(...CUSTOMER_READERS),
      schema: {
        tags: ['billing'],
        summary: 'One invoice as PDF',
        params: obj({ invoiceId: Id }),
        produces: ['application/pdf'],
        response: { 200: PdfSchema, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      const invoice = await invoiceOr404(req.params.invoiceId);
      reply.header('content-type', 'application/pdf');
      reply.header('content-disposition', `inline; filename="invoice-${invoice.number}.pdf"`);
      return reply.send(await invoicePdf(invoice));
    },
  );

  // ---- settlement reports
  app.get(
    '/api/v1/settlements',
    {
      preHandler: authorize(...READERS),
      schema: {
        tags: ['billing'],
        summary:
          'Settlement of CDR totals in a period, per site host (organisation owning the location) or per roaming ' +
          'partner (customer group partner:<party>); credits included. sharePercent gives the site host’s share.',
        querystring: obj({
          by: Type.Union([Type.Literal('site_host'), Type.Literal('partner')]),
          from: DateTime,
          to: DateTime,
          sharePercent: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
        }),
        response: {
          200: Type.Array(
            Type.Object({
              party: Type.String(),
              currency: Type.String(),
              sessions: Type.Integer(),
              energyKwh: Type.String(),
              total: MoneySchema,
              share: Nullable(Type.String()),
            }),
          ),
          ...errorResponses(),
        },
      },
    },
    async (req) => {
      const q = req.query;
      const principal = principalOf(req);
      let query = db
        .selectFrom('cdrs as c')
        .where('c.end_date_time', '>=', new Date(q.from))
        .where('c.end_date_time', '<', new Date(q.to));
      let party;
      if (q.by === 'site_host') {
        const joined = query.innerJoin('locations as l', 'l.id', 'c.location_id');
        // A site host sees its own settlement only.
        const scoped =
          principal.role === 'site_host'
            ? joined.where('l.organisation_id', '=', principal.organisationId ?? '')
            : joined;
        party = scoped.select(sql<string>`l.organisation_id`.as('party')).groupBy(['l.organisation_id', 'c.currency']);
      } else {
        if (principal.role === 'site_host')
          throw new ApiError(403, 'forbidden', 'partner settlements are for the operator');
        query = query.innerJoin('session_pricing as p', 'p.transaction_id', 'c.transaction_id') as typeof query;
        party = query
          .where(sql`p.customer_group`, 'like', 'partner:%')
          .select(sql<string>`p.customer_group`.as('party'))
          .groupBy([sql`p.customer_group`, 'c.currency']);
      }
      const rows = await party
        .select([
          'c.currency',
          sql<string>`count(*) FILTER (WHERE NOT c.credit)`.as('sessions'),
          sql<string>`sum(CASE WHEN c.credit THEN 0 ELSE c.total_energy_kwh END)`.as('kwh'),
          sql<string>`sum(c.total_excl_vat)`.as('excl'),
          sql<string>`sum(c.total_vat)`.as('vat'),
          sql<string>`sum(c.total_incl_vat)`.as('incl'),
        ])
        .orderBy('party')
        .execute();
      return rows.map((r) => ({
        party: r.party,
        currency: r.currency,
        sessions: Number(r.sessions),
        energyKwh: String(r.kwh),
        total: money(Number(r.excl), Number(r.vat), Number(r.incl), r.currency),
        // The site host's share of the revenue excl. VAT, rounded down to the minor unit (the operator keeps the rest).
        share:
          q.sharePercent === undefined
            ? null
            : formatMinor(Math.floor((Number(r.excl) * Math.round(q.sharePercent * 100)) / 10_000), r.currency),
      }));
    },
  );
}

declare module 'fastify' {
  interface FastifyInstance {
    /** A transaction's cost so far, when billing is wired (registerBillingRoutes). */
    transactionCost?: (transactionId: string) => Promise<ReturnType<typeof costOut> | null>;
  }
}
