// CACHE_URI and NATS_SERVER_URL parsing: valid forms give the right settings, bad ones a ConfigError that names the
// variable and shows a valid value.
import { parseCacheUri, cache, MemoryCache } from '../../lib/cache';
import { configError } from '../helpers/configError';
import { encodeKvKey } from '../../lib/cache/natsKv';

describe('CACHE_URI', () => {
  test('memory:// with max and ttl durations', () => {
    expect(parseCacheUri('memory://')).toEqual({ kind: 'memory', name: 'memory://', max: 100_000, ttlMs: 0 });
    expect(parseCacheUri('memory://?max=500&ttl=10s')).toMatchObject({ max: 500, ttlMs: 10_000 });
    expect(parseCacheUri('memory://?ttl=500ms')).toMatchObject({ ttlMs: 500 });
    expect(parseCacheUri('memory://?ttl=5m')).toMatchObject({ ttlMs: 300_000 });
    expect(parseCacheUri('memory://?ttl=1h')).toMatchObject({ ttlMs: 3_600_000 });
    const memory = cache('memory://?max=2');
    expect(memory).toBeInstanceOf(MemoryCache);
    expect(memory.sync).toBeDefined();
  });

  test('redis:// with credentials, database, prefix and timeout; rediss:// means TLS', () => {
    expect(parseCacheUri('redis://127.0.0.1:6379/0')).toMatchObject({
      kind: 'redis',
      host: '127.0.0.1',
      port: 6379,
      db: 0,
      prefix: '',
      tls: false,
      timeoutMs: 5000,
    });
    const full = parseCacheUri('rediss://app:s%40cret@cache.example.com:6380/3?prefix=orders:&timeout=2s');
    expect(full).toMatchObject({
      kind: 'redis',
      host: 'cache.example.com',
      port: 6380,
      db: 3,
      username: 'app',
      password: 's@cret',
      tls: true,
      prefix: 'orders:',
      timeoutMs: 2000,
    });
    expect(full.name).not.toContain('cret');
    expect(parseCacheUri('redis://:pw@localhost')).toMatchObject({ host: 'localhost', port: 6379, db: 0, password: 'pw' });
    expect(parseCacheUri('redis://localhost')).not.toHaveProperty('username');
  });

  test('nats-kv:// takes its servers from NATS_SERVER_URL and its TTL as the bucket max age', () => {
    const config = parseCacheUri('nats-kv://enrichment?ttl=1h&storage=memory&replicas=1&max_bytes=64mb', {
      env: { NATS_SERVER_URL: '0.0.0.0:4222' },
    });
    expect(config).toMatchObject({
      kind: 'nats-kv',
      bucket: 'enrichment',
      ttlMs: 3_600_000,
      storage: 'memory',
      replicas: 1,
      maxBytes: 64 * 1024 * 1024,
    });
    expect(config.kind === 'nats-kv' && config.nats.servers).toEqual(['127.0.0.1:4222']);
    expect(parseCacheUri('nats-kv://b', { env: {} })).toMatchObject({ ttlMs: 0, storage: 'file', nats: { servers: ['127.0.0.1:4222'] } });
  });

  test.each([
    ['', /not a cache URI/],
    ['redis', /not a cache URI/],
    ['memcached://127.0.0.1', /unknown cache scheme 'memcached:\/\/'/],
    ['memory://?ttl=ten', /'ten' is not a duration.*10s/],
    ['memory://?max=0', /max: '0' is not a whole number/],
    ['memory://?tll=10s', /unknown parameter 'tll' for memory:\/\/; known: max, ttl/],
    ['memory://somewhere', /memory:\/\/ takes no host or path/],
    ['redis://127.0.0.1:6379/zero', /database.*'zero' is not a whole number/],
    ['redis://127.0.0.1:99999', /not a valid URI/],
    ['redis://127.0.0.1?timeout=0', /timeout must be more than 0/],
    ['redis://127.0.0.1?keyPrefix=x', /unknown parameter 'keyPrefix' for redis:\/\/; known: prefix, timeout/],
    ['nats-kv://', /needs a bucket name/],
    ['nats-kv://bad.bucket', /needs a bucket name/],
    ['nats-kv://b?storage=disk', /storage must be file or memory/],
    ['nats-kv://b?replicas=7', /replicas: '7' is not a whole number between 1 and 5/],
  ])('%s is a ConfigError naming CACHE_URI', (uri, message) => {
    const error = configError(() => parseCacheUri(uri, { env: {} }));
    expect(error.message).toMatch(/^CACHE_URI/);
    expect(error.message).toMatch(message);
  });

  test('a password in a bad URI is not echoed', () => {
    const error = configError(() => parseCacheUri('redis://user:hunter2@127.0.0.1:99999'));
    expect(error.message).not.toContain('hunter2');
  });
});

describe('NATS KV key encoding', () => {
  test('keeps plain keys readable and maps every other key one-to-one onto valid KV keys', () => {
    expect(encodeKvKey('user.42')).toBe('user.42');
    expect(encodeKvKey('orders/7-a_b')).toBe('orders/7-a_b');
    expect(encodeKvKey('user:42')).toBe('user=3A42');
    expect(encodeKvKey('=')).toBe('=3D');
    const keys = ['', '.', '..', 'a..b', '.a', 'a.', 'a b', '=', '=3D', 'é', '日本', '😀', 'a.b', 'a=2Eb', '*', '>'];
    const encoded = keys.map(encodeKvKey);
    expect(new Set(encoded).size).toBe(keys.length);
    for (const key of encoded) {
      expect(key).toMatch(/^[-/=.\w]+$/);
      expect(key.startsWith('.') || key.endsWith('.') || key.includes('..')).toBe(false);
    }
  });
});
