// The bare-WebSocket ceiling: the least work an OCPP server could possibly do per message. It accepts any
// station on any path, JSON-parses each frame (a real server must at least do that) and answers one fixed
// CALLRESULT carrying the frame's message id. Run as its own process, like the real server, so that it gets
// its own core; the bench drives it with the same generator, frames and connection count as OpenCPO, and
// OpenCPO's throughput is reported as a fraction of this one's.
//
//   node --import tsx src/simulator/bench/ceiling-server.ts --port 9000
import { createServer } from 'node:http';
import { WebSocketServer, type RawData } from 'ws';

// One payload that reads as a valid answer for every action the generator sends: Accepted boots and
// authorizations, a transaction id for StartTransaction; extra fields are ignored by the generator.
const FIXED_PAYLOAD =
  '{"status":"Accepted","currentTime":"2025-01-01T00:00:00.000Z","interval":300,"transactionId":1,"idTagInfo":{"status":"Accepted"}}';

function portFromArgs(argv: string[]): number {
  const at = argv.indexOf('--port');
  const port = Number(at >= 0 ? argv[at + 1] : process.env.PORT);
  if (!Number.isInteger(port) || port <= 0) throw new Error('ceiling-server: pass --port <port>');
  return port;
}

const http = createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'text/plain' }).end('ok');
});
const wss = new WebSocketServer({
  server: http,
  handleProtocols: (offered) => (offered.has('ocpp1.6') ? 'ocpp1.6' : (offered.values().next().value ?? false)),
});
wss.on('connection', (ws) => {
  ws.on('message', (data: RawData) => {
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString());
    } catch {
      return;
    }
    if (Array.isArray(frame) && frame[0] === 2) ws.send(`[3,${JSON.stringify(frame[1])},${FIXED_PAYLOAD}]`);
  });
});

http.listen(portFromArgs(process.argv), '127.0.0.1');
process.on('SIGTERM', () => {
  for (const client of wss.clients) client.terminate();
  http.close(() => process.exit(0));
});
