// One simulated OCPP 1.6J charger of the load generator: a WebSocket, a little session state (two
// connectors, their transactions and energy registers) and at most one outstanding CALL, as OCPP requires.
// It boots until Accepted, then sends the weighted mix either closed-loop or paced, and answers any CALL
// the server sends it. Answers are inspected only as far as needed (type byte, id, Accepted, transactionId).
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import * as frames from './frames.ts';
import { epochMs, type LoadContext } from './load-context.ts';
import { MessageKind } from './message-mix.ts';

/** What the outstanding CALL was, to know how to read its answer. */
const Pending = {
  None: 0,
  Boot: 1,
  Start: 2,
  Stop: 3,
  Other: 4,
} as const;
type Pending = (typeof Pending)[keyof typeof Pending];

const OPEN_BRACKET = 0x5b;
const DIGIT_CALL = 0x32;
const DIGIT_RESULT = 0x33;
const DIGIT_ERROR = 0x34;
const TRANSACTION_ID = /"transactionId"\s*:\s*(-?\d+)/;
const INTERVAL = /"interval"\s*:\s*(\d+)/;
const CONNECTORS = 2;

export class SimulatedCharger {
  private ws: WebSocket | undefined;
  private opened = false;
  private everAccepted = false;
  private accepted = false;
  private pending: Pending = Pending.None;
  private pendingId = '';
  private pendingConnector = 0;
  /** The mix kind of the CALL in flight (undefined for a BootNotification), for latency per kind. */
  private pendingKind: MessageKind | undefined;
  private sentAt = 0;
  private nextDueAt = 0;
  private paceEpoch = -1;
  private paceTimer: NodeJS.Timeout | undefined;
  private readonly idTag: string;
  // Index 0 unused: connectors are numbered from 1.
  private readonly transactionIds: (number | undefined)[] = new Array(CONNECTORS + 1);
  private readonly meterWh = new Array<number>(CONNECTORS + 1).fill(0);
  private readonly statusToggle = new Array<boolean>(CONNECTORS + 1).fill(false);

  constructor(
    private readonly ctx: LoadContext,
    readonly stationId: string,
  ) {
    // idTag is CiString20; a per-charger tag keeps authorizations varied like a real site's.
    this.idTag = `B${stationId.slice(-19)}`;
  }

  connect(): void {
    if (this.ctx.closing) return;
    if (this.ctx.firstConnectAt === 0) this.ctx.firstConnectAt = epochMs();
    const ws = new WebSocket(this.ctx.config.baseUrl + encodeURIComponent(this.stationId), ['ocpp1.6'], {
      perMessageDeflate: false,
      // The frames are ours or the server's JSON; checking UTF-8 would be generator cost, not server cost.
      skipUTF8Validation: true,
      handshakeTimeout: 120_000,
    });
    this.ws = ws;
    this.opened = false;
    ws.on('open', () => {
      this.opened = true;
      this.ctx.connected++;
      this.sendBoot();
    });
    ws.on('message', (data: Buffer) => this.onFrame(data));
    ws.on('error', (err) => {
      this.ctx.recordError(this.opened ? 'socket-error' : 'connect-failed', err.message);
    });
    ws.on('close', () => this.onClose(ws));
  }

  /** Called when load starts or its pace changes, for chargers parked after their last answer. */
  kick(): void {
    if (!this.accepted || this.pending !== Pending.None || this.paceTimer) return;
    this.scheduleNext();
  }

