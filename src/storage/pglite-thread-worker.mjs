// The embedded database's own thread: PGlite (PostgreSQL compiled to WebAssembly) parses, plans and runs
// every statement on the thread that calls it. Run here, that work uses the machine's other core instead of
// stalling the server's event loop (WebSockets, HTTP, timers) for each statement. Plain JavaScript: worker
// threads do not inherit the main thread's TypeScript loader, and this needs none.
import { parentPort, workerData } from 'node:worker_threads';
import { mkdirSync } from 'node:fs';
import { PGlite, parse, protocol } from '@electric-sql/pglite';

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

const NO_SYNC = { syncToFs: false };
/** Prepared statement name → its parameter types (from Describe), once PGlite has parsed it. */
const prepared = new Map();

/**
 * What PGlite's query() does (parse, describe, bind, describe, execute, sync), except that a statement the main
 * thread named (see statement-cache.ts) is parsed and described once: later runs only bind and execute, and
 * PostgreSQL reuses its plan. Parsing and planning are most of an embedded statement's time.
 */
async function runPrepared(name, text, params) {
  const messages = [];
  try {
    let types = prepared.get(name);
    if (!types) {
      await db.execProtocol(protocol.serialize.parse({ name, text }), NO_SYNC);
      const described = await db.execProtocol(protocol.serialize.describe({ type: 'S', name }), NO_SYNC);
      types = parse.parseDescribeStatementResults(described.messages);
      prepared.set(name, types);
    }
    // Values as PGlite's query() serialises them: by the parameter's type, else as text.
    const values = params.map((value, i) => {
      if (value === null || value === undefined) return null;
      const serialize = db.serializers[types[i]];
      return serialize ? serialize(value) : value.toString();
    });
    for (const message of [
      protocol.serialize.bind({ statement: name, values }),
      protocol.serialize.describe({ type: 'P' }),
      protocol.serialize.execute({}),
    ]) {
      messages.push(...(await db.execProtocol(message, NO_SYNC)).messages);
    }
  } finally {
    messages.push(...(await db.execProtocol(protocol.serialize.sync(), NO_SYNC)).messages);
  }
  await db.syncToFs();
  return parse.parseResults(messages, db.parsers)[0];
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
      const result = msg.name ? await runPrepared(msg.name, msg.sql, msg.params) : await db.query(msg.sql, msg.params);
      parentPort.postMessage({ id: msg.id, rows: result.rows, affectedRows: result.affectedRows ?? 0 });
    } catch (err) {
      parentPort.postMessage({ id: msg.id, error: describe(err) });
    }
  });
});
