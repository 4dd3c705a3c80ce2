// P8T: does running the wasm stage on worker threads pay off for a CPU-heavy module on a single ordered source (where
// WORKERS cannot help: one consumer keeps the order)? mem:// -> the CPU-heavy module -> mem:// in one process, the
// stage on 2 worker threads with 64 messages per hop (bench/threads, a prototype) against wasmTransform on the main
// thread. The answer decides whether such a stage is worth building (see docs/benchmarks.md).
import type { Worker } from 'node:worker_threads';
import type { Scenario } from '../harness';
import { loadWasm, type WasmModule } from '../../lib/wasm/load';
import { wasmTransform } from '../../operators';
import { cpuHeavyModule } from './wasmFixtures';
import { BODY, throughMem } from './common';
import { startWasmThreads, threadedWasm } from '../threads/threadedWasm';
import { loadNote } from './workers-helpers';

let heavy: WasmModule | undefined;
let workers: Worker[] = [];
const THREADS = 2;
const BATCH = 64;

export const p8t: Scenario = {
  id: 'P8T',
  title: 'mem:// -> CPU-heavy module (~35 µs) -> mem://: the wasm stage on 2 worker threads (64 messages a hop) vs on the main thread',
  messages: 40_000,
  quickMessages: 8_000,
  // keep it only if it wins clearly: the hops, the copies and the ordering must be paid for
  target: 1.3,
  rounds: { quick: 2, full: 5 },
  async setup() {
    const file = await cpuHeavyModule();
    heavy = await loadWasm(file);
    workers = await startWasmThreads(file, THREADS);
  },
  async teardown() {
    await Promise.all(workers.map((worker) => worker.terminate()));
  },
  baseline: {
    name: 'wasmTransform on the main thread',
    run: (messages) => throughMem('p8t-main', messages, wasmTransform(heavy as WasmModule), () => ({ body: BODY })),
  },
  candidate: {
    name: `the stage on ${THREADS} worker threads, ${BATCH} messages a hop`,
    run: (messages) =>
      throughMem('p8t-threads', messages, threadedWasm(workers, { threads: THREADS, batch: BATCH }), () => ({ body: BODY })),
  },
  async verify() {
    return [loadNote(), 'the machine is shared: confirm on a quiet one'];
  },
};
