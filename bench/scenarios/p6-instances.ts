// P6: a reused instance against a fresh instance per message (the Go prototype's strategy), on examples/uppercase.
// Both call the same host code on the same compiled module; only instantiation differs. (With a module that does
// several microseconds of work per message, such as an AssemblyScript one building strings, the ratio is lower:
// the work is the same on both sides.)
import type { Scenario } from '../harness';
import { Message } from '../../lib/message';
import { loadWasm, type WasmModule } from '../../lib/wasm/load';
import { defaultWasmCache } from '../../lib/wasm/stage';
import { RateLimitedLog, type HostServices } from '../../lib/wasm/host';
import { rootLogger } from '../../lib/logging/logger';
import { uppercaseModule } from './wasmFixtures';
import { BODY } from './common';

let wasmModule: WasmModule | undefined;
let services: HostServices | undefined;
const buffers = { message: 1024, cache: 128 };

function compiled(): WebAssembly.Module {
  return (wasmModule as WasmModule).compiledFor(defaultWasmCache()) as WebAssembly.Module;
}

export const p6: Scenario = {
  id: 'P6',
  title: 'reused instance vs a fresh instance per message (uppercase.wasm, 200-byte body)',
  // the reused side needs long enough rounds to be measured at all (0.4 µs a message): the fresh side takes seconds
  messages: 100_000,
  quickMessages: 10_000,
  target: 100,
  async setup() {
    wasmModule = await loadWasm(await uppercaseModule());
    const logger = rootLogger().child({ bench: 'P6' });
    logger.level = 'warn';
    services = { cache: defaultWasmCache(), config: new Map(), logger, moduleLog: new RateLimitedLog(logger, 0) };
    // the harness warms each side with a tenth of a round; a round of the reused side lasts a few milliseconds, too
    // short for the JIT to settle, so warm the call path properly before measuring
    await p6.candidate.run(50_000);
  },
  baseline: {
    name: 'new instance per message',
    async run(messages) {
      const message = new Message({ body: BODY });
      const began = performance.now();
      for (let i = 0; i < messages; i++) {
        const instance = (wasmModule as WasmModule).instantiate('transform', services as HostServices, compiled(), buffers);
        void instance.invoke(message);
        if (instance.outputs.length !== 1) throw new Error('no output');
      }
      return performance.now() - began;
    },
  },
  candidate: {
    name: 'one reused instance',
    async run(messages) {
      const message = new Message({ body: BODY });
      const began = performance.now();
      const instance = (wasmModule as WasmModule).instantiate('transform', services as HostServices, compiled(), buffers);
      for (let i = 0; i < messages; i++) {
        void instance.invoke(message);
        if (instance.outputs.length !== 1) throw new Error('no output');
      }
      return performance.now() - began;
    },
  },
};
