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

/** Several protocol messages as one buffer: PGlite runs them in one call into the database, up to the Sync. */
function batch(...messages) {
  return Buffer.concat(messages);
}

/**
 * What PGlite's query() does (parse, describe, bind, describe, execute, sync), except that a statement the main
 * thread named (see statement-cache.ts) is parsed and described once: later runs only bind and execute, and
 * PostgreSQL reuses its plan. Each step is one call into the database with its messages up to a Sync (query()
 * makes one call per message). On an error PostgreSQL skips to the Sync, so the session is ready again.
 */
async function runPrepared(name, text, params) {
  const { serialize } = protocol;
  let types = prepared.get(name);
  if (!types) {
    const described = await db.execProtocol(
      batch(serialize.parse({ name, text }), serialize.describe({ type: 'S', name }), serialize.sync()),
      NO_SYNC,
    );
    types = parse.parseDescribeStatementResults(described.messages);
    prepared.set(name, types);
  }
  // Values as PGlite's query() serialises them: by the parameter's type, else as text.
  const values = params.map((value, i) => {
    if (value === null || value === undefined) return null;
    const serializer = db.serializers[types[i]];
    return serializer ? serializer(value) : value.toString();
  });
  const { messages } = await db.execProtocol(
    batch(
      serialize.bind({ statement: name, values }),
      serialize.describe({ type: 'P' }),
      serialize.execute({}),
      serialize.sync(),
    ),
    NO_SYNC,
  );
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
