// A fixed-size latency histogram with about 3% precision: cheap to record into on the hot path (no
// allocation, one array increment), and mergeable by adding counts, so each worker keeps its own and the
// parent sums them. Values are microseconds; buckets are exact below 64 µs, then 32 sub-buckets per
// power of two (the same idea as HdrHistogram, without its configurability).

const LINEAR_LIMIT = 64;
const SUB_BUCKET_BITS = 5; // 32 sub-buckets per octave
const MAX_EXPONENT = 31; // values up to 2^31 µs (about 35 minutes); larger ones are clamped
const BUCKETS = LINEAR_LIMIT + (MAX_EXPONENT - SUB_BUCKET_BITS) * (1 << SUB_BUCKET_BITS);

function bucketOf(micros: number): number {
  const v = Math.min(Math.max(0, Math.round(micros)), 2 ** MAX_EXPONENT - 1);
  if (v < LINEAR_LIMIT) return v;
  const exponent = 31 - Math.clz32(v); // >= 6
  const shift = exponent - SUB_BUCKET_BITS;
  const sub = v >>> shift; // in [32, 63]
  return LINEAR_LIMIT + (exponent - SUB_BUCKET_BITS - 1) * (1 << SUB_BUCKET_BITS) + (sub - (1 << SUB_BUCKET_BITS));
}

/** The midpoint of a bucket, in microseconds. */
function valueOf(bucket: number): number {
  if (bucket < LINEAR_LIMIT) return bucket;
  const rest = bucket - LINEAR_LIMIT;
  const exponent = Math.floor(rest / (1 << SUB_BUCKET_BITS)) + SUB_BUCKET_BITS + 1;
  const sub = (rest % (1 << SUB_BUCKET_BITS)) + (1 << SUB_BUCKET_BITS);
  const shift = exponent - SUB_BUCKET_BITS;
  return sub * 2 ** shift + 2 ** shift / 2;
}

export class LatencyHistogram {
  readonly counts: Float64Array;
  total = 0;
  /** Exact maximum, in milliseconds (the buckets would round it). */
  maxMs = 0;

  constructor(counts?: ArrayLike<number>, maxMs = 0) {
    this.counts = new Float64Array(BUCKETS);
    if (counts) {
      this.counts.set(counts);
      for (let i = 0; i < BUCKETS; i++) this.total += this.counts[i]!;
    }
    this.maxMs = maxMs;
  }

  recordMs(ms: number): void {
    this.counts[bucketOf(ms * 1000)]! += 1;
    this.total += 1;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    if (other.maxMs > this.maxMs) this.maxMs = other.maxMs;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.maxMs = 0;
  }

  /** The latency below which `fraction` (0..1) of the samples lie, in milliseconds; null when empty. */
  percentileMs(fraction: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(fraction * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(valueOf(i) / 1000, this.maxMs);
    }
    return this.maxMs;
  }

  /** A plain snapshot that survives postMessage. */
  toJSON(): { counts: number[]; maxMs: number } {
    return { counts: Array.from(this.counts), maxMs: this.maxMs };
  }

  static from(snapshot: { counts: ArrayLike<number>; maxMs: number }): LatencyHistogram {
    return new LatencyHistogram(snapshot.counts, snapshot.maxMs);
  }
}
