// Limits: a module stuck in a loop on one message is stopped by its budget, a trap fails that message only, memory
// is capped; in each case the instance is replaced and the pipeline goes on.
import { wasmFilter } from '../../operators';
import { loadWasm } from '../../lib/wasm/load';
import { WasmBudgetError, WasmTrapError } from '../../lib/wasm/errors';
import { source, start } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import { SinkRuntime } from '../../lib/sink';
import { type Message } from '../../lib/message';
import { DEAD_LETTER_REASON } from '../../lib/deadLetter';
import { wasmTransform } from '../../operators';
import { buildAs, through } from './helpers';

let nativePath: string;

beforeAll(async () => {
  nativePath = await buildAs('native.ts');
});

function collector(into: Message[]): SinkRuntime {
  return new SinkRuntime('collect', {
    scheme: 'collect',
    write(batch) {
      into.push(...batch);
    },
    close: async () => undefined,
  });
}

test('a module that loops forever on one message is stopped; the 999 others pass (default budget)', async () => {
  const module = await loadWasm(nativePath);
  const inputs = Array.from({ length: 1000 }, (_, i) => (i === 500 ? 'loop' : `upper:m${i}`));
  const { outputs, outcomes } = await through(wasmTransform(module), inputs);
  expect(outputs).toHaveLength(999);
  expect(outputs[998].text()).toBe('M999');
  expect(outcomes.filter((outcome) => outcome === 'ack')).toHaveLength(999);
  expect(outcomes[500]).toBeInstanceOf(WasmBudgetError);
  expect((outcomes[500] as Error).message).toMatch(/ran past its budget of 100000000 fuel units/);
  expect(module.stats.budgetExceeded).toBe(1);
  expect(module.stats.instantiations).toBe(2); // the first, and its replacement
});

test('in a running pipeline, the looping message goes to the dead letter and run() goes on to the end', async () => {
  const name = `wasm-limits-${process.pid}-${Date.now()}`;
  const input = memTopic(`${name}-in`);
  for (let i = 0; i < 1000; i++) input.publish({ id: `m${i}`, body: i === 3 ? 'loop' : i === 7 ? 'abort' : `upper:m${i}` });
  const delivered: Message[] = [];
  const dead: Message[] = [];
  const deadLetter = collector(dead);
  const running = start(
    source(`mem://${name}-in`, { maxInFlight: 64 }).pipe(
      wasmTransform(nativePath, { budget: 1_000_000, onError: 'deadLetter', deadLetter }),
    ),
    collector(delivered),
    { handleSignals: false, deadLetter },
  );
  while (delivered.length + dead.length < 1000) await new Promise((resolve) => setTimeout(resolve, 5));
  await running.stop();
  expect(delivered).toHaveLength(998);
  expect(dead.map((m) => m.id).sort()).toEqual(['m3', 'm7']);
  expect(dead.find((m) => m.id === 'm3')?.metadata[DEAD_LETTER_REASON]).toMatch(/^WasmBudgetError: .*budget of 1000000/);
  expect(dead.find((m) => m.id === 'm7')?.metadata[DEAD_LETTER_REASON]).toMatch(/^WasmTrapError: .*the module gave up/);
  expect(running.stats()).toMatchObject({ received: 1000, acked: 1000, nacked: 0, inFlight: 0 });
  input.delete();
});

test('a trap (unreachable) fails that message only and replaces the instance', async () => {
  const module = await loadWasm(await buildAs('keep.ts'));
  const { outcomes } = await through(wasmFilter(module), ['keep', 'trap', 'keep', 'trap', 'keep']);
  expect(outcomes.map((outcome) => (outcome === 'ack' ? 'ack' : outcome.name))).toEqual([
    'ack',
    'WasmTrapError',
    'ack',
    'WasmTrapError',
    'ack',
  ]);
  expect(module.stats.instantiations).toBe(3);
});

test('memory is capped: growing past maxMemoryPages traps that message; a larger cap lets it through', async () => {
  const capped = await loadWasm(nativePath, { maxMemoryPages: 64 });
  const small = await through(wasmTransform(capped), ['grow', 'after']);
  expect(small.outcomes[0]).toBeInstanceOf(WasmTrapError);
  expect(small.outputs.map((m) => m.text())).toEqual(['after']);

  const roomy = await loadWasm(nativePath, { maxMemoryPages: 2048 });
  const large = await through(wasmTransform(roomy), ['grow']);
  expect(large.outputs.map((m) => m.text())).toEqual([String(64 << 20)]);
});

test('without a budget the module is not instrumented (budget: false)', async () => {
  const module = await loadWasm(nativePath, { budget: false });
  expect(module.budget).toBeUndefined();
  const { outputs } = await through(wasmTransform(module), ['upper:x']);
  expect(outputs[0].text()).toBe('X');
});

test('an instance whose memory keeps growing (a module that never frees) is replaced before it hits the cap', async () => {
  // AssemblyScript's stub runtime never frees: every message leaves its strings behind
  const leaky = await loadWasm(await buildAs('go/uppercase.ts', ['-O3', '--runtime', 'stub', '--use', 'abort=']), { maxMemoryPages: 4 });
  const inputs = Array.from({ length: 3000 }, (_, i) => `message number ${i} with some padding to use memory faster`);
  const { outputs, outcomes } = await through(wasmTransform(leaky), inputs);
  expect(outcomes.every((outcome) => outcome === 'ack')).toBe(true);
  expect(outputs[2999].text()).toBe('MESSAGE NUMBER 2999 WITH SOME PADDING TO USE MEMORY FASTER');
  expect(leaky.stats.instantiations).toBeGreaterThan(1);
  expect(leaky.stats.traps).toBe(0);
});

test('a message longer than a Go-prototype module reserves fails with the reason, instead of overwriting its memory', async () => {
  const module = await loadWasm(await buildAs('go/uppercase.ts', ['-O3', '--runtime', 'incremental', '--use', 'abort=']));
  const { outputs, outcomes } = await through(wasmTransform(module), ['short', 'x'.repeat(1024), 'y'.repeat(1023)]);
  expect(outputs.map((m) => m.text().length)).toEqual([5, 1023]);
  expect((outcomes[1] as Error).message).toMatch(/the message is 1024 bytes; Go-prototype modules read at most 1023/);
});
