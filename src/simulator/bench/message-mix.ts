// Which message a simulated charger sends next, chosen per message by weight. A 100-slot lookup table makes
// the choice one random number and one array read.

export const MessageKind = {
  Heartbeat: 0,
  MeterValues: 1,
  StatusNotification: 2,
  Authorize: 3,
  /** StartTransaction on an idle connector, StopTransaction on a charging one: together they form pairs. */
  StartOrStop: 4,
} as const;
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind];

/** The kinds' names, indexed by MessageKind: the names of the mix's weights, in --mix and in reports. */
export const KIND_NAMES = ['heartbeat', 'meterValues', 'statusNotification', 'authorize', 'startOrStop'] as const;

export type MixWeights = Record<(typeof KIND_NAMES)[number], number>;

/** A realistic share of traffic for a busy site: mostly keep-alives and metering, few session events. */
export const DEFAULT_MIX: MixWeights = {
  heartbeat: 50,
  meterValues: 30,
  statusNotification: 10,
  authorize: 5,
  startOrStop: 5,
};

const SLOTS = 100;

export class MessageMix {
  private readonly table = new Uint8Array(SLOTS);

  constructor(weights: MixWeights = DEFAULT_MIX) {
    const entries = KIND_NAMES.map((name, kind): [MessageKind, number] => [kind as MessageKind, weights[name]]);
    const sum = entries.reduce((acc, [, w]) => acc + w, 0);
    if (!(sum > 0)) throw new Error('message mix weights must add up to more than 0');
    let slot = 0;
    let cumulative = 0;
    for (const [kind, weight] of entries) {
      cumulative += weight;
      const end = Math.round((cumulative / sum) * SLOTS);
      for (; slot < end; slot++) this.table[slot] = kind;
    }
  }

  pick(): MessageKind {
    return this.table[(Math.random() * SLOTS) | 0] as MessageKind;
  }
}

/** Reads `heartbeat=50,meterValues=30,...` (names as in MixWeights; unnamed kinds weigh 0). */
export function parseMix(spec: string): MixWeights {
  const weights = Object.fromEntries(KIND_NAMES.map((name) => [name, 0])) as MixWeights;
  for (const part of spec.split(',')) {
    const [name, raw] = part.split('=').map((s) => s.trim());
    const value = Number(raw);
    if (!name || !(name in weights) || !Number.isFinite(value) || value < 0) {
      throw new Error(`bad mix entry "${part}": use name=weight with names ${Object.keys(weights).join(', ')}`);
    }
    weights[name as keyof MixWeights] = value;
  }
  return weights;
}
