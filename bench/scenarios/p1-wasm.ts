// P1: mem:// -> wasmTransform(uppercase) -> mem:// against the same pipeline with a JS mapMessages uppercase.
// The module runs with its default budget (instrumented), as users run it.
import type { Scenario } from '../harness';
import { loadWasm, type WasmModule } from '../../lib/wasm/load';
import { mapMessages, wasmTransform } from '../../operators';
import { uppercaseModule } from './wasmFixtures';
import { throughMem, uppercase } from './common';

let wasmModule: WasmModule | undefined;

export const p1: Scenario = {
  id: 'P1',
  title: 'mem:// -> wasmTransform(uppercase) -> mem:// vs mem:// -> mapMessages(JS uppercase) -> mem://',
  messages: 500_000,
  quickMessages: 50_000,
  target: 0.9,
  async setup() {
    wasmModule = await loadWasm(await uppercaseModule());
  },
  baseline: {
    name: 'mapMessages(JS uppercase)',
    run: (messages) =>
      throughMem(
        'p1-js',
        messages,
        mapMessages((m) => ({ body: uppercase(m.body) })),
      ),
  },
  candidate: {
    name: 'wasmTransform(uppercase.wasm), default budget',
    run: (messages) => throughMem('p1-wasm', messages, wasmTransform(wasmModule as WasmModule)),
  },
  async verify() {
    const stats = (wasmModule as WasmModule).stats;
    return [`module instances: ${stats.instantiations} for ${stats.calls} calls`];
  },
};
