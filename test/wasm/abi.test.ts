// Modules that do not fit: each gives a WasmAbiError (or ConfigError) at load time naming what is wrong.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadWasm, checkAbi } from '../../lib/wasm/load';
import { readModuleInfo, capMemory } from '../../lib/wasm/binary';
import { ConfigError, WasmAbiError } from '../../lib/errors';
import { wat } from './helpers';

const ALLOC = '(func (export "alloc") (param i32) (result i32) (i32.const 1024))';
const TRANSFORM = '(func (export "transform") (param i32 i32) (result i32) (i32.const 0))';

async function load(text: string): Promise<unknown> {
  return loadWasm(await wat(text), { name: 'm.wasm', budget: false });
}

test('a file that is not wasm, or WAT text, is named as such', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-abi-'));
  const text = path.join(dir, 'notes.wasm');
  fs.writeFileSync(text, 'hello, this is not a module');
  await expect(loadWasm(text)).rejects.toThrow(
    new WasmAbiError('notes.wasm is not a WebAssembly module (it does not start with \\0asm); compile your module to a .wasm binary'),
  );
  fs.writeFileSync(text, '(module (memory 1))');
  await expect(loadWasm(text)).rejects.toThrow(/looks like WebAssembly text: compile it first/);
  fs.rmSync(dir, { recursive: true });
});

test('a missing file is a ConfigError naming the variable', async () => {
  const error = await loadWasm('/nonexistent/x.wasm', { variable: 'WASM_MODULE' }).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as Error).message).toMatch(/^WASM_MODULE: cannot read the module '\/nonexistent\/x.wasm'.*no such file/);
});

test('neither transform nor filter (nor run)', async () => {
  await expect(load(`(module (memory (export "memory") 1) ${ALLOC} (func (export "process")))`)).rejects.toThrow(
    /m.wasm exports neither 'transform' nor 'filter' \(nor 'run', for modules written for the Go prototype\); it exports memory, alloc, process/,
  );
});

test('missing memory and alloc exports are both named', async () => {
  const error = (await load(`(module (memory 1) ${TRANSFORM})`).catch((caught: unknown) => caught)) as Error;
  expect(error).toBeInstanceOf(WasmAbiError);
  expect(error.message).toContain("it does not export its memory as 'memory'");
  expect(error.message).toContain("it does not export 'alloc(size: i32) -> i32'");
  expect(error.message).toContain('see sdk/ABI.md');
});

test('a wrong export signature is shown next to the expected one', async () => {
  await expect(
    load(`(module (memory (export "memory") 1) ${ALLOC} (func (export "transform") (param i32) (result i32) (i32.const 0)))`),
  ).rejects.toThrow("'transform' has the signature (i32) -> i32; the ABI needs (i32, i32) -> i32");
});

test('unknown imports, wrong import signatures and WASI are named with the fix', async () => {
  await expect(
    load(`(module (import "wasm_pipes_v1" "emitt" (func (param i32 i32))) (memory (export "memory") 1) ${ALLOC} ${TRANSFORM})`),
  ).rejects.toThrow("unknown import 'wasm_pipes_v1.emitt'");
  await expect(
    load(`(module (import "wasm_pipes_v1" "emit" (func (param i32))) (memory (export "memory") 1) ${ALLOC} ${TRANSFORM})`),
  ).rejects.toThrow("import 'wasm_pipes_v1.emit' has the signature (i32) -> nothing; the host provides (i32, i32) -> nothing");
  await expect(
    load(
      `(module (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32))) (memory (export "memory") 1) ${ALLOC} ${TRANSFORM})`,
    ),
  ).rejects.toThrow(/unknown import 'wasi_snapshot_preview1.path_open': modules get no filesystem/);
  await expect(load(`(module (import "env" "memory" (memory 1)) ${ALLOC} ${TRANSFORM})`)).rejects.toThrow(
    /it imports its memory; export it as "memory" instead/,
  );
});

