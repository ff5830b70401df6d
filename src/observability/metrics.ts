// Prometheus metrics, served at /metrics: connected chargers, messages by action, handling latency,
// group-commit batch sizes and rows written.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly connectedStations = new Gauge({
    name: 'opencpo_connected_stations',
    help: 'Chargers with an open OCPP connection on this node, by protocol',
    labelNames: ['protocol'] as const,
    registers: [this.registry],
  });
  readonly messages = new Counter({
    name: 'opencpo_ocpp_messages_total',
    help: 'OCPP CALLs handled, by direction, action and outcome',
    labelNames: ['direction', 'action', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly handlingSeconds = new Histogram({
    name: 'opencpo_ocpp_handling_seconds',
    help: 'Time from receiving a charger CALL to sending its answer, by action',
    labelNames: ['action'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly batchRows = new Histogram({
    name: 'opencpo_db_batch_rows',
    help: 'Rows written per group commit',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500],
    registers: [this.registry],
  });
  readonly rowsWritten = new Counter({
    name: 'opencpo_db_rows_written_total',
    help: 'Rows written by the group-commit batch writer',
    registers: [this.registry],
  });
  readonly refusedConnections = new Counter({
    name: 'opencpo_refused_connections_total',
    help: 'OCPP connection attempts refused, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly protocolErrors = new Counter({
    name: 'opencpo_ocpp_protocol_errors_total',
    help: 'Malformed or invalid frames received',
    registers: [this.registry],
  });

  constructor(withDefaults = true) {
    if (withDefaults) collectDefaultMetrics({ register: this.registry });
  }
}
