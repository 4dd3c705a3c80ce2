// The native ABI v1 through wasmTransform and wasmFilter: outputs, settlement, metadata, keys, config, the cache.
import { loadWasm, type WasmModule } from '../../lib/wasm/load';
import { WasmModuleError, WasmTrapError } from '../../lib/wasm/errors';
import { MemoryCache } from '../../lib/cache/memory';
import { wasmTransform, wasmFilter } from '../../operators';
import { DEAD_LETTER_REASON } from '../../lib/deadLetter';
import { collectingSink } from '../helpers/endpoints';
import { buildAs, through } from './helpers';
import { capturingLogger } from '../helpers/wait';

let native: WasmModule;
let keep: WasmModule;

beforeAll(async () => {
  native = await loadWasm(await buildAs('native.ts'));
  keep = await loadWasm(await buildAs('keep.ts'));
});

test('a transform emits what the module emits, on one reused instance', async () => {
  const before = native.stats.instantiations;
  const { outputs, outcomes } = await through(
    wasmTransform(native),
    Array.from({ length: 200 }, (_, i) => `upper:message ${i}`),
  );
  expect(outputs.map((m) => m.text())).toEqual(Array.from({ length: 200 }, (_, i) => `MESSAGE ${i}`));
  expect(outcomes.every((outcome) => outcome === 'ack')).toBe(true);
  expect(native.stats.instantiations - before).toBe(1);
});

test('one output keeps the input id; N outputs share its settlement and carry their own key and metadata', async () => {
  const transform = wasmTransform(native);
  const single = await through(transform, [{ id: 'one', body: 'plain' }]);
  expect(single.outputs[0].id).toBe('one');

  const { outputs, outcomes } = await through(transform, [{ id: 'p', body: 'split:a,b,c', key: 'original' }], false);
  expect(outputs.map((m) => [m.id, m.text(), m.key, m.metadata.part])).toEqual([
    ['p:0', 'a', 'a', '0'],
    ['p:1', 'b', 'b', '1'],
    ['p:2', 'c', 'c', '2'],
  ]);
  expect(outcomes[0]).toBeUndefined();
  outputs[0].ack();
  outputs[2].ack();
  expect(outcomes[0]).toBeUndefined(); // not until every output is acked
  outputs[1].ack();
  await new Promise((resolve) => setImmediate(resolve));
  expect(outcomes[0]).toBe('ack');
});

test('an output nack nacks the input', async () => {
  const { outputs, outcomes } = await through(wasmTransform(native), ['split:x,y'], false).then(async (result) => result);
  outputs[1].nack(new Error('sink refused'));
  outputs[0].ack();
  expect((outcomes[0] as Error).message).toBe('sink refused');
});

test('zero outputs ack the input', async () => {
  const { outputs, outcomes } = await through(wasmTransform(native), ['drop', 'kept']);
  expect(outputs.map((m) => m.text())).toEqual(['kept']);
  expect(outcomes).toEqual(['ack', 'ack']);
});

test('a negative status nacks that message only, with the reason the module gave', async () => {
  const { outputs, outcomes } = await through(wasmTransform(native), ['a', 'fail', 'status', 'b']);
  expect(outputs.map((m) => m.text())).toEqual(['a', 'b']);
  expect(outcomes[0]).toBe('ack');
  expect(outcomes[1]).toBeInstanceOf(WasmModuleError);
  expect((outcomes[1] as Error).message).toContain('asked to fail');
  expect((outcomes[2] as WasmModuleError).status).toBe(-7);
  expect(outcomes[3]).toBe('ack');
});

test('an AssemblyScript abort traps with the module message; the next message runs on a new instance', async () => {
  const module = await loadWasm(await buildAs('native.ts'));
  const { outputs, outcomes } = await through(wasmTransform(module), ['before', 'abort', 'after']);
  expect(outputs.map((m) => m.text())).toEqual(['before', 'after']);
  expect(outcomes[1]).toBeInstanceOf(WasmTrapError);
  expect((outcomes[1] as Error).message).toContain('the module gave up');
  expect(module.stats.instantiations).toBe(2);
  expect(module.stats.traps).toBe(1);
});

