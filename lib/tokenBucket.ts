// A token bucket and the rate syntax (`1000/s`, `60/m`, `10/100ms`), shared by everything that limits a rate: the HTTP
// source's HTTP_RATE_LIMIT today, a `rateLimit` operator later. It decides; it never sleeps or drops anything itself.
import { ConfigError } from './errors';

/** A rate as written (`count` per `periodMs`), and the same per second. */
export interface Rate {
  readonly count: number;
  readonly periodMs: number;
  readonly perSecond: number;
}

const RATE = /^(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)?\s*(ms|s|m|h)$/i;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a rate: a count, a slash, and a period with an optional amount: `1000/s`, `60/m`, `3600/h`, `10/100ms`,
 * `5/2s`. Throws a ConfigError naming `variable` for anything else (a zero count or period included).
 *
 * @example
 * parseRate('10/100ms').perSecond // 100
 */
export function parseRate(value: string, variable = 'rate'): Rate {
  const match = RATE.exec(value.trim());
  if (match !== null) {
    const count = Number(match[1]);
    const periodMs = Number(match[2] ?? 1) * UNIT_MS[match[3].toLowerCase()];
    if (count > 0 && periodMs > 0) return { count, periodMs, perSecond: (count * 1000) / periodMs };
  }
  throw new ConfigError(`'${value}' is not a rate; write a count per period, like 500/s, 60/m, 3600/h or 10/100ms`, { variable });
}

export interface TokenBucketOptions {
  /** Tokens added per second (a steady rate). */
  rate: number;
  /** Most tokens the bucket holds: how many may be taken at once after a quiet spell. Default `max(1, rate)`. */
  burst?: number;
  /** The clock, in milliseconds (tests pass their own). Default `performance.now`-like monotonic time. */
  now?: () => number;
}

/**
 * A token bucket: it starts full (`burst` tokens) and refills at `rate` tokens a second up to `burst`.
 * `take(n)` takes n tokens and returns 0 when it has them, or leaves the bucket as it is and returns how many
 * milliseconds to wait before n tokens will be there. Callers decide what waiting means: an HTTP source answers 429 with
 * Retry-After, an operator holds the message.
 *
 * @example
 * const bucket = new TokenBucket({ rate: 500, burst: 50 });
 * const waitMs = bucket.take();
 * if (waitMs > 0) response.writeHead(429, { 'Retry-After': String(Math.ceil(waitMs / 1000)) });
 */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  private readonly now: () => number;
  private tokens: number;
  private updatedAt: number;

  constructor(options: TokenBucketOptions) {
    const { rate } = options;
    if (!(Number.isFinite(rate) && rate > 0)) throw new RangeError(`a token bucket needs a rate above 0 per second, not ${rate}`);
    const burst = options.burst ?? Math.max(1, rate);
    if (!(Number.isFinite(burst) && burst >= 1)) throw new RangeError(`a token bucket needs a burst of at least 1, not ${burst}`);
    this.rate = rate;
    this.burst = burst;
    this.now = options.now ?? monotonicNow;
    this.tokens = burst;
    this.updatedAt = this.now();
  }

  /** Tokens there now (fractional while refilling). */
  get available(): number {
    this.refill();
    return this.tokens;
  }

  /**
   * Takes `n` tokens (default 1): returns 0 when taken, else the milliseconds until `n` will be there (nothing is
   * taken then). More than `burst` can never be there at once: a RangeError says so.
   */
  take(n = 1): number {
    if (!(n > 0)) throw new RangeError(`take() needs a positive number of tokens, not ${n}`);
    if (n > this.burst) throw new RangeError(`cannot take ${n} tokens at once from a bucket whose burst is ${this.burst}`);
    this.refill();
    if (this.tokens >= n) {
      this.tokens -= n;
      return 0;
    }
    // at least 1 ms: a caller that waits 0 ms would spin
    return Math.max(1, Math.ceil(((n - this.tokens) * 1000) / this.rate));
  }

  private refill(): void {
    const now = this.now();
    const elapsed = now - this.updatedAt;
    // a clock that steps back (a test's, or a wall clock) must not drain the bucket
    if (elapsed > 0) this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
    this.updatedAt = now;
  }
}

function monotonicNow(): number {
  return performance.now();
}
