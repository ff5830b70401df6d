// A bare WebSocket charger for tests that must send exactly the bytes they choose (malformed frames,
// oversized frames) and see exactly what comes back.
import WebSocket from 'ws';

export interface RawCharger {
  ws: WebSocket;
  /** Sends text and resolves with the next frame received, parsed. */
  exchange(text: string): Promise<unknown[]>;
  call(action: string, payload: unknown): Promise<unknown[]>;
  close(): Promise<void>;
}

let counter = 0;

export function openRaw(
  url: string,
  protocol: string | string[],
  headers: Record<string, string> = {},
): Promise<RawCharger> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocol, { headers });
    const inbox: unknown[][] = [];
    const waiting: ((frame: unknown[]) => void)[] = [];
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as unknown[];
      const next = waiting.shift();
      if (next) next(frame);
      else inbox.push(frame);
    });
    const nextFrame = () =>
      new Promise<unknown[]>((res, rej) => {
        const queued = inbox.shift();
        if (queued) return res(queued);
        const timer = setTimeout(() => rej(new Error('no answer within 5 s')), 5000);
        waiting.push((f) => {
          clearTimeout(timer);
          res(f);
        });
      });
    ws.once('open', () =>
      resolve({
        ws,
        exchange(text) {
          ws.send(text);
          return nextFrame();
        },
        call(action, payload) {
          ws.send(JSON.stringify([2, `t${++counter}`, action, payload]));
          return nextFrame();
        },
        close() {
          return new Promise((res) => {
            if (ws.readyState === ws.CLOSED) return res();
            ws.once('close', () => res());
            ws.close();
          });
        },
      }),
    );
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}
