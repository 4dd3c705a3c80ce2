// What a module author reads when something goes wrong (issue 13 item 7, issue 18 item 10 for wasm stages): every
// failed message at warn with the module's own reason and no host stack, rate-limited with a count of the rest;
// out-of-memory traps that name the cap; a warning (once per module) when an instance is replaced for its memory
// growth; did-you-mean for misspelt exports and imports.
import { loadWasm } from '../../lib/wasm/load';
import { wasmTransform } from '../../operators';
import { WasmAbiError } from '../../lib/errors';
import { capturingLogger, waitFor } from '../helpers/wait';
import { buildAs, through, wat } from './helpers';

const ALLOC = '(func (export "alloc") (param i32) (result i32) (i32.const 1024))';
const TRANSFORM = '(func (export "transform") (param i32 i32) (result i32) (i32.const 0))';

let nativePath: string;
beforeAll(async () => {
  nativePath = await buildAs('native.ts');
});

describe('failed messages', () => {
  test("each is logged at warn with its id and the module's own reason, without the host's stack", async () => {
    const { logger, lines } = capturingLogger('warn');
    const module = await loadWasm(nativePath, { name: 'native.wasm' });
    const inputs = [
      { id: 'm1', body: 'fail' },
      { id: 'm2', body: 'upper:ok' },
      { id: 'm3', body: 'status' },
      { id: 'm4', body: 'abort' },
    ];
    const { outcomes } = await through(wasmTransform(module, { logger }), inputs);
    expect(outcomes[1]).toBe('ack');
    const warnings = lines().filter((line) => line.level === 40);
    expect(warnings.map((line) => line.msg).slice(0, 2)).toEqual([
      'wasmTransform(native.wasm): message m1 was nacked: native.wasm failed on message m1: asked to fail',
      'wasmTransform(native.wasm): message m3 was nacked: native.wasm failed on message m3: status -7',
    ]);
    // AssemblyScript's abort names the source line of the module, not of the host
    expect(warnings[2].msg).toMatch(
      /^wasmTransform\(native\.wasm\): message m4 was nacked: native\.wasm aborted: the module gave up \(.*native\.ts:\d+:\d+\)$/,
    );
    expect(warnings.map((line) => [line.id, line.kind, line.reason])).toEqual([
      ['m1', 'status', 'native.wasm failed on message m1: asked to fail'],
      ['m3', 'status', 'native.wasm failed on message m3: status -7'],
      ['m4', 'trap', warnings[2].msg.slice(warnings[2].msg.indexOf('native.wasm aborted'))],
    ]);
    for (const line of warnings) {
      expect(line).not.toHaveProperty('err');
      expect(JSON.stringify(line)).not.toMatch(/\bat .*\.ts:\d+/); // no JavaScript stack frames
    }
  });

  test('dead-lettered messages say so', async () => {
    const { logger, lines } = capturingLogger('warn');
    const dead: string[] = [];
    const deadLetter = {
      next: (message: { id: string; ack(): void }) => {
        dead.push(message.id);
        message.ack();
      },
      error: () => undefined,
      complete: () => undefined,
      close: async () => undefined,
    };
    const module = await loadWasm(nativePath, { name: 'native.wasm' });
    await through(wasmTransform(module, { logger, onError: 'deadLetter', deadLetter: deadLetter as never }), [{ id: 'd1', body: 'fail' }]);
    expect(dead).toEqual(['d1']);
    expect(lines().map((line) => line.msg)).toEqual([
      'wasmTransform(native.wasm): message d1 was dead-lettered: native.wasm failed on message d1: asked to fail',
    ]);
  });

  test('a burst is rate-limited to 10 lines a second, then one line counts the rest', async () => {
    const { logger, lines } = capturingLogger('warn');
    const module = await loadWasm(nativePath, { name: 'native.wasm' });
    await through(
      wasmTransform(module, { logger }),
      Array.from({ length: 30 }, (_, i) => ({ id: `b${i}`, body: 'fail' })),
    );
    await waitFor(() => lines().length > 10, 'the line counting suppressed failures', 5000);
    const messages = lines().map((line) => line.msg);
    expect(messages.slice(0, 10)).toEqual(
      Array.from(
        { length: 10 },
        (_, i) => `wasmTransform(native.wasm): message b${i} was nacked: native.wasm failed on message b${i}: asked to fail`,
      ),
    );
    expect(messages.slice(10)).toEqual(['wasmTransform(native.wasm): 20 more failed message(s) not logged (more than 10 a second)']);
    expect(lines()[10].suppressed).toBe(20);
  });
});

