// The token bucket and the rate syntax of lib/tokenBucket.ts, on an injected clock (nothing here waits).
import { TokenBucket, parseRate } from '../../lib/tokenBucket';
import { ConfigError } from '../../lib/errors';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000;
  return { now: () => time, advance: (ms) => void (time += ms) };
}

describe('TokenBucket', () => {
  test('starts full: a burst goes through at once, then take() says how long to wait for the next token', () => {
    const time = clock();
    const bucket = new TokenBucket({ rate: 10, burst: 3, now: time.now });
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 0]);
    expect(bucket.take()).toBe(100);
    time.advance(40);
    expect(bucket.take()).toBe(60);
    time.advance(60);
    expect(bucket.take()).toBe(0);
    expect(bucket.take()).toBe(100);
  });

  test('a refused take() takes nothing; take(n) waits for n tokens', () => {
    const time = clock();
    const bucket = new TokenBucket({ rate: 2, burst: 4, now: time.now });
    expect(bucket.take(4)).toBe(0);
    expect(bucket.take(2)).toBe(1000);
    expect(bucket.take(2)).toBe(1000);
    time.advance(500);
    expect(bucket.take(2)).toBe(500);
    time.advance(500);
    expect(bucket.take(2)).toBe(0);
    expect(bucket.available).toBe(0);
  });

  test('refills up to the burst, never beyond, and a clock stepping back drains nothing', () => {
    const time = clock();
    const bucket = new TokenBucket({ rate: 100, burst: 5, now: time.now });
    expect(bucket.take(5)).toBe(0);
    time.advance(60_000);
    expect(bucket.available).toBe(5);
    time.advance(-10_000);
    expect(bucket.available).toBe(5);
  });

  test('holds the rate over time: 1 000 takes at 500/s with a burst of 1 need 2 s of clock', () => {
    const time = clock();
    const bucket = new TokenBucket({ rate: 500, burst: 1, now: time.now });
    let taken = 0;
    while (taken < 1000) {
      const wait = bucket.take();
      if (wait === 0) taken++;
      else time.advance(wait);
    }
    // the first token was there at once
    expect(time.now() - 1_000).toBe(1998);
  });

  test('the default burst is the rate per second (at least 1); bad arguments are RangeErrors', () => {
    expect(new TokenBucket({ rate: 50 }).burst).toBe(50);
    expect(new TokenBucket({ rate: 0.5 }).burst).toBe(1);
    expect(() => new TokenBucket({ rate: 0 })).toThrow(RangeError);
    expect(() => new TokenBucket({ rate: 10, burst: 0.5 })).toThrow(RangeError);
    expect(() => new TokenBucket({ rate: 10, burst: 2 }).take(3)).toThrow('cannot take 3 tokens at once from a bucket whose burst is 2');
    expect(() => new TokenBucket({ rate: 10 }).take(0)).toThrow(RangeError);
  });
});

describe('parseRate', () => {
  test.each([
    ['1000/s', 1000, 1000, 1000],
    ['60/m', 60, 60_000, 1],
    ['3600/h', 3600, 3_600_000, 1],
    ['10/100ms', 10, 100, 100],
    ['5/2s', 5, 2000, 2.5],
    [' 2.5 / s ', 2.5, 1000, 2.5],
  ])('%s', (text, count, periodMs, perSecond) => {
    expect(parseRate(text)).toEqual({ count, periodMs, perSecond });
  });

  test.each(['fast', '100', '0/s', '10/0s', '-1/s', '10/d', '10 per second'])(
    '%s is refused with a ConfigError naming the variable',
    (text) => {
      expect(() => parseRate(text, 'HTTP_RATE_LIMIT')).toThrow(ConfigError);
      expect(() => parseRate(text, 'HTTP_RATE_LIMIT')).toThrow(
        `HTTP_RATE_LIMIT: '${text}' is not a rate; write a count per period, like 500/s`,
      );
    },
  );
});
