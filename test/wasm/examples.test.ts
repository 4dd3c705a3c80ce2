// Every example in examples/, built from its source with its own toolchain and run through a pipeline, as its
// README's one-line command runs it.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { MemoryCache } from '../../lib/cache/memory';
import { wasmTransform, wasmFilter } from '../../operators';
import { WasmModuleError } from '../../lib/wasm/errors';
import { buildExample, through, ROOT } from './helpers';
import { BIN, binEnv } from '../helpers/bin';

test('uppercase (AssemblyScript)', async () => {
  const module = await buildExample('uppercase', 'as', 'uppercase.ts');
  const { outputs } = await through(wasmTransform(module), ['hello, world', '{"event":"páge"}']);
  expect(outputs.map((m) => m.text())).toEqual(['HELLO, WORLD', '{"EVENT":"PáGE"}']);
});

test('redact a JSON field (Rust, no_std)', async () => {
  const module = await buildExample('redact', 'rust', 'redact.rs');
  const { outputs, outcomes } = await through(wasmTransform(module), [
    '{"user":"ann","password":"hunter2","nested":{"password":{"a":[1,"}"]}},"note":"\\"password\\": no"}',
    '{"user":"bob"}',
    '{"password":"unterminated',
  ]);
  expect(outputs.map((m) => m.json())).toEqual([
    { user: 'ann', password: '***', nested: { password: '***' }, note: '"password": no' },
    { user: 'bob' },
  ]);
  expect(outcomes[2]).toBeInstanceOf(WasmModuleError);
  const custom = await through(wasmTransform(module, { config: { field: 'ssn' } }), ['{"ssn":123456789,"password":"x"}']);
  expect(custom.outputs[0].json()).toEqual({ ssn: '***', password: 'x' });
});

test('hot/cold threshold filter (C)', async () => {
  const module = await buildExample('threshold', 'c', 'threshold.c', ['alloc', 'filter']);
  const events = ['{"temperature": 12.5}', '{"temperature": 30}', '{"id":"x","temperature":30.1}', '{"temperature":-40}'];
  const hot = await through(wasmFilter(module), events);
  expect(hot.outputs.map((m) => m.text())).toEqual(['{"id":"x","temperature":30.1}']);
  const cold = await through(wasmFilter(module, { config: { keep: 'cold', threshold: '0' } }), events);
  expect(cold.outputs.map((m) => m.text())).toEqual(['{"temperature":-40}']);
  const other = await through(wasmFilter(module, { config: { field: 'celsius' } }), ['{"celsius": 99}', '{"temperature": 99}']);
  expect(other.outputs.map((m) => m.text())).toEqual(['{"celsius": 99}']);
  expect((other.outcomes[1] as Error).message).toContain('no such numeric field');
});

test('split a JSON array into N messages (AssemblyScript)', async () => {
  const module = await buildExample('split', 'as', 'split.ts');
  const { outputs, outcomes } = await through(wasmTransform(module), [
    { id: 'batch', body: '[{"id":"a","v":1}, {"id":"b","v":[2,3]}, 4]' },
    '[]',
    'not an array',
  ]);
  expect(outputs.map((m) => [m.id, m.key, m.metadata['split-index'], m.text()])).toEqual([
    ['batch:0', 'a', '0', '{"id":"a","v":1}'],
    ['batch:1', 'b', '1', '{"id":"b","v":[2,3]}'],
    ['batch:2', undefined, '2', '4'],
  ]);
  expect(outcomes[0]).toBe('ack');
  expect(outcomes[1]).toBe('ack'); // no elements: nothing to send, done
  expect((outcomes[2] as Error).message).toContain('not a JSON array');
});

test('enrich from the cache (AssemblyScript)', async () => {
  const module = await buildExample('enrich', 'as', 'enrich.ts');
  const cache = new MemoryCache();
  cache.sync.set('profile:u1', Buffer.from('{"name":"Ann","tier":"gold"}'));
  const { outputs } = await through(wasmTransform(module, { cache }), ['{"user":"u1","amount":5}', '{"user":"u2"}', '{}']);
  expect(outputs[0].json()).toEqual({ user: 'u1', amount: 5, profile: { name: 'Ann', tier: 'gold' } });
  expect(outputs[0].metadata.enriched).toBe('true');
  expect(outputs[1].json()).toEqual({ user: 'u2' });
  expect(outputs[1].metadata.enriched).toBe('false');
});

test('drop empty messages (hand-written WAT)', async () => {
  const module = await buildExample('drop-empty', 'wat', 'drop-empty.wat');
  const { outputs } = await through(wasmFilter(module), ['', '   ', ' x ', 'y']);
  expect(outputs.map((m) => m.text())).toEqual([' x ', 'y']);
});

test("the README's local module runner command works on the built examples", async () => {
  await (require('../../scripts/wasm-build.js') as { buildExamples(): Promise<string[]> }).buildExamples();
  const sample = fs.readFileSync(path.join(ROOT, 'examples', 'threshold', 'sample.jsonl'), 'utf8');
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN], {
      cwd: ROOT,
      env: binEnv({
        SOURCE_URI: 'stdin://',
        SINK_URI: 'stdout://',
        WASM_MODULE: 'examples/threshold/threshold.wasm,examples/redact/redact.wasm',
        WASM_CONFIG: 'threshold=25',
        LOG_LEVEL: 'warn',
      }),
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(stdout));
    child.stdin.end(sample);
  });
  const bodies = output
    .trim()
    .split('\n')
    .map((line) => JSON.parse(JSON.parse(line).body));
  expect(bodies.length).toBeGreaterThan(0);
  expect(bodies).toEqual([
    { sensor: 'b7', temperature: 31.2, password: '***' },
    { sensor: 'c3', temperature: 45, password: '***' },
  ]);
});
