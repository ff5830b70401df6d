// One simulated charging station: its WebSocket and RPC connection, boot and heartbeat, the state of its
// connectors, scripted steps for tests (plugIn, authorize, startTransaction...), answers to the CSMS's
// commands (through the version's dialect), and reconnection with exponential back-off.
import { EventEmitter } from 'node:events';
import { WebSocket } from 'ws';
import { RpcConnection } from '../ocpp/rpc/connection.ts';
import type { OcppProtocol } from '../ocpp/rpc/protocols.ts';
import { csmsInitiatedActions } from './actions.ts';
import {
  phaseOf,
  type AuthorizeAnswer,
  type ConnectorState,
  type Dialect,
  type RegistrationStatus,
  type StartAnswer,
  type StopReason,
  type TransactionState,
} from './dialect.ts';
import { chargeXFault, type ChargeXFault } from './faults.ts';
import { ConnectorMeter, type CurrentType } from './meter.ts';
import { Random, seedFrom } from './random.ts';
import { Dialect16 } from './v16.ts';
import { Dialect201 } from './v201.ts';

export interface SimulatedStationOptions {
  /** CSMS endpoint without the station id, e.g. ws://127.0.0.1:8080/ocpp. */
  url: string;
  id: string;
  protocol: OcppProtocol;
  /** HTTP Basic password (security profile 1); the username is the station id. */
  password?: string;
  connectors?: number;
  currentType?: CurrentType;
  /** Seconds between meter values during a transaction (1.6 MeterValueSampleInterval); 0 disables them. */
  meterIntervalS?: number;
  /** Seed of the station's random stream; defaults to one derived from the station id. */
  seed?: number;
  vendor?: string;
  model?: string;
  /**
   * Real milliseconds per protocol second. Heartbeat, boot retry and meter intervals are scaled by it, and
   * the meters run on the same scaled clock, so tests can compress minutes of charging into milliseconds.
   */
  secondMs?: number;
  /** Reconnect when the socket drops (not after close()). */
  autoReconnect?: boolean;
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Send BootNotification again after a reconnect; keeps a CSMS that lost its state (restart) informed. */
  bootOnReconnect?: boolean;
  /** How long a CALL waits for the CSMS's answer. */
  callTimeoutMs?: number;
}

/** Running totals, for the fleet's live display and for tests. */
export interface StationCounters {
  sent: number;
  answered: number;
  errors: number;
  received: number;
  transactionsStarted: number;
  transactionsStopped: number;
  faults: number;
  reconnects: number;
}

export class NotConnectedError extends Error {
  constructor(action: string) {
    super(`cannot send ${action}: the station is not connected`);
    this.name = 'NotConnectedError';
  }
}

export class SimulatedStation extends EventEmitter {
  readonly id: string;
  readonly protocol: OcppProtocol;
  readonly currentType: CurrentType;
  readonly random: Random;
  readonly connectors: ConnectorState[];
  readonly counters: StationCounters = {
    sent: 0,
    answered: 0,
    errors: 0,
    received: 0,
    transactionsStarted: 0,
    transactionsStopped: 0,
    faults: 0,
    reconnects: 0,
  };
  readonly options: Required<Omit<SimulatedStationOptions, 'password' | 'seed'>> &
    Pick<SimulatedStationOptions, 'password' | 'seed'>;
  /** Heartbeat interval in protocol seconds, from the boot answer or a configuration change. */
  heartbeatIntervalS = 300;
  meterIntervalS: number;
  registration: RegistrationStatus | undefined;

  private readonly dialect: Dialect;
  private rpc: RpcConnection | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private meterTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempt = 0;
  /** Set by close(): no more reconnects, boot retries or follow-ups. */
  private closed = false;
  /** Set while we close the socket on purpose (reset), so the close does not count as a drop. */
  private intentionalClose = false;
  private resetWhenIdle = false;
  /** Connectors a ChangeAvailability Inoperative takes out of service when their transaction ends. */
  private readonly unavailableAfterTransaction = new Set<number>();
  private hasConnectedBefore = false;
  private readonly simEpochMs = Date.now();

