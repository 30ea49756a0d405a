/**
 * Token buckets per key (a client address), in this process's memory. Each key holds up to
 * `burst` tokens and regains `perSecond` tokens a second; a request takes one. The map is
 * bounded: the least recently used keys are forgotten first (a forgotten key starts full).
 */
export interface RateLimit {
  /** Requests a client may make at once. */
  burst: number;
  /** Sustained requests per second. */
  perSecond: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(
    readonly limit: RateLimit,
    options: { maxKeys?: number; now?: () => number } = {},
  ) {
    if (!(limit.burst >= 1) || !(limit.perSecond > 0)) throw new Error('a rate limit needs burst >= 1 and perSecond > 0');
    this.maxKeys = options.maxKeys ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  /** Takes a token for `key`: 0 when granted, otherwise the seconds (at least 1) until one is available. */
  take(key: string): number {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.limit.burst, at: now };
    this.buckets.delete(key);
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limit.perSecond);
    bucket.at = now;
    let wait = 0;
    if (bucket.tokens >= 1) bucket.tokens -= 1;
    else wait = Math.max(1, Math.ceil((1 - bucket.tokens) / this.limit.perSecond));
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    return wait;
  }
}
