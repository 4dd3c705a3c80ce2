// The prefetch hint of the wasm operators, on an asynchronous cache: the keys it names are fetched in batches before
// the module runs, which then reads them without suspending. It is only a hint: wrong keys, a hint that throws, or a
// prefetch read that fails change nothing in the results. (The real backends run it in cacheBackends.test.ts.)
import { loadWasm, type WasmModule } from '../../lib/wasm/load';
import type { Message } from '../../lib/message';
import { wasmTransform } from '../../operators';
import { buildAs, LaterCache, through } from './helpers';

let countPath: string;
let goCountPath: string;

beforeAll(async () => {
  [countPath, goCountPath] = await Promise.all([
    buildAs('count.ts'),
    buildAs('go/count.ts', ['-O3', '--runtime', 'stub', '--use', 'abort=']),
  ]);
});

const NAMES = ['ann', 'bob', 'cy'];
const INPUTS = Array.from({ length: 30 }, (_, i) => ({ body: NAMES[(i * 2 + (i >> 2)) % 3], key: NAMES[(i * 2 + (i >> 2)) % 3] }));

function expectedOutputs(): string[] {
  const seen = new Map<string, number>();
  return INPUTS.map(({ body }) => {
    seen.set(body, (seen.get(body) ?? 0) + 1);
    return `${body}=${seen.get(body)}`;
  });
}

/** Outputs grouped by key, each group in its order: what per-key ordering promises. */
function perKey(outputs: string[]): Record<string, string[]> {
  const grouped: Record<string, string[]> = {};
  for (const output of outputs) (grouped[output.split('=')[0]] ??= []).push(output);
  return grouped;
}

/** The hint of the count module: the counter of the message's own name. */
const ownCounter = (m: Message): string => `count:${m.text()}`;

/**
 * Runs the count module at `modulePath` over INPUTS on a LaterCache, each message hinting its own counter: every
 * message is acked, and each name counted up in order.
 */
async function countInputs(modulePath: string): Promise<{ module: WasmModule; cache: LaterCache }> {
  const cache = new LaterCache();
  const module = await loadWasm(modulePath);
  const { outputs, outcomes } = await through(wasmTransform(module, { cache, prefetch: ownCounter }), INPUTS);
  expect(outcomes.every((outcome) => outcome === 'ack')).toBe(true);
  expect(perKey(outputs.map((m) => m.text()))).toEqual(perKey(expectedOutputs()));
  return { module, cache };
}

/** A LaterCache whose reads of some keys fail a number of times first (a backend error). */
class FailingReads extends LaterCache {
  constructor(private readonly failures: Map<string, number>) {
    super();
  }
  override get(key: string): Promise<Buffer | undefined> {
    const left = this.failures.get(key) ?? 0;
    if (left > 0) {
      this.failures.set(key, left - 1);
      this.gets++;
      return new Promise((_, reject) => setImmediate(() => reject(new Error(`read of ${key} failed`))));
    }
    return super.get(key);
  }
}

test('the keys a hint names are read before the module runs, which then waits only for its writes; exact counts', async () => {
  const { module, cache } = await countInputs(countPath);
  // each message waits only for its cache_set, one message of each name at a time
  expect(module.stats.suspensions).toBe(INPUTS.length);
  expect(module.stats.instantiations).toBe(NAMES.length);
  // one read per message (30), never more: a message's key is read once the previous message of its key is done
  expect(cache.gets).toBe(INPUTS.length);
});

test('a hint that names other keys, or throws, changes nothing but speed', async () => {
  const cache = new LaterCache();
  const module = await loadWasm(countPath);
  let calls = 0;
  const { outputs, outcomes } = await through(
    wasmTransform(module, {
      cache,
      prefetch: (m) => {
        calls++;
        if (m.text() === 'bob') throw new Error('no hint for bob');
        return ['unrelated', `elsewhere:${m.text()}`];
      },
    }),
    INPUTS,
  );
  expect(calls).toBe(INPUTS.length);
  expect(outcomes.every((outcome) => outcome === 'ack')).toBe(true);
  expect(perKey(outputs.map((m) => m.text()))).toEqual(perKey(expectedOutputs()));
  expect(module.stats.suspensions).toBe(INPUTS.length * 2); // the module read its own key: get + set each
});

test('a prefetch read that fails is left to the module, which reads the key itself', async () => {
  const cache = new FailingReads(new Map([['count:ann', 1]]));
  cache.values.set('count:ann', Buffer.from('5'));
  const module = await loadWasm(countPath);
  const { outputs, outcomes } = await through(wasmTransform(module, { cache, prefetch: ownCounter }), [
    { body: 'ann', key: 'ann' },
    { body: 'ann', key: 'ann' },
  ]);
  expect(outcomes).toEqual(['ack', 'ack']);
  expect(outputs.map((m) => m.text())).toEqual(['ann=6', 'ann=7']);
  // the first message's prefetch read failed, so the module read the key again (and waited for it)
  expect(module.stats.suspensions).toBe(3);
});

test('a message reads what it wrote itself, after the prefetch', async () => {
  const cache = new LaterCache();
  cache.values.set('count:ann', Buffer.from('41'));
  const module = await loadWasm(countPath);
  // the same message twice in a row, same key: the second prefetch happens after the first wrote 42
  const { outputs } = await through(wasmTransform(module, { cache, prefetch: ownCounter }), [
    { body: 'ann', key: 'ann' },
    { body: 'ann', key: 'ann' },
  ]);
  expect(outputs.map((m) => m.text())).toEqual(['ann=42', 'ann=43']);
  expect(cache.values.get('count:ann')?.toString()).toBe('43');
});

test('Go-prototype modules read prefetched keys at once, without running twice', async () => {
  const { module, cache } = await countInputs(goCountPath);
  expect(module.stats.suspensions).toBe(0);
  expect(cache.gets).toBe(INPUTS.length);
});

test('a hint of several keys serves each of them, not only the first', async () => {
  const cache = new LaterCache();
  const module = await loadWasm(countPath);
  const { outputs, outcomes } = await through(wasmTransform(module, { cache, prefetch: (m) => ['unrelated', ownCounter(m)] }), INPUTS);
  expect(outcomes.every((outcome) => outcome === 'ack')).toBe(true);
  expect(perKey(outputs.map((m) => m.text()))).toEqual(perKey(expectedOutputs()));
  expect(module.stats.suspensions).toBe(INPUTS.length); // the module's own key, second in the hint, did not wait
});

test('a key template as the hint reads the keys it makes, as the function does', async () => {
  const cache = new LaterCache();
  const module = await loadWasm(countPath);
  const inputs = INPUTS.map(({ body, key }) => ({ body, key, metadata: { name: body } }));
  const { outputs, outcomes } = await through(wasmTransform(module, { cache, prefetch: 'count:{metadata.name}' }), inputs);
  expect(outcomes.every((outcome) => outcome === 'ack')).toBe(true);
  expect(perKey(outputs.map((m) => m.text()))).toEqual(perKey(expectedOutputs()));
  expect(module.stats.suspensions).toBe(INPUTS.length); // only the writes wait: every read was fetched before
});

test('a prefetch option that is neither a template nor a function is a ConfigError when the operator is made', () => {
  expect(() => wasmTransform(countPath, { prefetch: 42 as unknown as () => string })).toThrow(
    /prefetch must be a key template .* or a function/,
  );
  expect(() => wasmTransform(countPath, { prefetch: 'count:x' })).toThrow(
    /prefetch: 'count:x' has no placeholder; write keys like profile:\{json\.user\}/,
  );
});