test('metadata and key: read the input, set and delete for the outputs', async () => {
  const { outputs } = await through(wasmTransform(native), [
    { body: 'meta', metadata: { in: 'x', 'drop-me': '1', other: 'kept' } },
    { body: 'key', key: 'k1' },
  ]);
  expect(outputs[0].metadata).toEqual({ in: 'x', out: 'x!', other: 'kept' });
  expect(outputs[1].text()).toBe('k1');
  expect(outputs[1].key).toBe('k1');
  expect(outputs[2].text()).toBe('unkeyed');
  expect(outputs[2].key).toBeUndefined();
});

test('config values are readable; missing ones are -1', async () => {
  const configured = await through(wasmTransform(native, { config: { greeting: 'hello' } }), ['config']);
  expect(configured.outputs[0].text()).toBe('hello');
  const unconfigured = await through(wasmTransform(native), ['config']);
  expect(unconfigured.outputs[0].text()).toBe('(none)');
});

test('cache get/set/add/delete reach the cache, including values larger than the first buffer', async () => {
  const cache = new MemoryCache();
  const big = 'v'.repeat(5000);
  const { outputs } = await through(wasmTransform(native, { cache }), [
    'cache-get:a',
    'cache-set:a=1',
    'cache-get:a',
    'cache-add:a=2',
    'cache-add:b=3',
    `cache-set:big=${big}`,
    'cache-get:big',
    'cache-del:a',
    'cache-get:a',
  ]);
  expect(outputs.map((m) => m.text())).toEqual(['(missing)', 'set', '1', 'exists', 'added', 'set', big, 'deleted', '(missing)']);
  expect(cache.sync.get('b')?.toString()).toBe('3');
});

test('a filter keeps 1 and acks 0 without passing it on', async () => {
  const { outputs, outcomes } = await through(wasmFilter(keep), ['keep me', 'not this', 'keep too']);
  expect(outputs.map((m) => m.text())).toEqual(['keep me', 'keep too']);
  expect(outputs[0].id).toBeDefined();
  expect(outcomes).toEqual(['ack', 'ack', 'ack']);
});

test('filter failures and traps nack that message only', async () => {
  const module = await loadWasm(await buildAs('keep.ts'));
  const { outputs, outcomes } = await through(wasmFilter(module), ['keep 1', 'fail', 'trap', 'keep 2']);
  expect(outputs.map((m) => m.text())).toEqual(['keep 1', 'keep 2']);
  expect(outcomes[1]).toBeInstanceOf(WasmModuleError);
  expect(outcomes[2]).toBeInstanceOf(WasmTrapError);
  expect((outcomes[2] as Error).message).toContain('unreachable');
});

test("onError: 'deadLetter' sends the failed message to the dead letter with the reason; the original is acked when it confirms", async () => {
  const deadLetter = collectingSink((message) => message.ack());
  const dead = deadLetter.received;
  const { outputs, outcomes } = await through(wasmTransform(native, { onError: 'deadLetter', deadLetter }), ['ok', 'fail']);
  expect(outputs.map((m) => m.text())).toEqual(['ok']);
  expect(outcomes).toEqual(['ack', 'ack']);
  expect(dead.map((m) => m.text())).toEqual(['fail']);
  expect(dead[0].metadata[DEAD_LETTER_REASON]).toContain('asked to fail');
});

test('a wrong operator for the module, or deadLetter without a sink, is reported clearly', async () => {
  await expect(through(wasmFilter(native), ['x'])).rejects.toThrow(/does not export 'filter'; it exports 'transform': use wasmTransform/);
  expect(() => wasmTransform(native, { onError: 'deadLetter' })).toThrow(/needs a deadLetter sink/);
});

test('module logs: debug per message, info rate-limited', async () => {
  const { logger, lines } = capturingLogger('debug');
  await through(
    wasmTransform(native, { logger }),
    Array.from({ length: 30 }, () => 'log'),
  );
  expect(lines().filter((line) => line.msg === 'a debug line')).toHaveLength(30);
  const info = lines().filter((line) => line.msg === 'an info line');
  expect(info.length).toBe(10);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  expect(lines().some((line) => line.msg === '20 log line(s) from the module were suppressed (more than 10 a second)')).toBe(true);
});
