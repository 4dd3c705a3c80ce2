// The bin as the local module runner: SOURCE_URI=stdin:// SINK_URI=stdout:// WASM_MODULE=x.wasm, chains, the Go
// prototype's modules and variables, and exit code 2 for modules that do not fit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildAs } from './helpers';
import { runBinToEnd } from '../helpers/bin';

/** The bin with stdin in and bodies out, as the local module runner is used. */
async function runBin(env: Record<string, string>, input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const result = await runBinToEnd({ LOG_LEVEL: 'warn', SOURCE_URI: 'stdin://', SINK_URI: 'stdout://?format=lines', ...env }, input);
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const lines = (text: string): string[] => text.split('\n').filter((line) => line.length > 0);

let goUppercase: string;
let goHot: string;
let goDedupe: string;
let dir: string;

beforeAll(async () => {
  [goUppercase, goHot, goDedupe] = await Promise.all([
    buildAs('go/uppercase.ts', ['-O3', '--runtime', 'incremental', '--use', 'abort=']),
    buildAs('go/hot.ts'),
    buildAs('go/dedupe.ts', ['-O3', '--runtime', 'stub', '--use', 'abort=']),
  ]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-bin-'));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('Go-prototype uppercase through WASM_MODULE, one instance for every message', async () => {
  const result = await runBin({ WASM_MODULE: goUppercase }, 'hello\nworld\n{"a":"b"}\n');
  expect(result.code).toBe(0);
  expect(lines(result.stdout)).toEqual(['HELLO', 'WORLD', '{"A":"B"}']);
});

test("the Go prototype's own variables: WASM_ENABLED, WASM_BLOB_URI, WASM_FILENAME (default main.wasm)", async () => {
  fs.copyFileSync(goUppercase, path.join(dir, 'main.wasm'));
  fs.copyFileSync(goHot, path.join(dir, 'hot.wasm'));
  const byDefault = await runBin({ WASM_ENABLED: 'true', WASM_BLOB_URI: `file://${dir}` }, 'quiet\n');
  expect(lines(byDefault.stdout)).toEqual(['QUIET']);
  const named = await runBin(
    { WASM_ENABLED: 'true', WASM_BLOB_URI: `file://${dir}`, WASM_FILENAME: 'hot.wasm' },
    '{"temperature": 12}\n{"temperature": 31.5}\n{"temperature": 45}\n{"humidity": 80}\n',
  );
  expect(named.code).toBe(0);
  expect(lines(named.stdout)).toEqual(['{"temperature": 31.5}', '{"temperature": 45}']);
  const disabled = await runBin({ WASM_ENABLED: 'false', WASM_BLOB_URI: `file://${dir}` }, 'as is\n');
  expect(lines(disabled.stdout)).toEqual(['as is']);
});

test('Go-prototype dedupe-by-name uses the cache across messages; its per-message logs are rate-limited', async () => {
  const events = ['ann', 'ann', 'bob', 'bob', 'bob', 'ann', 'cy'].map((name, i) => `{"name":"${name}","n":${i}}`);
  const noisy = Array.from({ length: 40 }, () => '{"noname":true}');
  const result = await runBin({ WASM_MODULE: goDedupe, LOG_LEVEL: 'info' }, [...events, ...noisy].join('\n') + '\n');
  expect(result.code).toBe(0);
  expect(lines(result.stdout)).toEqual([events[0], events[2], events[5], events[6]]);
  const moduleLines = lines(result.stderr).filter((line) => line.includes('repeated name') || line.includes('no name found'));
  expect(moduleLines.length).toBeLessThanOrEqual(10);
});

test('WASM_MODULE chains modules in order, each a filter or a transform by its exports', async () => {
  const keep = await buildAs('keep.ts');
  const native = await buildAs('native.ts');
  const result = await runBin({ WASM_MODULE: `${keep}, ${native}` }, 'upper:keep this\nupper:drop that\nsplit:keep,it\n');
  expect(result.code).toBe(0);
  expect(lines(result.stdout)).toEqual(['KEEP THIS', 'keep', 'it']);
});

test('WASM_CONFIG reaches config_get', async () => {
  const native = await buildAs('native.ts');
  const result = await runBin({ WASM_MODULE: native, WASM_CONFIG: 'greeting=hi there' }, 'config\n');
  expect(lines(result.stdout)).toEqual(['hi there']);
});

test('a file that is not wasm exits 2 with the reason', async () => {
  const notWasm = path.join(dir, 'notes.wasm');
  fs.writeFileSync(notWasm, 'just text\n');
  const result = await runBin({ WASM_MODULE: notWasm }, '');
  expect(result.code).toBe(2);
  expect(result.stderr.trim()).toBe(
    'wasm-pipes: notes.wasm is not a WebAssembly module (it does not start with \\0asm); compile your module to a .wasm binary (see sdk/ABI.md)',
  );
});

test('a module missing its exports exits 2 naming them', async () => {
  const bare = path.join(dir, 'bare.wasm');
  // (module (memory 1) (func (export "process"))) as bytes
  fs.writeFileSync(
    bare,
    Buffer.from('0061736d0100000001040160000003020100050301000107' + '0b0107' + '70726f63657373' + '0000' + '0a040102000b', 'hex'),
  );
  const result = await runBin({ WASM_MODULE: bare }, '');
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(
    /^wasm-pipes: bare.wasm exports neither 'transform' nor 'filter' .* it exports process \(see sdk\/ABI.md\)\n$/,
  );
});

test('bad WASM_ variables exit 2 naming the variable', async () => {
  const missing = await runBin({ WASM_MODULE: path.join(dir, 'absent.wasm') }, '');
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/^wasm-pipes: WASM_MODULE: cannot read the module/);
  const budget = await runBin({ WASM_MODULE: goUppercase, WASM_BUDGET: 'lots' }, '');
  expect(budget.code).toBe(2);
  expect(budget.stderr).toMatch(/WASM_BUDGET: 'lots' is not a whole number/);
  const blob = await runBin({ WASM_ENABLED: 'true' }, '');
  expect(blob.stderr).toMatch(/WASM_BLOB_URI: WASM_ENABLED=true needs the folder of the module/);
  const onError = await runBin({ WASM_MODULE: goUppercase, WASM_ON_ERROR: 'deadLetter' }, '');
  expect(onError.stderr).toMatch(/WASM_ON_ERROR: WASM_ON_ERROR=deadLetter needs DEAD_LETTER_URI/);
});

test('WASM_ON_ERROR=deadLetter: a module looping on one message sends it to DEAD_LETTER_URI, the others pass', async () => {
  const native = await buildAs('native.ts');
  const dead = path.join(dir, 'dead.jsonl');
  const result = await runBin(
    { WASM_MODULE: native, WASM_BUDGET: '1000000', WASM_ON_ERROR: 'deadLetter', DEAD_LETTER_URI: `file://${dead}` },
    'upper:a\nloop\nupper:b\n',
  );
  expect(result.code).toBe(0);
  expect(lines(result.stdout)).toEqual(['A', 'B']);
  const letters = lines(fs.readFileSync(dead, 'utf8')).map(
    (line) => JSON.parse(line) as { body: string; metadata: Record<string, string> },
  );
  expect(letters.map((letter) => letter.body)).toEqual(['loop']);
  expect(letters[0].metadata['dead-letter-reason']).toMatch(/^WasmBudgetError: .*ran past its budget of 1000000/);
});
