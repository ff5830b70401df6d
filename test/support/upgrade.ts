// A WebSocket upgrade request sent exactly as written (no URL normalisation, unlike a WebSocket client,
// which would turn /ocpp/%2e%2e into /), from a chosen local address: the admission answer's status.
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';

export interface UpgradeAnswer {
  /** 101 when the server accepted the WebSocket. */
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

export function upgradeStatus(
  port: number,
  path: string,
  options: { protocol?: string; headers?: Record<string, string>; localAddress?: string } = {},
): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      localAddress: options.localAddress,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        'Sec-WebSocket-Protocol': options.protocol ?? 'ocpp1.6',
        ...options.headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('error', reject);
    req.end();
  });
}
