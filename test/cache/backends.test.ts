// One cache suite, run against every backend: memory://, and redis:// and nats-kv:// on the real servers.
import { randomBytes } from 'node:crypto';
import { cache, type Cache } from '../../lib/cache';
import { capturingLogger, deleteKvBuckets, deleteRedisPrefix, NATS_ENV, REDIS_URL, sleep, uniqueName } from './helpers';

const { logger } = capturingLogger('warn');

interface Backend {
  name: string;
  /** A cache on a fresh namespace; `second` opens another client on the same namespace (for races). */
  open(): { first: Cache; second: Cache };
  /** Whether set/add honour a TTL per key; if not, `defaultTtlMs` is the namespace's (NATS KV: bucket max age). */
  perKeyTtl: boolean;
  defaultTtlMs: number;
  cleanup(): Promise<void>;
}

const TTL_MS = 400;

function memoryBackend(): Backend {
  return {
    name: 'memory://',
    perKeyTtl: true,
    defaultTtlMs: TTL_MS,
    open() {
      const shared = cache(`memory://?max=1000&ttl=${TTL_MS}ms`, { logger });
      return { first: shared, second: shared };
    },
    cleanup: async () => undefined,
  };
}

function redisBackend(): Backend {
  const prefix = `${uniqueName('cache')}:`;
  return {
    name: 'redis://',
    perKeyTtl: true,
    defaultTtlMs: 0,
    open() {
      const uri = `${REDIS_URL}?prefix=${prefix}`;
      return { first: cache(uri, { logger }), second: cache(uri, { logger }) };
    },
    cleanup: () => deleteRedisPrefix(prefix),
  };
}

function natsKvBackend(): Backend {
  const bucket = uniqueName('cache');
  return {
    name: 'nats-kv://',
    perKeyTtl: false,
    defaultTtlMs: TTL_MS,
    open() {
      const uri = `nats-kv://${bucket}?ttl=${TTL_MS}ms&storage=memory`;
      return { first: cache(uri, { env: NATS_ENV, logger }), second: cache(uri, { env: NATS_ENV, logger }) };
    },
    cleanup: () => deleteKvBuckets(bucket),
  };
}

describe.each([
  ['memory://', memoryBackend],
  ['redis://', redisBackend],
  ['nats-kv://', natsKvBackend],
])('%s cache', (_label, make) => {
  const backend = make();
  let first: Cache;
  let second: Cache;

  beforeAll(async () => {
    ({ first, second } = backend.open());
    await first.connect?.();
    await second.connect?.();
  });

  afterAll(async () => {
    await first.close();
    if (second !== first) await second.close();
    await backend.cleanup();
  });

  test('connects and reports ready', () => {
    expect(first.ready ?? true).toBe(true);
    expect(first.name).toContain(backend.name.replace('//', ''));
  });

  test('get of a missing key is undefined; set then get gives the bytes back; set overwrites', async () => {
    expect(await first.get('missing')).toBeUndefined();
    await first.set('greeting', Buffer.from('hello'));
    expect((await first.get('greeting'))?.toString()).toBe('hello');
    expect((await second.get('greeting'))?.toString()).toBe('hello');
    await first.set('greeting', Buffer.from('bonjour'));
    expect((await second.get('greeting'))?.toString()).toBe('bonjour');
  });

  test('binary values, the empty value, and keys with any characters stay distinct', async () => {
    const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await first.set('bytes', everyByte);
    expect(Buffer.compare((await first.get('bytes')) as Buffer, everyByte)).toBe(0);
    await first.set('empty', Buffer.alloc(0));
    const empty = await first.get('empty');
    expect(empty).toBeDefined();
    expect(empty?.length).toBe(0);
    const keys = ['user:42', 'user.42', 'user..42', '.lead', 'trail.', 'a b/c', 'é=ü', '=C3=A9', '', '*', 'x>y', '日本'];
    for (const [index, key] of keys.entries()) await first.set(key, Buffer.from(`value ${index}`));
    for (const [index, key] of keys.entries()) expect((await second.get(key))?.toString()).toBe(`value ${index}`);
  });

  test('many concurrent gets, present and missing mixed, each get their own answer', async () => {
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? Promise.resolve() : first.set(`many-${i}`, Buffer.from(`v${i}`)))),
    );
    const answers = await Promise.all(Array.from({ length: 600 }, (_, i) => second.get(`many-${i % 100}`)));
    expect(answers.map((answer) => answer?.toString())).toEqual(
      Array.from({ length: 600 }, (_, i) => ((i % 100) % 3 === 0 ? undefined : `v${i % 100}`)),
    );
  });

  test('a 1 MiB value round-trips intact', async () => {
    const large = randomBytes(1024 * 1024);
    await first.set('large', large);
    const back = await second.get('large');
    expect(back?.length).toBe(large.length);
    expect(Buffer.compare(back as Buffer, large)).toBe(0);
  });

  test('delete removes a key, and add works on it again', async () => {
    await first.set('doomed', Buffer.from('x'));
    await first.delete('doomed');
    expect(await second.get('doomed')).toBeUndefined();
    expect(await second.add('doomed', Buffer.from('again'))).toBe(true);
    expect((await first.get('doomed'))?.toString()).toBe('again');
    await first.delete('never-set'); // deleting a missing key is not an error
  });

  test('add sets only when absent, and exactly one of many racing adds wins', async () => {
    expect(await first.add('once', Buffer.from('a'))).toBe(true);
    expect(await first.add('once', Buffer.from('b'))).toBe(false);
    expect((await first.get('once'))?.toString()).toBe('a');
    for (let round = 0; round < 5; round++) {
      const key = `race-${round}`;
      const attempts = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? first : second).add(key, Buffer.from(String(i))));
      const results = await Promise.all(attempts);
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect((await first.get(key))?.toString()).toBe(String(winner));
    }
  });

  test('entries expire after their TTL, and add succeeds again on an expired key', async () => {
    if (backend.perKeyTtl) {
      await first.set('short', Buffer.from('x'), 200);
      await first.set('long', Buffer.from('y'), 60_000);
      expect(await first.add('claim', Buffer.from('1'), 200)).toBe(true);
    } else {
      await first.set('short', Buffer.from('x'));
      expect(await first.add('claim', Buffer.from('1'))).toBe(true);
    }
    expect((await first.get('short'))?.toString()).toBe('x');
    await sleep((backend.perKeyTtl ? 200 : backend.defaultTtlMs) + 500);
    expect(await first.get('short')).toBeUndefined();
    expect(await second.get('short')).toBeUndefined();
    if (backend.perKeyTtl) expect((await first.get('long'))?.toString()).toBe('y');
    expect(await second.add('claim', Buffer.from('2'))).toBe(true);
  });

  if (backend.defaultTtlMs > 0 && backend.perKeyTtl) {
    test('entries set without a TTL take the default TTL of the URI', async () => {
      await first.set('default-ttl', Buffer.from('x'));
      await sleep(backend.defaultTtlMs + 300);
      expect(await first.get('default-ttl')).toBeUndefined();
    });
  }
});