  constructor(options: SimulatedStationOptions) {
    super();
    this.options = {
      connectors: 2,
      currentType: 'AC',
      meterIntervalS: 60,
      vendor: 'OpenCPO',
      model: options.currentType === 'DC' ? 'SimDC-150' : 'SimAC-22',
      secondMs: 1000,
      autoReconnect: true,
      reconnectBaseMs: 1000,
      reconnectMaxMs: 30_000,
      bootOnReconnect: true,
      callTimeoutMs: 30_000,
      // An option given as undefined means "the default", not "unset".
      ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as SimulatedStationOptions),
    };
    if (!Number.isInteger(this.options.connectors) || this.options.connectors < 1) {
      throw new Error(`connectors must be a positive integer, got ${this.options.connectors}`);
    }
    this.id = options.id;
    this.protocol = options.protocol;
    this.currentType = this.options.currentType;
    this.meterIntervalS = this.options.meterIntervalS;
    this.random = new Random(options.seed ?? seedFrom(options.id));
    this.connectors = Array.from({ length: this.options.connectors }, (_, i) => ({
      id: i + 1,
      // Start each register somewhere in a plausible lifetime total, as a charger in service would.
      meter: new ConnectorMeter(this.currentType, this.random, this.random.int(100_000, 5_000_000)),
      operative: true,
      plugged: false,
    }));
    this.dialect = this.protocol === 'ocpp1.6' ? new Dialect16(this) : new Dialect201(this);
  }

  get connected(): boolean {
    return this.rpc?.isOpen ?? false;
  }

  /** The clock the meters run on: real time since creation, stretched by `secondMs`. */
  simNowMs(): number {
    return this.simEpochMs + ((Date.now() - this.simEpochMs) * 1000) / this.options.secondMs;
  }

  connector(connectorId: number): ConnectorState {
    const connector = this.connectors[connectorId - 1];
    if (!connector) throw new Error(`${this.id} has no connector ${connectorId}`);
    return connector;
  }

  // ---- connection -------------------------------------------------------------------------------------

  /** Opens the WebSocket; resolves when it is open, rejects when the CSMS refuses it. */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.id} is closed`));
    const url = `${this.options.url.replace(/\/+$/, '')}/${encodeURIComponent(this.id)}`;
    const headers: Record<string, string> = {};
    if (this.options.password !== undefined) {
      headers.Authorization = `Basic ${Buffer.from(`${this.id}:${this.options.password}`).toString('base64')}`;
    }
    const ws = new WebSocket(url, [this.protocol], { headers });
    return new Promise<void>((resolve, reject) => {
      let opened = false;
      ws.once('open', () => {
        opened = true;
        if (ws.protocol !== this.protocol) {
          ws.close(1002, 'subprotocol not agreed');
          reject(new Error(`CSMS did not agree to ${this.protocol} (got "${ws.protocol}")`));
          return;
        }
        this.attach(ws);
        resolve();
      });
      // ws emits 'error' then 'close' on a failed handshake; only the first settles the promise.
      ws.on('error', (err) => {
        if (!opened) reject(err);
      });
    });
  }

  private attach(ws: WebSocket): void {
    this.intentionalClose = false;
    const rpc = new RpcConnection(ws, {
      protocol: this.protocol,
      acceptsAction: (action) => csmsInitiatedActions(this.protocol).has(action),
      handleCall: (action, payload) => {
        this.counters.received++;
        this.emit('received', action, payload);
        return this.dialect.handleCall(action, payload);
      },
      callTimeoutMs: this.options.callTimeoutMs,
      onProblem: (problem, detail) => this.emit('problem', problem, detail),
    });
    this.rpc = rpc;
    if (this.hasConnectedBefore) this.counters.reconnects++;
    this.hasConnectedBefore = true;
    this.reconnectAttempt = 0;
    ws.on('close', () => this.onSocketClosed(rpc));
    this.emit('connected');
  }

  private onSocketClosed(rpc: RpcConnection): void {
    if (this.rpc !== rpc) return;
    this.rpc = undefined;
    this.stopPeriodicTimers();
    this.emit('disconnected');
    if (!this.closed && !this.intentionalClose && this.options.autoReconnect) this.scheduleReconnect();
  }

  /** Exponential back-off with jitter (half to full delay), capped, so a fleet does not reconnect in lockstep. */
  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.closed) return;
    const ceiling = Math.min(this.options.reconnectMaxMs, this.options.reconnectBaseMs * 2 ** this.reconnectAttempt);
    const delay = Math.round(ceiling * this.random.between(0.5, 1));
    this.reconnectAttempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect()
        .then(() => this.afterReconnect())
        .catch((err: Error) => {
          this.emit('problem', 'reconnect failed', { error: err.message });
          this.scheduleReconnect();
        });
    }, delay);
  }

  private async afterReconnect(): Promise<void> {
    try {
      if (this.options.bootOnReconnect || this.registration !== 'Accepted') {
        await this.boot('Unknown');
      } else {
        await this.reportAllStatuses(true);
        this.startPeriodicTimers();
      }
      this.emit('reconnected');
    } catch (err) {
      this.emit('problem', 'resume after reconnect failed', { error: (err as Error).message });
    }
  }

  /**
   * Connects and boots; when the CSMS cannot be reached yet, keeps trying with back-off in the background
   * (as a charger powering up does) and resolves at once. Listen for 'boot' to learn when it is registered.
   */
  async start(): Promise<void> {
    try {
      await this.connect();
    } catch (err) {
      this.emit('problem', 'connect failed', { error: (err as Error).message });
      this.scheduleReconnect();
      return;
    }
    await this.boot();
  }

  /** Drops the socket as a network fault would: reconnection follows when enabled. */
  disconnect(): void {
    this.rpc?.ws.terminate();
  }

  /** Closes for good: socket, timers and pending follow-ups. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.stopPeriodicTimers();
    const rpc = this.rpc;
    if (!rpc) return;
    const closedEvent = new Promise<void>((resolve) => rpc.ws.once('close', () => resolve()));
    rpc.close(1000, 'station shut down');
    await Promise.race([closedEvent, new Promise<void>((resolve) => setTimeout(resolve, 1000).unref())]);
  }

  // ---- sending ------------------------------------------------------------------------------------------

  /** Sends a CALL through the RPC layer (which validates it) and keeps the counters. */
  async call<T = any>(action: string, payload: unknown): Promise<T> {
    const rpc = this.rpc;
    if (!rpc || !rpc.isOpen) {
      this.counters.errors++;
      throw new NotConnectedError(action);
    }
    this.counters.sent++;
    this.emit('sent', action, payload);
    try {
      const answer = await rpc.call<T>(action, payload);
      this.counters.answered++;
      return answer;
    } catch (err) {
      this.counters.errors++;
      this.emit('callFailed', action, err);
      throw err;
    }
  }

  /** Runs `task` after the current CALL has been answered (or after `delayS` protocol seconds). */
  later(task: () => Promise<unknown> | unknown, delayS = 0): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed) return;
      Promise.resolve()
        .then(task)
        .catch((err: Error) => this.emit('problem', 'follow-up failed', { error: err.message }));
    }, delayS * this.options.secondMs);
    this.timers.add(timer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  // ---- boot, heartbeat, periodic meter values --------------------------------------------------------------

  /**
   * Sends BootNotification until the CSMS accepts it (Pending and Rejected are retried after the interval
   * the CSMS gave), then reports every connector's status and starts heartbeats and meter sampling.
   */
  async boot(reason = 'PowerUp'): Promise<RegistrationStatus> {
    for (;;) {
      const answer = await this.dialect.bootNotification(reason);
      this.registration = answer.status;
      this.emit('boot', answer.status);
      if (answer.status === 'Accepted') {
        if (answer.intervalS > 0) this.heartbeatIntervalS = answer.intervalS;
        await this.reportAllStatuses(true);
        this.startPeriodicTimers();
        return answer.status;
      }
      if (this.closed) return answer.status;
      await this.sleep((answer.intervalS > 0 ? answer.intervalS : 30) * this.options.secondMs);
      if (this.closed || !this.connected) return answer.status;
    }
  }

  async heartbeat(): Promise<void> {
    await this.dialect.heartbeat();
  }

  setHeartbeatInterval(seconds: number): void {
    this.heartbeatIntervalS = seconds;
    if (this.registration === 'Accepted' && this.connected) this.startPeriodicTimers();
  }

  setMeterInterval(seconds: number): void {
    this.meterIntervalS = seconds;
    if (this.registration === 'Accepted' && this.connected) this.startPeriodicTimers();
  }

  private startPeriodicTimers(): void {
    this.stopPeriodicTimers();
    if (this.heartbeatIntervalS > 0) {
      this.heartbeatTimer = setInterval(() => {
        this.heartbeat().catch(() => undefined);
      }, this.heartbeatIntervalS * this.options.secondMs);
    }
    if (this.meterIntervalS > 0) {
      this.meterTimer = setInterval(() => {
        for (const connector of this.connectors) {
          // A 1.6 transaction without its id yet (start not answered) cannot be referenced in MeterValues.
          if (connector.transaction?.id) this.sendMeterValues(connector.id).catch(() => undefined);
        }
      }, this.meterIntervalS * this.options.secondMs);
    }
  }

  private stopPeriodicTimers(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.meterTimer);
    this.heartbeatTimer = undefined;
    this.meterTimer = undefined;
  }

  // ---- status ------------------------------------------------------------------------------------------

  /** Reports the connector's current status, unless the same word was already reported (or `force`). */
  async reportStatus(connectorId: number, force = false): Promise<void> {
    const connector = this.connector(connectorId);
    const word = this.dialect.statusWord(phaseOf(connector));
    if (!force && word === connector.lastReportedStatus) return;
    connector.lastReportedStatus = word;
    await this.dialect.statusNotification(connector, word);
  }

  async reportAllStatuses(force = false): Promise<void> {
    // 1.6 also reports the charger as a whole on connector 0.
    if (this.protocol === 'ocpp1.6') await this.dialect.statusNotification(0, 'Available');
    for (const connector of this.connectors) await this.reportStatus(connector.id, force);
  }

  // ---- scripted steps --------------------------------------------------------------------------------------

  /** The driver plugs in a vehicle: 1.6 Preparing, 2.0.1 Occupied. */
  async plugIn(connectorId: number): Promise<void> {
    const connector = this.connector(connectorId);
    connector.plugged = true;
    await this.reportStatus(connectorId);
  }

  authorize(idTag: string): Promise<AuthorizeAnswer> {
    return this.dialect.authorize(idTag);
  }

  /** Starts charging; plugs the cable in first when nobody did. Resolves with the transaction's id. */
  async startTransaction(connectorId: number, idTag: string, remoteStartId?: number): Promise<StartAnswer> {
    const connector = this.connector(connectorId);
    if (connector.transaction)
      throw new Error(`connector ${connectorId} already has transaction ${connector.transaction.id}`);
    if (connector.fault) throw new Error(`connector ${connectorId} is faulted (${connector.fault.code})`);
    if (!connector.plugged) await this.plugIn(connectorId);
    const now = this.simNowMs();
    connector.meter.startCharging(now);
    const reading = connector.meter.read(now);
    // The transaction exists from the moment the charger starts it, so a stop request racing the CSMS's
    // answer finds it. 2.0.1 chargers name it themselves; a 1.6 id is only known from the answer.
    const transaction: TransactionState = {
      id: this.dialect.newTransactionId() ?? '',
      idTag,
      meterStartWh: reading.energyWh,
      startedAt: new Date(),
      nextSeqNo: 0,
      remoteStartId,
    };
    connector.transaction = transaction;
    let answer: StartAnswer;
    try {
      answer = await this.dialect.startTransaction(connector, idTag, reading, remoteStartId);
    } catch (err) {
      // No transaction came of it: the contactor stays open and the register must not grow.
      connector.transaction = undefined;
      connector.meter.stopCharging(this.simNowMs());
      throw err;
    }
    transaction.id = answer.transactionId;
    connector.reservationId = undefined;
    this.counters.transactionsStarted++;
    this.emit('transactionStarted', { connectorId, transactionId: answer.transactionId, idTag });
    await this.reportStatus(connectorId);
    if (!answer.accepted) await this.stopTransaction(connectorId, 'DeAuthorized');
    return answer;
  }

  async sendMeterValues(
    connectorId: number,
    context: 'Sample.Periodic' | 'Trigger' = 'Sample.Periodic',
  ): Promise<void> {
    const connector = this.connector(connectorId);
    await this.dialect.meterValues(connector, connector.meter.read(this.simNowMs()), context);
  }

  async stopTransaction(connectorId: number, reason: StopReason = 'Local'): Promise<void> {
    const connector = this.connector(connectorId);
    const transaction = connector.transaction;
    if (!transaction) throw new Error(`connector ${connectorId} has no transaction`);
    const now = this.simNowMs();
    connector.meter.stopCharging(now);
    const reading = connector.meter.read(now);
    await this.dialect.stopTransaction(connector, reason, reading);
    connector.transaction = undefined;
    if (this.unavailableAfterTransaction.delete(connectorId)) connector.operative = false;
    this.counters.transactionsStopped++;
    this.emit('transactionStopped', {
      connectorId,
      transactionId: transaction.id,
      reason,
      energyWh: reading.energyWh - transaction.meterStartWh,
    });
    await this.reportStatus(connectorId);
    if (this.resetWhenIdle && this.connectors.every((c) => !c.transaction)) {
      this.resetWhenIdle = false;
      this.later(() => this.reboot());
    }
  }

  /** The driver unplugs; a running transaction ends with EVDisconnected first. */
  async unplug(connectorId: number): Promise<void> {
    const connector = this.connector(connectorId);
    if (connector.transaction) await this.stopTransaction(connectorId, 'EVDisconnected');
    connector.plugged = false;
    await this.reportStatus(connectorId);
  }

  /** Raises a ChargeX fault (CX001..CX026); a running transaction is stopped by it first. */
  async sendFault(connectorId: number, code: string): Promise<void> {
    const connector = this.connector(connectorId);
    const fault = chargeXFault(code);
    if (connector.transaction) await this.stopTransaction(connectorId, stopReasonFor(fault));
    connector.fault = fault;
    this.counters.faults++;
    this.emit('fault', { connectorId, code });
    await this.dialect.faultEvent(connector, fault, false);
    await this.reportStatus(connectorId, true);
  }

  async clearFault(connectorId: number): Promise<void> {
    const connector = this.connector(connectorId);
    const fault = connector.fault;
    if (!fault) return;
    connector.fault = undefined;
    await this.dialect.faultEvent(connector, fault, true);
    await this.reportStatus(connectorId, true);
  }

  // ---- what the CSMS's commands do (called by the dialects) ------------------------------------------------

  /** A free, operative, fault-free connector: the requested one, else the first such. */
  freeConnector(connectorId?: number): ConnectorState | undefined {
    const candidates = connectorId ? this.connectors.filter((c) => c.id === connectorId) : this.connectors;
    return candidates.find((c) => c.operative && !c.fault && !c.transaction);
  }

  /** Starts a remotely requested transaction, authorizing first when the station's configuration says so. */
  async remoteStart(
    connectorId: number,
    idTag: string,
    authorizeFirst: boolean,
    remoteStartId?: number,
  ): Promise<void> {
    if (authorizeFirst) {
      const auth = await this.authorize(idTag);
      if (!auth.accepted) return;
    }
    await this.startTransaction(connectorId, idTag, remoteStartId);
  }

  transactionById(transactionId: string): ConnectorState | undefined {
    return this.connectors.find((c) => c.transaction?.id === transactionId);
  }

  /**
   * Applies ChangeAvailability; returns 'Scheduled' when a connector to take out of service is charging,
   * in which case it becomes Unavailable once its transaction ends.
   */
  requestAvailability(connectorId: number, operative: boolean): 'Accepted' | 'Scheduled' {
    const targets = connectorId === 0 ? this.connectors : [this.connector(connectorId)];
    const busy = targets.filter((c) => c.transaction);
    if (operative || busy.length === 0) {
      for (const connector of targets) this.unavailableAfterTransaction.delete(connector.id);
      this.changeAvailability(connectorId, operative);
      return 'Accepted';
    }
    for (const connector of targets) {
      if (connector.transaction) this.unavailableAfterTransaction.add(connector.id);
      else connector.operative = false;
    }
    this.later(async () => {
      for (const connector of targets) if (!connector.transaction) await this.reportStatus(connector.id);
    });
    return 'Scheduled';
  }

  changeAvailability(connectorId: number, operative: boolean): void {
    const targets = connectorId === 0 ? this.connectors : [this.connector(connectorId)];
    for (const connector of targets) connector.operative = operative;
    this.later(async () => {
      for (const connector of targets) await this.reportStatus(connector.id);
    });
  }

  /** Reset: stop transactions (the reason says which reset), then reboot. OnIdle waits for them to end. */
  requestReset(stopReason: StopReason, whenIdle: boolean): 'Accepted' | 'Scheduled' {
    const busy = this.connectors.some((c) => c.transaction);
    if (whenIdle && busy) {
      this.resetWhenIdle = true;
      return 'Scheduled';
    }
    this.later(async () => {
      for (const connector of this.connectors) {
        if (connector.transaction) await this.stopTransaction(connector.id, stopReason).catch(() => undefined);
      }
      await this.reboot();
    });
    return 'Accepted';
  }

  /** Closes the socket, waits a moment as a rebooting charger would, reconnects and boots again. */
  private async reboot(): Promise<void> {
    this.intentionalClose = true;
    this.rpc?.close(1012, 'rebooting');
    for (const connector of this.connectors) {
      connector.plugged = connector.plugged && !connector.fault;
      connector.lastReportedStatus = undefined;
    }
    await this.sleep(this.options.secondMs);
    if (this.closed) return;
    await this.connect();
    await this.boot(this.protocol === 'ocpp1.6' ? 'PowerUp' : 'RemoteReset');
    this.emit('rebooted');
  }
}

function stopReasonFor(fault: ChargeXFault): StopReason {
  switch (fault.code) {
    case 'CX002':
      return 'GroundFault';
    case 'CX004':
      return 'OvercurrentFault';
    case 'CX008':
      return 'EmergencyStop';
    case 'CX015':
      return 'PowerLoss';
    default:
      return 'Other';
  }
}
