// A simulated charger ready for a test: connected, booted (Accepted, or it throws), its connectors' statuses reported, quiet (no
// periodic meter values, no reconnects) and with its clock compressed unless the test says otherwise.
import { SimulatedStation, type SimulatedStationOptions } from '../../src/simulator/station.ts';
import type { OcppProtocol } from '../../src/ocpp/rpc/protocols.ts';

export async function bootedStation(
  wsBase: string,
  id: string,
  protocol: OcppProtocol,
  options: Partial<SimulatedStationOptions> = {},
): Promise<SimulatedStation> {
  const s = new SimulatedStation({
    url: wsBase,
    id,
    protocol,
    meterIntervalS: 0,
    secondMs: 1,
    autoReconnect: false,
    ...options,
  });
  s.on('problem', () => undefined);
  try {
    await s.connect();
    const status = await s.boot();
    if (status !== 'Accepted') throw new Error(`station ${id} booted ${status}, not Accepted`);
    await s.reportAllStatuses(true);
  } catch (err) {
    await s.close(); // leave no timers behind a failed start
    throw err;
  }
  return s;
}
