// Schema-valid OCPP requests generated from the official OCA schemas (seeded, so runs repeat), for tests that
// sweep every charger-initiated action.
import { readFileSync } from 'node:fs';
import { generate } from 'json-schema-faker';
import { schemaFile, validatePayload } from '../../src/ocpp/rpc/schemas.ts';
import type { OcppProtocol } from '../../src/ocpp/rpc/protocols.ts';

/** The generator trips over one nested enum of this schema; a hand-written valid request stands in. */
const HAND_WRITTEN: Record<string, unknown> = {
  'ocpp2.0.1 ReportChargingProfiles': {
    requestId: 1,
    chargingLimitSource: 'CSO',
    evseId: 1,
    chargingProfile: [
      {
        id: 1,
        stackLevel: 0,
        chargingProfilePurpose: 'TxDefaultProfile',
        chargingProfileKind: 'Absolute',
        chargingSchedule: [{ id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] }],
      },
    ],
  },
};

/**
 * Up to `count` distinct schema-valid requests for an action (and the hand-written one, if any). `optionals`: the
 * probability of each optional field, alternating with none when not given.
 */
export async function validRequests(
  protocol: OcppProtocol,
  action: string,
  count: number,
  optionals?: number,
): Promise<unknown[]> {
  const docs = JSON.parse(readFileSync(schemaFile(protocol), 'utf8')) as { $id: string }[];
  const {
    $id: _id,
    $schema: _schema,
    ...schema
  } = docs.find((d) => d.$id === `urn:${action}.req`) as Record<string, unknown>;
  const found: unknown[] = [];
  for (let seed = 1; seed <= 40 && found.length < count; seed++) {
    const optionalsProbability = optionals ?? (seed % 2 ? 0 : 0.6);
    const payload = await generate(schema as never, { seed, optionalsProbability, maxItems: 2 });
    try {
      validatePayload(protocol, action, 'req', payload);
      found.push(payload);
    } catch {
      // the generator produced something the schema rejects: try the next seed
    }
  }
  const hand = HAND_WRITTEN[`${protocol} ${action}`];
  if (hand) found.push(hand);
  return found;
}
