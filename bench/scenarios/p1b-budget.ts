// P1B: the cost of the runaway-loop budget: the uppercase module instrumented with fuel (a check at every loop
// iteration and call) against the plain module, calling one reused instance per message (no pipeline around it,
// so the instrumentation's cost is not diluted).
import type { Scenario } from '../harness';
import { Message } from '../../lib/message';
import { loadWasm, type WasmModule } from '../../lib/wasm/load';
import { defaultWasmCache } from '../../lib/wasm/stage';
import { RateLimitedLog, type HostServices } from '../../lib/wasm/host';
import { rootLogger } from '../../lib/logging/logger';
import { uppercaseModule } from './wasmFixtures';
import { BODY } from './common';

let plain: WasmModule | undefined;
let instrumented: WasmModule | undefined;

function calls(module: WasmModule | undefined, messages: number): number {
  const logger = rootLogger();
  const services: HostServices = { cache: defaultWasmCache(), config: new Map(), logger, moduleLog: new RateLimitedLog(logger) };
  const loaded = module as WasmModule;
  const instance = loaded.instantiate('transform', services, loaded.compiledFor(services.cache) as WebAssembly.Module, {
    message: 1024,
    cache: 128,
  });
  const message = new Message({ body: BODY });
  const began = performance.now();
  for (let i = 0; i < messages; i++) {
    if (instance.invoke(message) !== 0 || instance.outputs.length !== 1) throw new Error('the module failed');
  }
  return performance.now() - began;
}

export const p1b: Scenario = {
  id: 'P1B',
  title: 'budget cost: uppercase.wasm with the fuel budget vs without (direct calls, 200-byte body)',
  messages: 500_000,
  quickMessages: 50_000,
  target: 0.8,
  async setup() {
    const file = await uppercaseModule();
    plain = await loadWasm(file, { budget: false });
    instrumented = await loadWasm(file);
  },
  baseline: { name: 'plain module (budget: false)', run: async (messages) => calls(plain, messages) },
  candidate: { name: 'instrumented module (default budget)', run: async (messages) => calls(instrumented, messages) },
};
