// `opencpo serve` as a separate process, for tests that kill it (SIGKILL) and start it again on the same data.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `opencpo serve` on the port and storage given and resolves once /health answers. */
export async function startServe(
  port: number,
  storage: { data?: string; databaseUrl?: string },
  logLevel = 'warn',
): Promise<ChildProcess> {
  const args = ['bin/opencpo.js', 'serve', '--port', String(port), '--host', '127.0.0.1', '--accept-unknown-stations'];
  if (storage.data) args.push('--data', storage.data);
  // The child is a server, not a test: it must not inherit the test runner's context.
  const { NODE_TEST_CONTEXT: _context, ...inherited } = process.env;
  const env = { ...inherited, LOG_LEVEL: logLevel, DATABASE_URL: storage.databaseUrl ?? '' };
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
  // A first start on a new PGlite directory takes seconds, many more on a loaded machine: wait long, but not for
  // a child that has already exited.
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.ok) return child;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('server did not become healthy');
}

/** Resolves when the process has ended; a child killed by a signal has signalCode set and exitCode null. */
export const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
  );
