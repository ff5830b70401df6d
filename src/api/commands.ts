// Remote commands: POST /api/v1/stations/{stationId}/commands/{command}, one version-neutral route per
// command. Each answers with the charger's response, 409 at once when the charger is offline, 504 when it
// does not answer in time, 502 when it answers with a CALLERROR or with an answer that breaks the schema;
// every attempt lands in the command log (CommandService) and the audit log.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TObject } from '@sinclair/typebox';
import { ApiError, notFound } from './errors.ts';
import { authorize, principalOf } from './auth.ts';
import { canSee, visibleStations } from './scope.ts';
import { audit, audited } from './audit.ts';
import { IdTokenValue, StationId, errorResponses } from './schemas.ts';
import {
  CommandAnswerInvalidError,
  CommandRejectedError,
  CommandTimeoutError,
  StationOfflineError,
  type CommandResult,
  type StationCommand,
} from '../stations/commands.ts';
import type { Role } from '../access/tables.ts';
import { chargerAnswer, type AuditOutcome } from '../access/service.ts';
import { LocalListError, planLocalList, recordLocalList } from '../assets/local-lists.ts';
import { withoutSecrets } from '../stations/secret-settings.ts';
import type { Executor } from '../storage/transactions.ts';

/** Names a charger component or variable (device model and configuration key names). */
const Name = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,50}$' });
const Setting = Type.Object({ component: Type.Optional(Name), variable: Name }, { additionalProperties: false });
const EvseId = Type.Integer({ minimum: 1, maximum: 1000 });
const ConnectorId = Type.Integer({ minimum: 1, maximum: 100 });

interface Context {
  stationId: string;
  protocol: string | null;
  req: FastifyRequest;
}

interface CommandSpec {
  summary: string;
  body: TObject;
  /** Who may send it (site hosts only to their own stations). */
  roles: Role[];
  toCommand(body: any, ctx: Context): Promise<StationCommand> | StationCommand;
  /** Runs after the charger answered, e.g. to record what it accepted: in the transaction of the audit entry. */
  after?(command: StationCommand, result: CommandResult, ctx: Context, db: Executor): Promise<void>;
  /** Adds what the caller needs to know about the request itself (e.g. the generated reservation id). */
  echo?(command: StationCommand): Record<string, unknown>;
}

/** Changes to a charger's software, configuration, logs and authorization list: the operator's staff. */
const OPERATORS: Role[] = ['admin', 'operator'];
/** Day-to-day actions a site host may also take on its own stations. */
const SITE_HOSTS: Role[] = [...OPERATORS, 'site_host'];
/** Reset and unlock: what a technician in the field may do as well. */
const TECHNICIANS: Role[] = [...SITE_HOSTS, 'technician'];
const obj = (props: Record<string, any>) => Type.Object(props, { additionalProperties: false });

/** Reservation ids are ours to choose; unique for a long while. */
let reservationCounter = Math.floor(Date.now() / 1000) % 1_000_000_000;

const Uri = Type.String({ format: 'uri', maxLength: 512, pattern: '^(https?|ftps?|sftp)://[^\\s<>{}`$;]+$' });
const Retries = {
  retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  retryIntervalS: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400 })),
};
const Base64 = Type.String({ maxLength: 10_000, pattern: '^[A-Za-z0-9+/=\\r\\n-]*$' });
const DateTimeText = Type.String({ format: 'date-time' });

const getLog: CommandSpec = {
  summary: 'Ask the station to upload its diagnostics (1.6 GetDiagnostics) or log (2.0.1 GetLog) to a URL',
  body: obj({
    location: Uri,
    logType: Type.Optional(Type.Union([Type.Literal('diagnostics'), Type.Literal('security')])),
    from: Type.Optional(DateTimeText),
    to: Type.Optional(DateTimeText),
    ...Retries,
  }),
  roles: OPERATORS,
  toCommand: (b) => ({ name: 'getDiagnostics', ...b }),
};