describe('out of memory', () => {
  const { logger } = capturingLogger('error'); // the failures' warnings are tested above
  const GROW_THEN = (then: string): string => `(module
    (import "wasm_pipes_v1" "fail" (func $fail (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "no memory")
    ${ALLOC}
    (func (export "transform") (param i32 i32) (result i32)
      (if (i32.eq (memory.grow (i32.const 1000)) (i32.const -1)) (then ${then}))
      (i32.const 0)))`;

  test('an allocation past the cap traps with "memory cap reached (N of M pages)", not only "unreachable"', async () => {
    const module = await loadWasm(await wat(GROW_THEN('(unreachable)')), { name: 'grow.wasm', maxMemoryPages: 16 });
    const { outcomes } = await through(wasmTransform(module, { logger }), [{ id: 'g1', body: 'x' }]);
    expect((outcomes[0] as Error).message).toBe(
      'grow.wasm trapped: unreachable: memory cap reached (1 of 16 pages; growing by 1000 more failed): raise WASM_MAX_MEMORY_PAGES ' +
        '(the maxMemoryPages option) if the module needs more for one message, or look for what it allocates and never frees',
    );
  });

  test('an AssemblyScript allocation past the cap says the same', async () => {
    const module = await loadWasm(nativePath, { name: 'native.wasm', maxMemoryPages: 64 });
    const { outcomes } = await through(wasmTransform(module, { logger }), ['grow']);
    expect((outcomes[0] as Error).message).toMatch(
      /^native\.wasm trapped: unreachable: memory cap reached \(\d+ of 64 pages; growing by \d+ more failed\): raise WASM_MAX_MEMORY_PAGES/,
    );
  });

  test('a module that reports the failed allocation itself gets the note after its own reason', async () => {
    const module = await loadWasm(await wat(GROW_THEN('(call $fail (i32.const 0) (i32.const 9)) (return (i32.const -1))')), {
      name: 'grow.wasm',
      maxMemoryPages: 16,
    });
    const { outcomes } = await through(wasmTransform(module, { logger }), [{ id: 'g2', body: 'x' }]);
    expect((outcomes[0] as Error).message).toMatch(
      /^grow\.wasm failed on message g2: no memory; memory cap reached \(1 of 16 pages; growing by 1000 more failed\)/,
    );
  });

  test('without a budget (no rewriting), a trap with the memory at the cap still names it', async () => {
    const full = `(module (memory (export "memory") 4) ${ALLOC} (func (export "transform") (param i32 i32) (result i32) (unreachable)))`;
    const module = await loadWasm(await wat(full), { name: 'full.wasm', maxMemoryPages: 4, budget: false });
    const { outcomes } = await through(wasmTransform(module, { logger }), ['x']);
    expect((outcomes[0] as Error).message).toMatch(/^full\.wasm trapped: unreachable: memory cap reached \(4 of 4 pages\): raise/);
  });
});

