// A load worker thread: holds its slice of simulated chargers (thousands per worker are fine), opens their
// connections at the configured rate, and follows the main thread's phase commands. Progress goes up four
// times a second; latency histograms go up at the end of each measured window.
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { LoadContext } from './load-context.ts';
import { SimulatedCharger } from './simulated-charger.ts';
import type { FromWorker, LoadWorkerConfig, ToWorker } from './worker-protocol.ts';

const PROGRESS_EVERY_MS = 250;
const CONNECT_TICK_MS = 10;

const port = parentPort;
if (!port) throw new Error('load-worker.ts must run as a worker thread');
const config = workerData as LoadWorkerConfig;
const ctx = new LoadContext(config);
const chargers = config.stationIds.map((id) => new SimulatedCharger(ctx, id));

function post(message: FromWorker): void {
  port!.postMessage(message);
}

function postProgress(): void {
  post({
    type: 'progress',
    workerIndex: config.workerIndex,
    connected: ctx.connected,
    accepted: ctx.accepted,
    answered: ctx.answered,
    errors: ctx.errors,
    firstConnectAt: ctx.firstConnectAt,
    lastAcceptedAt: ctx.lastAcceptedAt,
  });
}

/** Opens all connections at once (storm) or a few every tick, so that N/rate seconds spread them evenly. */
function connectAll(): void {
  if (config.connectsPerSecond <= 0) {
    for (const charger of chargers) charger.connect();
    return;
  }
  let next = 0;
  const started = performance.now();
  const tick = setInterval(() => {
    const due = Math.min(chargers.length, Math.ceil(((performance.now() - started) / 1000) * config.connectsPerSecond));
    for (; next < due; next++) chargers[next]!.connect();
    if (next >= chargers.length) clearInterval(tick);
  }, CONNECT_TICK_MS);
  // The first batch goes at once, so small runs do not wait a tick.
  chargers[next++]?.connect();
}

function toRecord(map: Map<string, number>): Record<string, number> {
  return Object.fromEntries(map);
}

const progressTimer = setInterval(postProgress, PROGRESS_EVERY_MS);
const timeoutSweep = setInterval(() => {
  const now = performance.now();
  for (const charger of chargers) charger.checkTimeout(now);
}, 1000);

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'load-start':
      ctx.running = true;
      ctx.paceMs = message.paceMs;
      ctx.paceEpoch++;
      for (const charger of chargers) charger.kick();
      return;
    case 'boot-report':
      post({
        type: 'boot',
        workerIndex: config.workerIndex,
        histogram: ctx.bootLatency.toJSON(),
        errorKinds: toRecord(ctx.errorKinds),
        errorSamples: ctx.errorSamples,
      });
      return;
    case 'load-stop':
      ctx.running = false;
      return;
    case 'window-begin':
      ctx.beginWindow();
      return;
    case 'window-end':
      ctx.inWindow = false;
      post({
        type: 'window',
        workerIndex: config.workerIndex,
        answered: ctx.windowAnswered,
        errors: ctx.windowErrors,
        errorKinds: toRecord(ctx.windowErrorKinds),
        histogram: ctx.windowLatency.toJSON(),
        byKind: ctx.windowLatencyByKind.map((h) => h.toJSON()),
      });
      return;
    case 'close':
      void closeAll();
      return;
  }
});

async function closeAll(): Promise<void> {
  ctx.running = false;
  ctx.closing = true;
  for (const charger of chargers) charger.close();
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline && chargers.some((c) => !c.isClosed)) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  clearInterval(progressTimer);
  clearInterval(timeoutSweep);
  postProgress();
  post({ type: 'closed', workerIndex: config.workerIndex });
}

connectAll();
