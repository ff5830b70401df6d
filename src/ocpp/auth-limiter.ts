// Limits Basic-auth password guessing at the OCPP door. Failed password checks are counted per station
// identity, per remote address and per pair of the two, each within a window; a key that reaches its limit
// is locked for the same length of time: its attempts are refused (429) without checking the password.
//
// A lock must not let an attacker keep a genuine charger out. So the identity and address locks do not
// apply at an address where the identity has authenticated before (the last few seen here): a charger
// connecting from where it always does is not locked out by someone guessing from elsewhere. Guessing from
// the charger's own address (a shared NAT or proxy) is still limited by the pair's count, and locks that
// pair. Refused attempts are not counted, so a lock ends when its time is up; only new failures after it
// can start another.
import { systemClock, type Clock } from '../time/clock.ts';
import { isIPv6 } from 'node:net';

export interface AuthLimits {
  /** Failed passwords for one identity (and for one identity at one address) before a lock; 0: no limit. */
  identityFailures: number;
  /** Failed passwords from one address, whatever the identity, before a lock; 0: no limit. */
  addressFailures: number;
  /** The window in which failures are counted, and the length of a lock, seconds. */
  lockoutS: number;
}

interface Counter {
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

/** Addresses remembered per identity, newest last. */
const KNOWN_ADDRESSES = 4;
/** Counters kept at most; beyond, the oldest go (they are expired ones first in practice). */
const MAX_COUNTERS = 100_000;

export class AuthAttemptLimiter {
  private readonly counters = new Map<string, Counter>();
  private readonly known = new Map<string, string[]>();

  constructor(
    private readonly limits: AuthLimits,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Before a password is checked: the seconds to wait when this attempt is locked out, else undefined. */
  lockedFor(identity: string, address: string): number | undefined {
    const at = this.clock.now();
    const net = networkOf(address);
    const keys = [pairKey(identity, net)];
    if (!this.known.get(identity)?.includes(net)) keys.push(identityKey(identity), addressKey(net));
    const until = Math.max(...keys.map((k) => this.counters.get(k)?.lockedUntil ?? 0));
    return until > at ? Math.ceil((until - at) / 1000) : undefined;
  }

  /** A password was checked and was wrong. Returns the keys this failure locked, for the log. */
  failed(identity: string, address: string): string[] {
    const net = networkOf(address);
    const locked: string[] = [];
    const count = (key: string, limit: number) => {
      if (limit > 0 && this.count(key, limit)) locked.push(key);
    };
    count(identityKey(identity), this.limits.identityFailures);
    count(pairKey(identity, net), this.limits.identityFailures);
    count(addressKey(net), this.limits.addressFailures);
    return locked;
  }

  /** A password was checked and was right: this address is now one the identity is known at. */
  succeeded(identity: string, address: string): void {
    const net = networkOf(address);
    const addresses = (this.known.get(identity) ?? []).filter((a) => a !== net);
    addresses.push(net);
    this.known.set(identity, addresses.slice(-KNOWN_ADDRESSES));
  }

  /** Counts one failure; true when it starts a lock. */
  private count(key: string, limit: number): boolean {
    const at = this.clock.now();
    const windowMs = this.limits.lockoutS * 1000;
    let c = this.counters.get(key);
    if (!c || at - c.windowStart >= windowMs) {
      if (c) this.counters.delete(key); // re-inserted below: the map stays in order of last window start
      c = { failures: 0, windowStart: at, lockedUntil: c?.lockedUntil ?? 0 };
      this.counters.set(key, c);
      this.evict();
    }
    c.failures += 1;
    if (c.failures < limit) return false;
    c.lockedUntil = at + windowMs;
    c.failures = 0;
    return true;
  }

  private evict(): void {
    for (const key of this.counters.keys()) {
      if (this.counters.size <= MAX_COUNTERS) return;
      this.counters.delete(key);
    }
  }
}

const identityKey = (identity: string) => `identity ${identity}`;
const addressKey = (net: string) => `address ${net}`;
const pairKey = (identity: string, net: string) => `identity ${identity} at ${net}`;

/**
 * The unit an address is counted in: itself for IPv4, its /64 for IPv6, where one subscriber usually holds
 * a whole /64 and could otherwise guess from a fresh address each time.
 */
export function networkOf(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
