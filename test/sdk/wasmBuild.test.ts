// scripts/wasm-build.js builds the files it is given (by extension, next to the source or into -o, --wasi for C and
// Rust on WASI), refuses what it cannot build with a line saying why, and --check reports the toolchains.
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { loadWasm } from '../../lib/wasm/load';
import { FIXTURES, ROOT, temporaryFolder } from './helpers';

function buildScript(args: string[], cwd: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'scripts', 'wasm-build.js'), ...args], { cwd, timeout: 240_000 }, (error, stdout, stderr) => {
      resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

test('node scripts/wasm-build.js my/module.c builds my/module.wasm; -o and --wasi; WAT and a Rust crate too', async () => {
  const folder = temporaryFolder('wasm-build');
  try {
    const my = path.join(folder.dir, 'my');
    fs.mkdirSync(my);
    fs.copyFileSync(path.join(FIXTURES, 'upper.c'), path.join(my, 'module.c'));
    fs.writeFileSync(path.join(my, 'keep.wat'), '(module (memory (export "memory") 1) (func (export "alloc") (param i32) (result i32) (i32.const 1024)) (func (export "filter") (param i32 i32) (result i32) (i32.const 1)))');
    const c = await buildScript(['my/module.c'], folder.dir);
    expect(c.stderr).toBe('');
    expect(c.stdout).toBe('built my/module.wasm\n');
    expect(c.status).toBe(0);
    await expect(loadWasm(path.join(my, 'module.wasm'))).resolves.toMatchObject({ abi: 'native' });

    const wasi = await buildScript(['my/module.c', '--wasi', '-o', 'my/wasi.wasm'], folder.dir);
    expect(wasi.status).toBe(0);
    const loaded = await loadWasm(path.join(my, 'wasi.wasm'));
    // a WASI reactor: its constructors run through _initialize (upper.c itself needs no WASI call)
    expect(loaded.info.exports.some((entry) => entry.name === '_initialize')).toBe(true);

    const wat = await buildScript(['my/keep.wat'], folder.dir);
    expect(wat.stdout).toBe('built my/keep.wasm\n');
    await expect(loadWasm(path.join(my, 'keep.wasm'))).resolves.toMatchObject({ defaultKind: 'filter' });

    const crate = await buildScript([path.join(FIXTURES, 'rust-sdk'), '-o', path.join(my, 'crate.wasm')], folder.dir);
    expect(crate.status).toBe(0);
    await expect(loadWasm(path.join(my, 'crate.wasm'))).resolves.toMatchObject({ defaultKind: 'transform' });

    fs.writeFileSync(path.join(my, 'notes.txt'), 'x');
    const unknown = await buildScript(['my/notes.txt'], folder.dir);
    expect(unknown.stderr).toContain('cannot tell its language; name a .ts (AssemblyScript), .wat, .c or .rs file');
    expect(unknown.status).toBe(1);
    const missing = await buildScript(['my/nothere.c'], folder.dir);
    expect(missing.stderr).toBe('my/nothere.c: no such file\n');
    expect(missing.status).toBe(1);
  } finally {
    folder.remove();
  }
}, 300_000);

test('--check reports every toolchain', async () => {
  const check = await buildScript(['--check'], ROOT);
  expect(check.stdout.split('\n').filter(Boolean)).toEqual([
    'ok       AssemblyScript (npm assemblyscript)',
    'ok       WAT (npm wabt)',
    'ok       C (Debian clang lld)',
    'ok       C for WASI (Debian wasi-libc libclang-rt-14-dev-wasm32)',
    'ok       Rust (Debian rustc libstd-rust-dev-wasm32)',
    'ok       Rust crates (Debian cargo)',
  ]);
  expect(check.status).toBe(0);
});
