// OCPP-J RPC over one WebSocket, for either side (the CSMS or a simulated charger): framing of CALL,
// CALLRESULT and CALLERROR; validation of every payload in and out against the official schemas (and of
// what the peer sends, against what the database can store: storable.ts); the
// CALLERROR each version prescribes for malformed input (the socket stays open); and at most one
// outstanding outbound CALL, with a queue and a timeout.
import { randomBytes } from 'node:crypto';
import type { WebSocket, RawData } from 'ws';
import { errorCodeFor, RpcError, type OcppProtocol } from './protocols.ts';
import { isKnownAction, validatePayload } from './schemas.ts';
import { assertStorable } from './storable.ts';

const CALL = 2;
const CALLRESULT = 3;
const CALLERROR = 4;

/** What a side does with a CALL it receives; throw an RpcError to answer with a CALLERROR. */
export type CallHandler = (action: string, payload: any) => Promise<unknown> | unknown;

export interface RpcConnectionOptions {
  protocol: OcppProtocol;
  /** Answers inbound CALLs. An action without a handler gets NotSupported (NotImplemented if unknown). */
  handleCall: CallHandler;
  /** Actions this side accepts from its peer; others are answered NotSupported. */
  acceptsAction: (action: string) => boolean;
  /** Frames larger than this get a CALLERROR instead of being parsed. */
  maxFrameBytes?: number;
  /** How long an outbound CALL waits for its answer. */
  callTimeoutMs?: number;
  /** Called for protocol problems worth a log line (bad frames, late answers). */
  onProblem?: (problem: string, detail?: Record<string, unknown>) => void;
}

export class CallTimeoutError extends Error {
  constructor(action: string, ms: number) {
    super(`${action} was not answered within ${ms} ms`);
    this.name = 'CallTimeoutError';
  }
}

export class ConnectionClosedError extends Error {
  constructor(action: string) {
    super(`connection closed before ${action} was answered`);
    this.name = 'ConnectionClosedError';
  }
}

/** The peer answered our CALL with a CALLERROR. */
export class CallErrorResponse extends Error {
  constructor(
    readonly code: string,
    readonly description: string,
    readonly details: unknown,
  ) {
    super(`${code}: ${description}`);
    this.name = 'CallErrorResponse';
  }
}

/** The peer answered our CALL with a CALLRESULT that breaks the action's schema. */
export class CallResultInvalidError extends Error {
  constructor(
    readonly action: string,
    /** What breaks the schema, as the validator names it. */
    readonly problem: string,
  ) {
    super(`the answer to ${action} breaks its schema: ${problem}`);
    this.name = 'CallResultInvalidError';
  }
}

interface OutboundCall {
  id: string;
  action: string;
  payload: unknown;
  timeoutMs: number;
  resolve: (value: any) => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
}

const ID_IN_PREFIX = /^\s*\[\s*\d+\s*,\s*"([^"\\]{1,36})"/;

export class RpcConnection {
  private readonly queue: OutboundCall[] = [];
  private inFlight: OutboundCall | undefined;
  private readonly idPrefix = randomBytes(4).toString('hex');
  private nextId = 0;
  private closed = false;
  readonly protocol: OcppProtocol;

  constructor(
    readonly ws: WebSocket,
    private readonly options: RpcConnectionOptions,
  ) {
    this.protocol = options.protocol;
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', () => this.onClose());
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === this.ws.OPEN;
  }

