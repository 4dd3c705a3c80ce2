// Host calls on an asynchronous cache: asyncify suspends the module at a cache call and resumes it when the backend
// answers, a pool of instances lets several messages wait at once, and messages with the same key keep their order.
// LaterCache answers on a later turn of the event loop: a real asynchronous backend for the mechanism (the Redis and
// NATS KV backends plug in here through the same Cache interface).
import { loadWasm, type WasmModule } from '../../lib/wasm/load';
import { WasmBudgetError, WasmTrapError } from '../../lib/wasm/errors';
import { wasmFilter, wasmTransform } from '../../operators';
import { DEFAULT_POOL_SIZE, defaultPoolSize } from '../../lib/wasm/stage';
import { buildAs, LaterCache, through } from './helpers';

let nativePath: string;

beforeAll(async () => {
  nativePath = await buildAs('native.ts');
});

async function asyncModule(): Promise<WasmModule> {
  return loadWasm(nativePath, { asyncCache: true });
}

test('cache calls suspend and resume the module; results are as with a synchronous cache', async () => {
  const cache = new LaterCache();
  const module = await asyncModule();
  const inputs = [
    'cache-get:a',
    'cache-set:a=1',
    'cache-get:a',
    'cache-add:a=2',
    'cache-add:b=3',
    'cache-twice:a,b',
    'cache-del:a',
    'cache-get:a',
  ];
  const { outputs, outcomes } = await through(
    wasmTransform(module, { cache }),
    inputs.map((body) => ({ body, key: 'one-key' })),
  );
  expect(outputs.map((m) => m.text())).toEqual(['(missing)', 'set', '1', 'exists', 'added', '1|3', 'deleted', '(missing)']);
  expect(outcomes.every((outcome) => outcome === 'ack')).toBe(true);
  expect(module.stats.suspensions).toBeGreaterThanOrEqual(9);
  expect(module.stats.instantiations).toBe(1); // same key: one message at a time, one instance
});

test('a large cached value is read with the retry protocol without a second trip to the backend', async () => {
  const cache = new LaterCache();
  const big = 'x'.repeat(3000);
  cache.values.set('big', Buffer.from(big));
  const { outputs } = await through(wasmTransform(await asyncModule(), { cache }), ['cache-get:big']);
  expect(outputs[0].text()).toBe(big);
  expect(cache.gets).toBe(1);
});

test('a pool of instances lets several messages wait on the backend at once', async () => {
  const cache = new LaterCache(20);
  const module = await asyncModule();
  const inputs = Array.from({ length: 16 }, (_, i) => ({ body: `wait:${i}`, key: `k${i}` }));
  const { outputs } = await through(wasmTransform(module, { cache, poolSize: 4 }), inputs);
  expect(outputs.map((m) => m.text()).sort((a, b) => Number(a) - Number(b))).toEqual(inputs.map((_, i) => String(i)));
  // four instances waited at once on each read of the key 'wait', which went to the backend once for the four
  expect(cache.gets).toBe(4);
  expect(module.stats.suspensions).toBe(16);
  expect(module.stats.instantiations).toBe(4);
});

test("by default the pool is sized by the instances' memory: 128 of a small module, 32 to 128 of larger ones", async () => {
  const cache = new LaterCache(20);
  const module = await asyncModule();
  const inputs = Array.from({ length: 300 }, (_, i) => ({ body: `wait:${i}`, key: `k${i}` }));
  const { outputs } = await through(wasmTransform(module, { cache }), inputs);
  expect(outputs).toHaveLength(300);
  // every message waits on the backend: as many instances as the default allows for a module of this size
  expect(module.stats.instantiations).toBe(DEFAULT_POOL_SIZE.max);
  expect(defaultPoolSize(1.1 * 1024 * 1024)).toBe(58); // a Rust module's memory at start
  expect(defaultPoolSize(16 * 1024 * 1024)).toBe(DEFAULT_POOL_SIZE.min);
});

test('messages with the same key come out in their input order; different keys overlap', async () => {
  const cache = new LaterCache(2);
  const inputs: { body: string; key: string }[] = [];
  for (let i = 0; i < 30; i++) inputs.push({ body: `wait:${i % 3}-${i}`, key: `key-${i % 3}` });
  const { outputs } = await through(wasmTransform(await asyncModule(), { cache, poolSize: 3 }), inputs);
  for (const key of ['key-0', 'key-1', 'key-2']) {
    const seen = outputs.filter((m) => m.key === key).map((m) => Number(m.text().split('-')[1]));
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen).toHaveLength(10);
  }
  // one message of each key at a time, the three keys together: ten reads of three waiting instances each
  expect(cache.gets).toBe(10);
});

test('a trap after a suspension fails that message only; the budget still stops loops', async () => {
  const cache = new LaterCache();
  const module = await loadWasm(nativePath, { asyncCache: true, budget: 1_000_000 });
  const { outputs, outcomes } = await through(
    wasmTransform(module, { cache, poolSize: 2 }),
    ['wait:a', 'wait-abort', 'loop', 'wait:b'].map((body) => ({ body, key: 'k' })),
  );
  expect(outputs.map((m) => m.text())).toEqual(['a', 'b']);
  expect(outcomes[1]).toBeInstanceOf(WasmTrapError);
  expect((outcomes[1] as Error).message).toContain('gave up after waiting');
  expect(outcomes[2]).toBeInstanceOf(WasmBudgetError);
  expect(module.stats.instantiations).toBe(3);
});

test('a module without cache imports is not asyncified and runs synchronously even with an async cache', async () => {
  const module = await loadWasm(await buildAs('keep.ts'), { asyncCache: true });
  expect(module.asyncImports).toEqual([]);
  const { outputs } = await through(wasmFilter(module, { cache: new LaterCache() }), ['keep']);
  expect(outputs).toHaveLength(1);
  expect(module.stats.suspensions).toBe(0);
});

test('Go-prototype modules read an asynchronous cache by running again once the value is fetched', async () => {
  const cache = new LaterCache();
  const module = await loadWasm(await buildAs('go/dedupe.ts', ['-O3', '--runtime', 'stub', '--use', 'abort=']));
  const names = ['ann', 'ann', 'bob', 'bob', 'ann'];
  const { outputs, outcomes } = await through(
    wasmTransform(module, { cache }),
    names.map((name, i) => ({ body: `{"name":"${name}","n":${i}}`, key: 'names' })),
  );
  expect(outputs.map((m) => m.json<{ n: number }>().n)).toEqual([0, 2, 4]);
  expect(outcomes.every((outcome) => outcome === 'ack')).toBe(true);
  expect(cache.values.get('lastName')?.toString()).toBe('ann');
});