const getSettings: CommandSpec = {
  summary: 'Read configuration keys (1.6) or device-model variables (2.0.1); without keys, the whole set',
  body: obj({ keys: Type.Optional(Type.Array(Setting, { maxItems: 100 })) }),
  roles: SITE_HOSTS,
  toCommand: (b) => ({ name: 'getConfiguration', ...(b.keys ? { keys: b.keys } : {}) }),
};
const setSettings: CommandSpec = {
  summary: 'Change configuration keys (1.6: one per call) or device-model variables (2.0.1)',
  body: obj({
    settings: Type.Array(
      Type.Object(
        {
          component: Type.Optional(Name),
          variable: Name,
          value: Type.String({ maxLength: 1000, pattern: '^[^\\u0000-\\u001f]*$' }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 100 },
    ),
  }),
  roles: OPERATORS,
  toCommand: (b, ctx) => {
    if (ctx.protocol === 'ocpp1.6' && b.settings.length !== 1) {
      throw new ApiError(422, 'one_key_per_call', 'body.settings: an OCPP 1.6 charger changes one key per call');
    }
    return { name: 'setConfiguration', settings: b.settings };
  },
};

export const COMMANDS: Record<string, CommandSpec> = {
  'remote-start': {
    summary: 'Start a transaction for an id token',
    body: obj({
      idToken: IdTokenValue,
      idTokenType: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9]{1,20}$' })),
      evseId: Type.Optional(EvseId),
    }),
    roles: SITE_HOSTS,
    toCommand: (b) => ({ name: 'remoteStart', idToken: b.idToken, idTokenType: b.idTokenType, evseId: b.evseId }),
  },
  'remote-stop': {
    summary: "Stop a transaction (our transactionId, or the charger's chargerTransactionId)",
    body: obj({
      transactionId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' })),
      chargerTransactionId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' })),
    }),
    roles: SITE_HOSTS,
    toCommand: async (b, ctx) => {
      if (b.chargerTransactionId) return { name: 'remoteStop', chargerTransactionId: b.chargerTransactionId };
      if (!b.transactionId) throw new ApiError(400, 'validation_failed', 'body.transactionId is required');
      const ref = await ctx.req.server.api.sessions.chargerIdOf(b.transactionId);
      if (!ref || ref.stationId !== ctx.stationId) {
        throw new ApiError(
          422,
          'unknown_transaction',
          `body.transactionId: no transaction ${b.transactionId} on this station`,
        );
      }
      return { name: 'remoteStop', chargerTransactionId: ref.chargerTransactionId };
    },
  },
  reset: {
    summary: 'Reset the station (soft waits for idle on 2.0.1; hard is immediate)',
    body: obj({ type: Type.Union([Type.Literal('soft'), Type.Literal('hard')]) }),
    roles: TECHNICIANS,
    toCommand: (b) => ({ name: 'reset', type: b.type }),
  },
  unlock: {
    summary: 'Unlock a connector',
    body: obj({ evseId: EvseId, connectorId: Type.Optional(ConnectorId) }),
    roles: TECHNICIANS,
    toCommand: (b) => ({ name: 'unlock', evseId: b.evseId, connectorId: b.connectorId }),
  },
  'change-availability': {
    summary: 'Make the station, an EVSE or a connector operative or inoperative',
    body: obj({ operative: Type.Boolean(), evseId: Type.Optional(EvseId), connectorId: Type.Optional(ConnectorId) }),
    roles: SITE_HOSTS,
    toCommand: (b) => ({
      name: 'changeAvailability',
      operative: b.operative,
      evseId: b.evseId,
      connectorId: b.connectorId,
    }),
  },
  'get-configuration': getSettings,
  'get-variables': getSettings,
  'set-configuration': setSettings,
  'set-variables': setSettings,
  'trigger-message': {
    summary: 'Ask the station to send a message now',
    body: obj({
      message: Type.Union(
        [
          'BootNotification',
          'Heartbeat',
          'StatusNotification',
          'MeterValues',
          'FirmwareStatusNotification',
          'DiagnosticsStatusNotification',
        ].map((m) => Type.Literal(m)),
      ),
      evseId: Type.Optional(EvseId),
      connectorId: Type.Optional(ConnectorId),
    }),
    roles: SITE_HOSTS,
    toCommand: (b) => ({ name: 'triggerMessage', message: b.message, evseId: b.evseId, connectorId: b.connectorId }),
  },
  'clear-cache': {
    summary: "Clear the station's authorization cache",
    body: obj({}),
    roles: SITE_HOSTS,
    toCommand: () => ({ name: 'clearCache' }),
  },
  'data-transfer': {
    summary: 'Send vendor-specific data',
    body: obj({
      vendorId: Type.String({ minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9_.:-]+$' }),
      messageId: Type.Optional(Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9_.:-]+$' })),
      data: Type.Optional(
        Type.String({ maxLength: 10_000, pattern: '^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f]*$' }),
      ),
    }),
    roles: OPERATORS,
    toCommand: (b) => ({ name: 'dataTransfer', vendorId: b.vendorId, messageId: b.messageId, data: b.data }),
  },
  'update-firmware': {
    summary: 'Ask the station to download and install firmware from a URL',
    body: obj({
      location: Uri,
      retrieveAt: DateTimeText,
      ...Retries,
      signingCertificate: Type.Optional(Base64),
      signature: Type.Optional(Base64),
    }),
    roles: OPERATORS,
    toCommand: (b) => ({ name: 'updateFirmware', ...b }),
  },
  'get-diagnostics': getLog,
  'get-log': getLog,
  'reserve-now': {
    summary: 'Reserve an EVSE (or any) for an id token until a time; answers the reservation id',
    body: obj({
      expiresAt: DateTimeText,
      idToken: IdTokenValue,
      idTokenType: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9]{1,20}$' })),
      evseId: Type.Optional(EvseId),
      groupId: Type.Optional(IdTokenValue),
    }),
    roles: SITE_HOSTS,
    toCommand: (b) => {
      if (new Date(b.expiresAt).getTime() <= Date.now()) {
        throw new ApiError(422, 'in_the_past', 'body.expiresAt must be in the future');
      }
      return { name: 'reserveNow', reservationId: ++reservationCounter, ...b };
    },
    echo: (c) => ({ reservationId: (c as { reservationId: number }).reservationId }),
  },
  'cancel-reservation': {
    summary: 'Cancel a reservation',
    body: obj({ reservationId: Type.Integer({ minimum: 0, maximum: 2_147_483_647 }) }),
    roles: SITE_HOSTS,
    toCommand: (b) => ({ name: 'cancelReservation', reservationId: b.reservationId }),
  },
  'get-base-report': {
    summary: 'Ask a 2.0.1 station for a device-model report (arrives as NotifyReport, read at /device-model)',
    body: obj({
      report: Type.Optional(
        Type.Union(
          [Type.Literal('configuration_inventory'), Type.Literal('full_inventory'), Type.Literal('summary_inventory')],
          {
            default: 'full_inventory',
          },
        ),
      ),
    }),
    roles: OPERATORS,
    toCommand: (b, ctx) => {
      if (ctx.protocol !== 'ocpp2.0.1') {
        throw new ApiError(422, 'not_supported', 'a base report needs OCPP 2.0.1; use get-configuration on 1.6');
      }
      return { name: 'getBaseReport', report: b.report ?? 'full_inventory' };
    },
  },
  'send-local-list': {
    summary: 'Send the local authorization list: full (given tokens, or the whole register) or differential',
    body: obj({
      updateType: Type.Union([Type.Literal('full'), Type.Literal('differential')]),
      idTokens: Type.Optional(Type.Array(IdTokenValue, { maxItems: 5000, uniqueItems: true })),
      remove: Type.Optional(Type.Array(IdTokenValue, { maxItems: 5000, uniqueItems: true })),
    }),
    roles: OPERATORS,
    toCommand: async (b, ctx) => {
      try {
        const plan = await planLocalList(ctx.req.server.api.db, ctx.stationId, b.updateType, b.idTokens, b.remove);
        return { name: 'sendLocalList', version: plan.version, updateType: b.updateType, entries: plan.entries };
      } catch (err) {
        if (err instanceof LocalListError) throw new ApiError(422, 'invalid', `body.${err.field}: ${err.message}`);
        throw err;
      }
    },
    after: async (c, result, ctx, db) => {
      if (result.status !== 'accepted' || c.name !== 'sendLocalList') return;
      await recordLocalList(db, ctx.stationId, c.version, c.entries.length);
    },
    echo: (c) => ({ version: (c as { version: number }).version }),
  },
  'get-local-list-version': {
    summary: 'Ask the station which local list version it holds',
    body: obj({}),
    roles: SITE_HOSTS,
    toCommand: () => ({ name: 'getLocalListVersion' }),
  },
};

const CommandResponse = Type.Object({
  commandId: Type.String(),
  status: Type.String({ description: "the charger's answer in neutral words: accepted, rejected, ..." }),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

export function registerCommandRoutes(root: FastifyInstance): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  for (const [path, spec] of Object.entries(COMMANDS)) {
    const action = `command.${path}`;
    app.post(
      `/api/v1/stations/:stationId/commands/${path}`,
      {
        preHandler: authorize('admin', 'operator', 'site_host', 'technician', 'read_only'),
        schema: {
          tags: ['commands'],
          summary: spec.summary,
          description: `Roles: ${spec.roles.join(', ')} (a site host only to its own stations).`,
          params: Type.Object({ stationId: StationId }),
          body: spec.body,
          response: { 200: CommandResponse, ...errorResponses(404, 409, 422, 502, 504) },
        },
      },
      async (req) => {
        const principal = principalOf(req);
        const { stationId } = req.params as { stationId: string };
        // What was asked, as the audit log keeps it: without the values of password settings.
        const request = withoutSecrets(req.body);
        const refuse = async (outcome: AuditOutcome, error: ApiError) => {
          await audit(req, { action, target: stationId, outcome, details: { request, reason: error.message } });
          throw error;
        };
        if (!spec.roles.includes(principal.role)) {
          await refuse('forbidden', new ApiError(403, 'forbidden', `the ${principal.role} role may not send ${path}`));
        }
        const station = await root.api.db
          .selectFrom('stations')
          .select(['id', 'protocol'])
          .where('id', '=', stationId)
          .executeTakeFirst();
        if (!station || !canSee(await visibleStations(principal), stationId)) {
          // Out of scope is answered like a station that does not exist, and recorded as refused.
          await refuse(station ? 'refused_out_of_scope' : 'not_found', notFound(`station ${stationId}`));
        }
        let command: StationCommand;
        try {
          command = await spec.toCommand(req.body, { stationId, protocol: station!.protocol, req });
        } catch (err) {
          if (err instanceof ApiError) await refuse('invalid', err);
          throw err;
        }
        try {
          const outcome = await root.api.commands.send(stationId, command, `${principal.kind}:${principal.id}`);
          await audited(
            req,
            async (trx) => spec.after?.(command, outcome.result, { stationId, protocol: station!.protocol, req }, trx),
            {
              action,
              target: stationId,
              outcome: chargerAnswer(outcome.result.status),
              details: { request, commandId: outcome.commandId },
            },
          );
          const echoed = spec.echo?.(command);
          if (echoed) outcome.result.data = { ...echoed, ...outcome.result.data };
          return {
            commandId: outcome.commandId,
            status: outcome.result.status,
            ...(outcome.result.data ? { data: outcome.result.data } : {}),
          };
        } catch (err) {
          if (err instanceof StationOfflineError) {
            await refuse('offline', new ApiError(409, 'station_offline', `station ${stationId} is not connected`));
          }
          if (err instanceof CommandTimeoutError) {
            await refuse(
              'timeout',
              new ApiError(504, 'station_timeout', `station ${stationId} did not answer in time`),
            );
          }
          if (err instanceof CommandRejectedError) {
            await refuse(
              'callerror',
              new ApiError(502, 'station_error', `the station answered with an error: ${err.code}`, {
                code: err.code,
                message: err.message,
              }),
            );
          }
          if (err instanceof CommandAnswerInvalidError) {
            await refuse(
              'invalid_answer',
              new ApiError(502, 'station_invalid_answer', err.message, { problem: err.problem }),
            );
          }
          await audit(req, {
            action,
            target: stationId,
            outcome: 'error',
            details: { request, reason: (err as Error).message },
          });
          throw err;
        }
      },
    );
  }
}