test('an instance replaced for its memory growth warns once per module, then at debug', async () => {
  const { logger, lines } = capturingLogger('debug');
  const leaky = await loadWasm(await buildAs('go/uppercase.ts', ['-O3', '--runtime', 'stub', '--use', 'abort=']), {
    name: 'leaky.wasm',
    maxMemoryPages: 4,
  });
  const inputs = Array.from({ length: 3000 }, (_, i) => `message number ${i} with some padding to use memory faster`);
  const { outcomes } = await through(wasmTransform(leaky, { logger }), inputs);
  expect(outcomes.every((outcome) => outcome === 'ack')).toBe(true);
  expect(leaky.stats.instantiations).toBeGreaterThan(2);
  const warnings = lines().filter((line) => line.level === 40);
  expect(warnings).toHaveLength(1);
  expect(warnings[0].msg).toMatch(
    /^leaky\.wasm: an instance's memory grew to \d of 4 pages \(past 3\/4 of the cap\), so it was replaced by a fresh one: what the module keeps in memory between messages \(globals, its heap\) starts afresh\. .*this warns once per module$/,
  );
  expect(lines().filter((line) => line.level === 20 && line.msg.startsWith('replacing an instance')).length).toBe(
    leaky.stats.instantiations - 2,
  );
});

describe('did you mean', () => {
  const load = async (text: string): Promise<unknown> => loadWasm(await wat(text), { name: 'm.wasm', budget: false });

  test('a misspelt transform, alloc or memory export', async () => {
    await expect(
      load(`(module (memory (export "memory") 1) ${ALLOC} (func (export "transfrom") (param i32 i32) (result i32) (i32.const 0)))`),
    ).rejects.toThrow(
      "m.wasm exports neither 'transform' nor 'filter' (nor 'run', for modules written for the Go prototype); it exports memory, alloc, transfrom; did you mean 'transform' (it exports 'transfrom')?",
    );
    await expect(
      load(`(module (memory (export "memory") 1) (func (export "Filter") (param i32 i32) (result i32) (i32.const 0)))`),
    ).rejects.toThrow("did you mean 'filter' (it exports 'Filter')?");
    const error = (await load(
      `(module (memory (export "mem") 1) (func (export "aloc") (param i32) (result i32) (i32.const 0)) ${TRANSFORM})`,
    ).catch((caught: unknown) => caught)) as Error;
    expect(error).toBeInstanceOf(WasmAbiError);
    expect(error.message).toContain("it exports its memory as 'mem'; export it as 'memory'");
    expect(error.message).toContain(
      "it does not export 'alloc(size: i32) -> i32' (the host asks it for the input buffer); did you mean 'alloc' (it exports 'aloc')?",
    );
  });

  test('a misspelt import name or import module, for both ABIs; nothing suggested for an unrelated name', async () => {
    const native = (module: string, name: string): string =>
      `(module (import "${module}" "${name}" (func (param i32 i32 i32 i32) (result i32))) (memory (export "memory") 1) ${ALLOC} ${TRANSFORM})`;
    await expect(load(native('wasm_pipes_v1', 'cache_gett'))).rejects.toThrow(
      "unknown import 'wasm_pipes_v1.cache_gett' (did you mean 'wasm_pipes_v1.cache_get'?)",
    );
    await expect(load(native('wasm_pipes_v1', 'Meta_Get'))).rejects.toThrow(
      "unknown import 'wasm_pipes_v1.Meta_Get' (did you mean 'wasm_pipes_v1.meta_get'?)",
    );
    await expect(load(native('wasm_pipe_v1', 'meta_get'))).rejects.toThrow(
      "unknown import 'wasm_pipe_v1.meta_get' (native modules import from 'wasm_pipes_v1') (did you mean 'wasm_pipes_v1.meta_get'?)",
    );
    const unrelated = (await load(native('wasm_pipes_v1', 'frobnicate')).catch((caught: unknown) => caught)) as Error;
    expect(unrelated.message).toContain("unknown import 'wasm_pipes_v1.frobnicate'");
    expect(unrelated.message).not.toContain('did you mean');
    const go = (module: string, name: string): string =>
      `(module (import "${module}" "${name}" (func (param i32))) (memory (export "memory") 1) (func (export "run")))`;
    await expect(load(go('pubsub', 'getmessage'))).rejects.toThrow(
      "unknown import 'pubsub.getmessage' (did you mean 'pubsub.getMessage'?)",
    );
    await expect(load(go('pubsb', 'getMessage'))).rejects.toThrow("unknown import 'pubsb.getMessage' (did you mean 'pubsub.getMessage'?)");
  });
});
