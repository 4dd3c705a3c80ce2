// CACHE_URI in the bin: the default memory cache, a bad URI exits 2 with a one-line error, and a cache that is
// down at start-up is reported at once while the pipeline runs (and the cache is closed at the end).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { buildFromEnv } from '../../bin/cli';
import { MemoryCache } from '../../lib/cache';
import { freePort } from './helpers';
import { BIN, binEnv } from '../helpers/bin';

describe('CACHE_URI in the bin', () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'wp-cache-bin-'));
  afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));

  test('with no CACHE_URI the pipeline gets an in-memory cache', async () => {
    const built = buildFromEnv({ SINK_URI: 'stdout://' });
    expect(built.cache).toBeInstanceOf(MemoryCache);
    expect(built.description).toContain('cache memory://');
    await built.cache.close();
  });

  test('a Redis CACHE_URI builds a Redis cache without connecting yet', async () => {
    const built = buildFromEnv({ CACHE_URI: 'redis://app:secret@127.0.0.1:6379/2?prefix=p:', SINK_URI: 'stdout://' });
    expect(built.cache.name).toBe('redis://app:***@127.0.0.1:6379/2?prefix=p:');
    expect(built.cache.ready).toBe(false);
    expect(built.cache.sync).toBeUndefined();
    await built.cache.close();
  });

  test('a bad CACHE_URI exits 2 with one line naming the variable and a valid example', () => {
    const result = spawnSync(process.execPath, [BIN], {
      env: binEnv({ CACHE_URI: 'memcached://127.0.0.1:11211' }),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(
      /^wasm-pipes: CACHE_URI: unknown cache scheme 'memcached:\/\/'; use one of memory:\/\/\?max=100000&ttl=10m, redis:\/\//,
    );
  });

  test('--help lists CACHE_URI', () => {
    const result = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8', timeout: 20_000 });
    expect(result.stdout).toMatch(/CACHE_URI\s+the cache of the cache operators/);
  });

  test('a cache that is down at start-up is reported at once; the pipeline still runs and ends cleanly', async () => {
    const port = await freePort();
    const input = path.join(directory, 'in.jsonl');
    const output = path.join(directory, 'out.jsonl');
    fs.writeFileSync(input, 'one\ntwo\n');
    const result = spawnSync(process.execPath, [BIN], {
      env: binEnv({
        CACHE_URI: `redis://127.0.0.1:${port}/0`,
        SOURCE_URI: `file://${input}`,
        SINK_URI: `file://${output}?format=lines`,
      }),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`cache redis://127.0.0.1:${port}/0 is unreachable \\(.*ECONNREFUSED`));
    expect(fs.readFileSync(output, 'utf8')).toBe('one\ntwo\n');
  });
});
