// Domain events inside one node: what happened, published after it is durable. Consumers (live SSE
// stream, billing on transaction end, uptime and alerts, later NATS fan-out to other nodes) subscribe
// here; producers never know who listens. Anything that must survive a crash (webhooks, e-mail) goes
// through the outbox table, not through this bus alone.
import { EventEmitter } from 'node:events';
import type { ConnectorStatus, StationEvent } from '../stations/model.ts';

export type DomainEvent =
  | { type: 'station.connected'; stationId: string; protocol: string; at: Date }
  | { type: 'station.disconnected'; stationId: string; reason: string; at: Date }
  | { type: 'station.booted'; stationId: string; reason?: string; at: Date }
  | {
      type: 'connector.status';
      stationId: string;
      evseId: number;
      connectorId: number;
      status: ConnectorStatus;
      previous?: ConnectorStatus;
      errorCode?: string;
      vendorId?: string;
      vendorErrorCode?: string;
      info?: string;
      at: Date;
    }
  | { type: 'station.event'; stationId: string; event: StationEvent; at: Date }
  | {
      type: 'transaction.started' | 'transaction.updated' | 'transaction.ended';
      transactionId: string;
      stationId: string;
      evseId: number;
      connectorId: number;
      idToken?: string;
      stopReason?: string;
      /** After this event the transaction has ended (a late event of an ended transaction says so too). */
      ended: boolean;
      /** Ended, and every event from its start to its end is in: what it costs is known. */
      eventsComplete: boolean;
      at: Date;
    }
  | {
      type: 'command.completed';
      commandId: string;
      stationId: string;
      command: string;
      status: string;
      requestedBy: string;
      at: Date;
    };

export type DomainEventType = DomainEvent['type'];

/** Each type of event above, listed once (the compiler checks the list against the union). */
const EVENT_TYPES: Record<DomainEventType, true> = {
  'station.connected': true,
  'station.disconnected': true,
  'station.booted': true,
  'connector.status': true,
  'station.event': true,
  'transaction.started': true,
  'transaction.updated': true,
  'transaction.ended': true,
  'command.completed': true,
};

/** Every type of event published on the bus (what the live event stream offers). */
export const DOMAIN_EVENT_TYPES = Object.keys(EVENT_TYPES) as DomainEventType[];
type Listener = (event: DomainEvent) => void | Promise<void>;

export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor(private readonly onListenerError: (err: Error, event: DomainEvent) => void = () => undefined) {
    this.emitter.setMaxListeners(100);
  }

  publish(event: DomainEvent): void {
    this.emitter.emit('event', event);
  }

  /** Subscribes to every event; returns the function that unsubscribes. A failing listener is reported, not fatal. */
  subscribe(listener: Listener): () => void {
    const wrapped = (event: DomainEvent) => {
      try {
        const result = listener(event);
        if (result && typeof (result as Promise<void>).catch === 'function') {
          (result as Promise<void>).catch((err: Error) => this.onListenerError(err, event));
        }
      } catch (err) {
        this.onListenerError(err as Error, event);
      }
    };
    this.emitter.on('event', wrapped);
    return () => this.emitter.off('event', wrapped);
  }
}
