// `opencpo serve --demo` (what `npm start` runs): ten simulated chargers of both OCPP versions against
// the server just started, driver tokens they can charge with, and a note of where to look.
import type { OpenCpo } from '../app.ts';
import { Fleet } from '../simulator/fleet.ts';

/** Demo drivers: four valid cards, one blocked, one expired, so the demo shows each answer. */
const DEMO_TOKENS = [
  { idToken: '04A2B3C4D5E6F7', status: 'accepted' as const, groupId: 'FLEET-ACME' },
  { idToken: '04B1C2D3E4F5A6', status: 'accepted' as const },
  { idToken: '04C9D8E7F6A5B4', status: 'accepted' as const },
  { idToken: '04D1E2F3A4B5C6', status: 'blocked' as const },
  { idToken: '04E5F6A7B8C9D0', status: 'accepted' as const, expiresAt: new Date('2025-01-01T00:00:00Z') },
];

export interface Demo {
  fleet: Fleet;
  stop(): Promise<void>;
}

export async function startDemo(app: OpenCpo, stations = 10): Promise<Demo> {
  for (const token of DEMO_TOKENS) await app.sessions.upsertIdToken({ ...token, type: 'ISO14443' });
  // Demo time runs 20x faster than real time, so sessions start and end while you watch.
  const fleet = new Fleet({
    url: `ws://127.0.0.1:${app.port}/ocpp`,
    stations,
    protocol: 'mixed',
    prefix: 'DEMO',
    meterIntervalS: 60,
    secondMs: 50,
    staggerMs: 100,
    autonomous: { idleS: [30, 300], chargeS: [300, 1800], faultProbability: 0.05 },
  });
  await fleet.start();
  const base = `http://localhost:${app.port}`;
  // The API needs a credential: the demo (and only the demo) makes an admin key and prints it.
  const { key } = await app.access.createApiKey({ name: 'demo', role: 'admin', createdBy: 'opencpo serve --demo' });
  console.log(
    [
      '',
      `OpenCPO demo is running with ${stations} simulated chargers (OCPP 1.6J and 2.0.1, 20x real time).`,
      `  API docs:      ${base}/api/v1/docs`,
      `  Demo API key:  ${key}`,
      `  Stations:      curl -H 'Authorization: Bearer ${key}' ${base}/api/v1/stations`,
      `  Transactions:  curl -H 'Authorization: Bearer ${key}' ${base}/api/v1/transactions`,
      `  Metrics:       ${base}/metrics`,
      `  Health:        ${base}/health`,
      `  Connect a charger to ws://<this-host>:${app.port}/ocpp/<stationId>`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  return { fleet, stop: () => fleet.stop() };
}