  /** Sends a CALL and resolves with the peer's validated CALLRESULT payload. Calls are sent one at a time. */
  call<T = any>(action: string, payload: unknown, timeoutMs?: number): Promise<T> {
    if (this.closed) return Promise.reject(new ConnectionClosedError(action));
    // Our own payload must be valid before it leaves; a bad one is a programming error for the caller.
    validatePayload(this.protocol, action, 'req', payload);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        id: `${this.idPrefix}${(this.nextId++).toString(36)}`,
        action,
        payload,
        timeoutMs: timeoutMs ?? this.options.callTimeoutMs ?? 30_000,
        resolve,
        reject,
      });
      this.pump();
    });
  }

  /** Number of calls waiting behind the one in flight. */
  get queued(): number {
    return this.queue.length;
  }

  close(code = 1000, reason = ''): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason);
    this.onClose();
  }

  private pump(): void {
    if (this.inFlight || this.closed) return;
    const next = this.queue.shift();
    if (!next) return;
    this.inFlight = next;
    next.timer = setTimeout(() => {
      if (this.inFlight !== next) return;
      this.inFlight = undefined;
      next.reject(new CallTimeoutError(next.action, next.timeoutMs));
      this.pump();
    }, next.timeoutMs);
    this.send([CALL, next.id, next.action, next.payload]);
  }

  private settle(id: string, outcome: (call: OutboundCall) => void): void {
    const call = this.inFlight;
    if (!call || call.id !== id) {
      this.options.onProblem?.('answer for a call that is not outstanding (late or unknown)', { messageId: id });
      return;
    }
    clearTimeout(call.timer);
    this.inFlight = undefined;
    outcome(call);
    this.pump();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const pending = this.inFlight ? [this.inFlight, ...this.queue] : [...this.queue];
    this.inFlight = undefined;
    this.queue.length = 0;
    for (const call of pending) {
      clearTimeout(call.timer);
      call.reject(new ConnectionClosedError(call.action));
    }
  }

  private send(frame: unknown[]): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(frame));
  }

  private sendError(id: string, err: RpcError): void {
    this.send([CALLERROR, id, errorCodeFor(this.protocol, err.kind), err.message.slice(0, 255), err.details ?? {}]);
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    // Closed by us (replaced, admission withdrawn, shutting down): what the peer still sends is not handled.
    if (this.closed) return;
    // ws hands over a Buffer (nodebuffer binaryType); copy only for the other shapes.
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const limit = this.options.maxFrameBytes ?? 256 * 1024;
    if (buf.length > limit) {
      // Too big to parse safely: answer by the id at its head when there is one, and keep the socket.
      const id = ID_IN_PREFIX.exec(buf.subarray(0, 64).toString('utf8'))?.[1] ?? '-1';
      this.options.onProblem?.('frame over size limit', { bytes: buf.length, limit });
      this.sendError(
        id,
        new RpcError('FormatViolation', `Frame of ${buf.length} bytes exceeds the ${limit}-byte limit`),
      );
      return;
    }
    const text = buf.toString('utf8');
    if (isBinary) {
      this.options.onProblem?.('binary frame');
    }
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      // The message id cannot be read from text that is not JSON; OCPP-J then answers with id "-1".
      this.options.onProblem?.('frame is not JSON', { head: text.slice(0, 80) });
      this.sendError(
        ID_IN_PREFIX.exec(text)?.[1] ?? '-1',
        new RpcError('RpcFrameworkError', 'Message is not valid JSON'),
      );
      return;
    }
    if (!Array.isArray(frame) || frame.length < 3) {
      this.options.onProblem?.('frame is not an OCPP-J array', { head: text.slice(0, 80) });
      const id = Array.isArray(frame) && typeof frame[1] === 'string' ? frame[1] : '-1';
      this.sendError(id, new RpcError('RpcFrameworkError', 'Message must be a JSON array [type, id, ...]'));
      return;
    }
    const [type, id] = frame;
    if (typeof id !== 'string' || id.length === 0 || id.length > 36) {
      this.sendError('-1', new RpcError('RpcFrameworkError', 'Message id must be a string of 1 to 36 characters'));
      return;
    }
    // JSON must escape U+0000, and a lone surrogate cannot be UTF-8: without a \u escape the frame holds neither.
    const escaped = text.includes('\\u');
    switch (type) {
      case CALL:
        void this.onCall(id, frame, escaped);
        return;
      case CALLRESULT:
        this.onResult(id, frame, escaped);
        return;
      case CALLERROR:
        this.settle(id, (call) =>
          call.reject(new CallErrorResponse(String(frame[2]), String(frame[3] ?? ''), frame[4] ?? {})),
        );
        return;
      default:
        this.options.onProblem?.('unknown message type', { type });
        this.sendError(id, new RpcError('MessageTypeNotSupported', `Message type ${String(type)} is not supported`));
    }
  }

  private onResult(id: string, frame: unknown[], escaped: boolean): void {
    this.settle(id, (call) => {
      const payload = frame[2];
      try {
        validatePayload(this.protocol, call.action, 'conf', payload);
        assertStorable(this.protocol, call.action, 'conf', payload, escaped);
        call.resolve(payload);
      } catch (err) {
        // The answer breaks its schema: the caller learns so instead of getting bad data.
        this.options.onProblem?.('invalid CALLRESULT', { action: call.action, error: (err as Error).message });
        call.reject(new CallResultInvalidError(call.action, (err as Error).message));
      }
    });
  }

  private async onCall(id: string, frame: unknown[], escaped: boolean): Promise<void> {
    const [, , action, payload] = frame;
    try {
      if (frame.length !== 4 || typeof action !== 'string') {
        throw new RpcError('RpcFrameworkError', 'A CALL is [2, id, action, payload]');
      }
      if (!isKnownAction(this.protocol, action)) {
        throw new RpcError('NotImplemented', `Unknown action ${action} for ${this.protocol}`);
      }
      if (!this.options.acceptsAction(action)) {
        throw new RpcError('NotSupported', `${action} is not accepted from this side`);
      }
      validatePayload(this.protocol, action, 'req', payload);
      assertStorable(this.protocol, action, 'req', payload, escaped);
      const result = await this.options.handleCall(action, payload);
      try {
        validatePayload(this.protocol, action, 'conf', result);
      } catch (err) {
        // Our own answer is wrong: never send it; report an internal error and log loudly.
        this.options.onProblem?.('our answer broke its schema', { action, error: (err as Error).message });
        throw new RpcError('InternalError', 'The server could not build a valid answer');
      }
      this.send([CALLRESULT, id, result]);
    } catch (err) {
      if (err instanceof RpcError) {
        this.sendError(id, err);
      } else {
        this.options.onProblem?.('handler failed', { action, error: (err as Error).message });
        this.sendError(id, new RpcError('InternalError', 'Internal error while handling the message'));
      }
    }
  }
}
