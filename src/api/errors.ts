// One error shape for the whole API: `{ error, message, details }` with the right status. Handlers throw
// ApiError; validation, body-size, JSON and rate-limit failures from Fastify are translated here so a
// client always learns which field or limit was the problem.
import type { FastifyError, FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly error: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const ErrorSchema = Type.Object(
  {
    error: Type.String({ description: 'machine-readable error code, e.g. validation_failed, not_found' }),
    message: Type.String({ description: 'what went wrong, for people' }),
    details: Type.Optional(Type.Unknown()),
  },
  { $id: 'ApiError', title: 'ApiError' },
);

interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** "body/address/city" style name of the field an ajv error is about (or the unknown/missing one). */
export function fieldOf(part: string, e: AjvError): string {
  const path = (e.instancePath ?? '').split('/').filter(Boolean);
  if (e.keyword === 'additionalProperties' && e.params?.additionalProperty) {
    path.push(String(e.params.additionalProperty));
  }
  if (e.keyword === 'required' && e.params?.missingProperty) path.push(String(e.params.missingProperty));
  return [part, ...path].join('.');
}

function describe(e: AjvError): string {
  if (e.keyword === 'additionalProperties') return 'is not a known field';
  if (e.keyword === 'required') return 'is required';
  if (e.keyword === 'pattern') return 'contains characters that are not allowed here';
  return e.message ?? 'is invalid';
}

export function installErrorHandling(app: FastifyInstance): void {
  app.addSchema(ErrorSchema);

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) {
      return reply.code(err.statusCode).send({
        error: err.error,
        message: err.message,
        ...(err.details !== undefined ? { details: err.details } : {}),
      });
    }
    const fe = err as FastifyError & { validationContext?: string };
    if (fe.validation) {
      const part = fe.validationContext ?? 'request';
      const details = fe.validation.map((e) => ({
        field: fieldOf(part, e as AjvError),
        problem: describe(e as AjvError),
      }));
      const first = details[0];
      return reply.code(400).send({
        error: 'validation_failed',
        message: first ? `${first.field} ${first.problem}` : 'the request is invalid',
        details,
      });
    }
    switch (fe.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply.code(413).send({ error: 'body_too_large', message: 'the request body is larger than allowed' });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply.code(415).send({ error: 'unsupported_media_type', message: 'send application/json' });
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return reply.code(400).send({ error: 'invalid_json', message: 'body: the request body is not valid JSON' });
    }
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(fe.statusCode).send({ error: 'bad_request', message: fe.message });
    }
    // The cause goes to the log only: its text (a database's message, say) is no business of the client's.
    req.log.error(
      { err, method: req.method, route: req.routeOptions.url ?? req.url.split('?')[0] },
      'unhandled API error',
    );
    return reply.code(500).send({ error: 'internal', message: 'internal error' });
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