  close(): void {
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
    const ws = this.ws;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) ws.close(1000);
  }

  get isClosed(): boolean {
    return !this.ws || this.ws.readyState === WebSocket.CLOSED;
  }

  /** Called by the worker's sweep: gives up on a CALL left unanswered too long. */
  checkTimeout(now: number): void {
    if (this.pending === Pending.None || now - this.sentAt < this.ctx.config.callTimeoutMs) return;
    const wasBoot = this.pending === Pending.Boot;
    this.pending = Pending.None;
    this.ctx.recordError(wasBoot ? 'boot-timeout' : 'call-timeout');
    if (wasBoot) this.sendBoot();
    else this.scheduleNext();
  }

  private send(kind: Pending, id: string, frame: string, mixKind?: MessageKind): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    this.pending = kind;
    this.pendingKind = mixKind;
    this.pendingId = id;
    this.sentAt = performance.now();
    ws.send(frame);
  }

  private sendBoot(): void {
    const id = this.ctx.nextId();
    this.send(Pending.Boot, id, frames.bootNotification(id, this.stationId));
  }

  private onClose(ws: WebSocket): void {
    if (ws !== this.ws) return;
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
    if (this.opened) this.ctx.connected--;
    if (this.accepted) this.ctx.accepted--;
    const wasOpened = this.opened;
    this.opened = false;
    this.accepted = false;
    this.pending = Pending.None;
    if (this.ctx.closing) return;
    // A real charger reconnects after a drop; so does this one, after a short random pause.
    if (wasOpened) this.ctx.recordError('disconnected');
    setTimeout(() => this.connect(), 500 + Math.random() * 1500).unref();
  }

  private onFrame(data: Buffer): void {
    const now = performance.now();
    const text = data.toString();
    // The server's frames are compact JSON: byte 1 is the message type. Anything else takes the slow path.
    const type = data[0] === OPEN_BRACKET ? data[1] : undefined;
    if (type === DIGIT_CALL || type === undefined) return this.onServerCall(text);
    if (
      this.pending === Pending.None ||
      !text.startsWith(this.pendingId, 4) ||
      text.charCodeAt(4 + this.pendingId.length) !== 0x22
    ) {
      this.ctx.recordError('unexpected-answer', text);
      return;
    }
    const pending = this.pending;
    this.pending = Pending.None;
    const latencyMs = now - this.sentAt;
    if (type === DIGIT_ERROR) {
      this.ctx.recordError('callerror', text);
      if (pending === Pending.Boot) return this.retryBoot(10);
      return this.scheduleNext();
    }
    if (type !== DIGIT_RESULT) {
      this.ctx.recordError('unknown-message-type', text);
      return this.scheduleNext();
    }
    this.ctx.recordAnswer(latencyMs, this.pendingKind);
    switch (pending) {
      case Pending.Boot:
        return this.onBootAnswer(text, latencyMs);
      case Pending.Start: {
        const match = TRANSACTION_ID.exec(text);
        if (match) this.transactionIds[this.pendingConnector] = Number(match[1]);
        else this.ctx.recordError('start-without-transaction-id', text);
        break;
      }
      case Pending.Stop:
        this.transactionIds[this.pendingConnector] = undefined;
        break;
    }
    this.scheduleNext();
  }

  private onBootAnswer(text: string, latencyMs: number): void {
    this.ctx.bootLatency.recordMs(latencyMs);
    if (!text.includes('"Accepted"')) {
      // Pending or Rejected: the charger may only boot again, after the interval the server named.
      const interval = Number(INTERVAL.exec(text)?.[1] ?? 10);
      this.ctx.recordError('boot-not-accepted', text);
      return this.retryBoot(Math.min(Math.max(interval, 1), 30));
    }
    this.accepted = true;
    this.ctx.accepted++;
    if (!this.everAccepted) {
      this.everAccepted = true;
      this.ctx.lastAcceptedAt = epochMs();
    }
    this.kick();
  }

  private retryBoot(seconds: number): void {
    setTimeout(() => {
      if (!this.accepted && this.pending === Pending.None) this.sendBoot();
    }, seconds * 1000).unref();
  }

  private onServerCall(text: string): void {
    try {
      const frame = JSON.parse(text) as unknown[];
      if (frame[0] === 2 && typeof frame[1] === 'string' && typeof frame[2] === 'string') {
        this.ws?.send(frames.answerToServerCall(frame[1], frame[2]));
        return;
      }
    } catch {
      // fall through: not a frame we understand
    }
    this.ctx.recordError('unreadable-frame', text);
  }

  private scheduleNext(): void {
    if (!this.ctx.running || this.paceTimer) return;
    const pace = this.ctx.paceMs;
    if (pace === 0) return this.sendNext();
    const now = performance.now();
    if (this.paceEpoch !== this.ctx.paceEpoch) {
      // A new pace: start at a random point of the interval. Chargers that all switch at the same moment
      // (or were all answered in the same burst) would otherwise stay in lockstep and load the server in waves.
      this.paceEpoch = this.ctx.paceEpoch;
      this.nextDueAt = now + Math.random() * pace;
    } else {
      // Keep a fixed schedule; a late answer makes the next CALL go at once, never two at a time.
      this.nextDueAt = Math.max(this.nextDueAt + pace, now);
    }
    const delay = this.nextDueAt - now;
    if (delay < 1) return this.sendNext();
    this.paceTimer = setTimeout(() => {
      this.paceTimer = undefined;
      if (this.ctx.running && this.pending === Pending.None) this.sendNext();
    }, delay);
  }

  private sendNext(): void {
    const id = this.ctx.nextId();
    const connector = Math.random() < 0.5 ? 1 : 2;
    const tx = this.transactionIds[connector];
    switch (this.ctx.mix.pick()) {
      case MessageKind.Heartbeat:
        return this.send(Pending.Other, id, frames.heartbeat(id), MessageKind.Heartbeat);
      case MessageKind.MeterValues: {
        // Meter values belong to a charging connector when there is one; idle connectors report too.
        const wh = (this.meterWh[connector]! += 37);
        return this.send(Pending.Other, id, frames.meterValues(id, connector, tx, wh), MessageKind.MeterValues);
      }
      case MessageKind.StatusNotification: {
        this.statusToggle[connector] = !this.statusToggle[connector];
        const flip = this.statusToggle[connector];
        const status: frames.ConnectorStatus =
          tx === undefined ? (flip ? 'Preparing' : 'Available') : flip ? 'SuspendedEV' : 'Charging';
        return this.send(
          Pending.Other,
          id,
          frames.statusNotification(id, connector, status),
          MessageKind.StatusNotification,
        );
      }
      case MessageKind.Authorize:
        return this.send(Pending.Other, id, frames.authorize(id, this.idTag), MessageKind.Authorize);
      case MessageKind.StartOrStop:
        this.pendingConnector = connector;
        if (tx === undefined) {
          return this.send(
            Pending.Start,
            id,
            frames.startTransaction(id, connector, this.idTag, this.meterWh[connector]!),
            MessageKind.StartOrStop,
          );
        }
        return this.send(
          Pending.Stop,
          id,
          frames.stopTransaction(id, tx, this.idTag, this.meterWh[connector]!),
          MessageKind.StartOrStop,
        );
    }
  }
}