test('a Go-prototype module with a native import, or a bad run signature, does not fit its ABI', async () => {
  await expect(
    load('(module (import "wasm_pipes_v1" "emit" (func (param i32 i32))) (memory (export "memory") 1) (func (export "run")))'),
  ).rejects.toThrow("does not fit the Go prototype's ABI: unknown import 'wasm_pipes_v1.emit'");
  await expect(load('(module (memory (export "memory") 1) (func (export "run") (param i32)))')).rejects.toThrow(
    "'run' has the signature (i32) -> nothing",
  );
});

test('a module whose start traps fails at load time', async () => {
  await expect(load(`(module (memory (export "memory") 1) ${ALLOC} ${TRANSFORM} (func $s unreachable) (start $s))`)).rejects.toThrow(
    /m.wasm failed while starting/,
  );
});

test('a module whose memory starts above the cap is refused', async () => {
  await expect(
    loadWasm(await wat(`(module (memory (export "memory") 40) ${ALLOC} ${TRANSFORM})`), { name: 'm.wasm', maxMemoryPages: 16 }),
  ).rejects.toThrow(
    "m.wasm: the module's memory starts at 40 pages, above the cap of 16 pages; raise maxMemoryPages (WASM_MAX_MEMORY_PAGES)",
  );
});

test('the memory cap lowers the maximum, and keeps a lower one', async () => {
  const unbounded = await wat(`(module (memory (export "memory") 2) ${ALLOC} ${TRANSFORM})`);
  expect(readModuleInfo(capMemory(unbounded, 10)).memories).toEqual([{ initial: 2, maximum: 10, shared: false, memory64: false }]);
  const bounded = await wat(`(module (memory (export "memory") 2 5) ${ALLOC} ${TRANSFORM})`);
  expect(readModuleInfo(capMemory(bounded, 10)).memories[0].maximum).toBe(5);
  const module = await WebAssembly.compile(capMemory(unbounded, 3));
  const instance = new WebAssembly.Instance(module, {});
  const memory = instance.exports.memory as WebAssembly.Memory;
  expect(memory.grow(1)).toBe(2);
  expect(() => memory.grow(1)).toThrow(RangeError);
});

test('checkAbi tells the ABIs apart', async () => {
  expect(checkAbi(readModuleInfo(await wat(`(module (memory (export "memory") 1) ${ALLOC} ${TRANSFORM})`)), 'a')).toBe('native');
  expect(
    checkAbi(
      readModuleInfo(
        await wat('(module (import "pubsub" "send" (func (param i32 i32))) (memory (export "memory") 1) (func (export "run")))'),
      ),
      'b',
    ),
  ).toBe('go');
});

test('modules load from file:// and http:// URLs', async () => {
  const http = await import('node:http');
  const bytes = await wat(`(module (memory (export "memory") 1) ${ALLOC} ${TRANSFORM})`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-url-'));
  const file = path.join(dir, 'served.wasm');
  fs.writeFileSync(file, bytes);
  const fromFile = await loadWasm(`file://${file}`, { budget: false });
  expect(fromFile.name).toBe('served.wasm');
  const server = http.createServer((request, response) => {
    if (request.url === '/modules/served.wasm') {
      response.writeHead(200, { 'content-type': 'application/wasm' });
      response.end(bytes);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    const fromUrl = await loadWasm(`http://127.0.0.1:${port}/modules/served.wasm`, { budget: false });
    expect(fromUrl.name).toBe('served.wasm');
    expect(fromUrl.abi).toBe('native');
    await expect(loadWasm(`http://127.0.0.1:${port}/missing.wasm`, { variable: 'WASM_MODULE' })).rejects.toThrow(
      `WASM_MODULE: could not fetch the module at http://127.0.0.1:${port}/missing.wasm: HTTP 404`,
    );
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true });
  }
});
