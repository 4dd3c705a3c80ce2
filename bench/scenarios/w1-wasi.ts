// W1: the cost of WASI. The same C uppercase (test/sdk/fixtures/upper.c) built freestanding and for wasm32-wasi
// (wasi-libc, a reactor; its instance also gets node:wasi's imports), each through wasmTransform over mem:// as in P1.
// A call does not touch WASI, so the ratio should stay near 1: what WASI costs is at instantiation.
import path from 'node:path';
import type { Scenario } from '../harness';
import { loadWasm, type WasmModule } from '../../lib/wasm/load';
import { wasmTransform } from '../../operators';
import { throughMem } from './common';

const ROOT = path.join(__dirname, '..', '..', '..');

const builder = require(path.join(ROOT, 'scripts', 'wasm-build.js')) as {
  build(spec: { lang: 'c' | 'c-wasi'; source: string }): Promise<string>;
};
const SOURCE = path.join(ROOT, 'test', 'sdk', 'fixtures', 'upper.c');

let freestanding: WasmModule | undefined;
let wasi: WasmModule | undefined;

export const w1: Scenario = {
  id: 'W1',
  title: 'mem:// -> wasmTransform(C uppercase, wasm32-wasi) -> mem:// vs the same C built freestanding (wasm32)',
  messages: 500_000,
  quickMessages: 50_000,
  target: 0.9,
  async setup() {
    freestanding = await loadWasm(await builder.build({ lang: 'c', source: SOURCE }), { name: 'upper-freestanding.wasm' });
    wasi = await loadWasm(await builder.build({ lang: 'c-wasi', source: SOURCE }), { name: 'upper-wasi.wasm' });
  },
  baseline: {
    name: 'wasmTransform(upper.c, freestanding)',
    run: (messages) => throughMem('w1-freestanding', messages, wasmTransform(freestanding as WasmModule)),
  },
  candidate: {
    name: 'wasmTransform(upper.c, wasm32-wasi)',
    run: (messages) => throughMem('w1-wasi', messages, wasmTransform(wasi as WasmModule)),
  },
  async verify() {
    const stats = (wasi as WasmModule).stats;
    return [`WASI module instances: ${stats.instantiations} for ${stats.calls} calls`];
  },
};
