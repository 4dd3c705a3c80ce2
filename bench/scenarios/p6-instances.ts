// P6: a reused instance against a fresh instance per message (the Go prototype's strategy), on the prototype's own
// ABI (an uppercase module exporting run()). Both call the same host code; only instantiation differs.
import type { Scenario } from '../harness';
import { Message } from '../../lib/message';
import { loadWasm, WasmModule } from '../../lib/wasm/load';
import { defaultWasmCache } from '../../lib/wasm/stage';
import { RateLimitedLog, HostServices } from '../../lib/wasm/host';
import { rootLogger } from '../../lib/logger';
import { BODY, goUppercaseModule } from './wasmFixtures';

let module: WasmModule | undefined;
let services: HostServices | undefined;
const buffers = { message: 1024, cache: 128 };

function compiled(): WebAssembly.Module {
  return (module as WasmModule).compiledFor(defaultWasmCache()) as WebAssembly.Module;
}

export const p6: Scenario = {
  id: 'P6',
  title: 'reused instance vs a fresh instance per message (Go-prototype uppercase module)',
  messages: 20_000,
  quickMessages: 2_000,
  target: 100,
  async setup() {
    module = await loadWasm(await goUppercaseModule());
    const logger = rootLogger().child({ bench: 'P6' });
    logger.level = 'warn';
    services = { cache: defaultWasmCache(), config: new Map(), logger, moduleLog: new RateLimitedLog(logger, 0) };
  },
  baseline: {
    name: 'new instance per message',
    async run(messages) {
      const message = new Message({ body: BODY });
      const began = performance.now();
      for (let i = 0; i < messages; i++) {
        const instance = (module as WasmModule).instantiate('run', services as HostServices, compiled(), buffers);
        instance.invoke(message);
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
      const instance = (module as WasmModule).instantiate('run', services as HostServices, compiled(), buffers);
      for (let i = 0; i < messages; i++) {
        instance.invoke(message);
        if (instance.outputs.length !== 1) throw new Error('no output');
      }
      return performance.now() - began;
    },
  },
};
