// /metrics counts a module's cache reads and its calls whatever the cache backend: with redis:// the reads go to
// the backend in batches (MGET) and the calls wait on it, and both used to be missing from /metrics (issue 19 item 13).
import path from 'node:path';
import { BinProcess } from '../helpers/bin';
import { buildExample } from './helpers';
import { capturingLogger, deleteRedisPrefix, freePort, REDIS_URL, uniqueName } from '../cache/helpers';
import { cache } from '../../lib/cache';

const USERS = 10;
const MESSAGES = 2 * USERS; // half of them about a user with a profile (a hit), half not (a miss)

let enrich: string;
beforeAll(async () => {
  enrich = await buildExample('enrich', 'as', 'enrich.ts');
});

/** The value of the sample `name{labels...}` whose labels include every one of `labels`. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([label, value]) => inside.includes(`${label}="${value}"`))) {
      return Number(line.slice(line.lastIndexOf('}') + 1).trim());
    }
  }
  return undefined;
}

describe.each([
  { backend: 'memory://', uri: () => 'memory://' },
  { backend: 'redis://', uri: (prefix: string) => `${REDIS_URL}?prefix=${prefix}` },
])('CACHE_URI=$backend', ({ backend, uri }) => {
  test('module cache reads (hits and misses) and module calls show in /metrics', async () => {
    const prefix = `${uniqueName('wasm_metrics')}:`;
    const [sourcePort, adminPort] = [await freePort(), await freePort()];
    const cacheUri = uri(prefix);
    const profiles = backend === 'redis://' ? cache(cacheUri, { logger: capturingLogger('error').logger }) : undefined;
    for (let i = 0; i < USERS && profiles !== undefined; i++) await profiles.set(`profile:u${i}`, Buffer.from(`{"name":"user ${i}"}`));
    const bin = new BinProcess({
      LOG_LEVEL: 'info', // bin.started() waits for the 'wasm-pipes started' line
      LOG_FORMAT: 'json',
      SOURCE_URI: `http://127.0.0.1:${sourcePort}/events`,
      SINK_URI: 'stdout://?format=lines',
      CACHE_URI: cacheUri,
      WASM_MODULE: enrich,
      ADMIN_PORT: String(adminPort),
      STATS_INTERVAL: '0',
    });
    try {
      await waitForAdmin(adminPort, bin);
      for (let i = 0; i < MESSAGES; i++) {
        // memory:// starts empty, so that every read misses there; redis:// has the first USERS profiles
        const response = await fetch(`http://127.0.0.1:${sourcePort}/events`, {
          method: 'POST',
          body: JSON.stringify({ user: `u${i}`, amount: i }),
        });
        expect(response.status).toBe(200);
      }
      const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      const cacheName = cacheUri; // the cache label is CACHE_URI, secrets redacted
      const hits = sample(text, 'wasm_pipes_cache_hits_total', { cache: cacheName }) ?? 0;
      const misses = sample(text, 'wasm_pipes_cache_misses_total', { cache: cacheName }) ?? 0;
      expect({ hits, misses }).toEqual(backend === 'memory://' ? { hits: 0, misses: MESSAGES } : { hits: USERS, misses: MESSAGES - USERS });
      if (backend === 'redis://') {
        // the reads of waiting instances go out together (MGET), and the module's writes one by one
        expect(sample(text, 'wasm_pipes_cache_operation_seconds_count', { cache: cacheName, op: 'get_many' })).toBeGreaterThan(0);
      }
      expect(sample(text, 'wasm_pipes_wasm_call_seconds_count', { stage: `wasmTransform(${path.basename(enrich)})` })).toBe(MESSAGES);
      expect(bin.stdout.split('\n').filter((line) => line.includes('"profile"'))).toHaveLength(backend === 'memory://' ? 0 : USERS);
    } finally {
      await bin.terminate();
      await profiles?.close();
      await deleteRedisPrefix(prefix);
    }
  });
});

async function waitForAdmin(port: number, bin: BinProcess): Promise<void> {
  await bin.started();
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/ping`)).ok) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
