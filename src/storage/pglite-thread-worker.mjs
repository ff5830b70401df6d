// The embedded database's own thread: PGlite (PostgreSQL compiled to WebAssembly) parses, plans and runs
// every statement on the thread that calls it. Run here, that work uses the machine's other core instead of
// stalling the server's event loop (WebSockets, HTTP, timers) for each statement. Plain JavaScript: worker
// threads do not inherit the main thread's TypeScript loader, and this needs none.
import { parentPort, workerData } from 'node:worker_threads';
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';

/** An error's message and PostgreSQL fields (code, detail, constraint...), which survive the thread boundary. */
function describe(err) {
  const out = { message: err instanceof Error ? err.message : String(err) };
  if (err && typeof err === 'object') {
    for (const [key, value] of Object.entries(err)) {
      if (value === undefined || typeof value === 'function' || typeof value === 'object') continue;
      out[key] = value;
    }
  }
  return out;
}

let db;
try {
  if (workerData.dataDir === 'memory') db = await PGlite.create();
  else {
    mkdirSync(workerData.dataDir, { recursive: true });
    db = await PGlite.create(workerData.dataDir);
  }
  parentPort.postMessage({ ready: true });
} catch (err) {
  parentPort.postMessage({ fatal: describe(err) });
}

// Statements run in the order they arrive: a transaction's BEGIN, statements and COMMIT come from one
// connection, one at a time, and must not be reordered.
let chain = Promise.resolve();
parentPort.on('message', (msg) => {
  chain = chain.then(async () => {
    if (msg.close) {
      await db?.close();
      parentPort.postMessage({ closed: true });
      return;
    }
    try {
      const result = await db.query(msg.sql, msg.params);
      parentPort.postMessage({ id: msg.id, rows: result.rows, affectedRows: result.affectedRows ?? 0 });
    } catch (err) {
      parentPort.postMessage({ id: msg.id, error: describe(err) });
    }
  });
});
