// P1: mem:// -> wasmTransform(uppercase) -> mem:// against the same pipeline with a JS mapMessages uppercase.
// The module runs with its default budget (instrumented), as users run it.
import type { OperatorFunction } from 'rxjs';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { memTopic } from '../../lib/connectors/mem';
import type { Message } from '../../lib/message';
import { loadWasm, WasmModule } from '../../lib/wasm/load';
import { mapMessages, wasmTransform } from '../../operators';
import { BODY, uppercaseModule } from './wasmFixtures';

let round = 0;
let wasmModule: WasmModule | undefined;

function uppercase(body: Buffer): Buffer {
  return Buffer.from(body.toString('latin1').toUpperCase(), 'latin1');
}

/** Runs `messages` messages through mem -> operator -> mem and returns the elapsed milliseconds. */
export async function throughMem(messages: number, operator: OperatorFunction<Message, Message>, label: string): Promise<number> {
  const name = `bench-${label}-${process.pid}-${round++}`;
  const input = memTopic(`${name}-in`);
  for (let i = 0; i < messages; i++) input.publish({ body: BODY });
  // the sink first: it creates the output topic with room for every message (memTopic() would create it with the
  // default backlog of 100 000, and the sink would then wait for a reader that never comes)
  const output = sink(`mem://${name}-out?max_backlog=${messages + 1}`);
  const outputTopic = memTopic(`${name}-out`);
  const began = performance.now();
  const running = start(source(`mem://${name}-in`, { maxInFlight: 1024 }).pipe(operator), output, { handleSignals: false });
  while (outputTopic.length < messages) await new Promise((resolve) => setImmediate(resolve));
  const elapsed = performance.now() - began;
  await running.stop();
  input.delete();
  outputTopic.delete();
  return elapsed;
}

export const p1: Scenario = {
  id: 'P1',
  title: 'mem:// -> wasmTransform(uppercase) -> mem:// vs mem:// -> mapMessages(JS uppercase) -> mem://',
  messages: 500_000,
  quickMessages: 50_000,
  target: 0.8,
  async setup() {
    wasmModule = await loadWasm(await uppercaseModule());
  },
  baseline: {
    name: 'mapMessages(JS uppercase)',
    run: (messages) => throughMem(messages, mapMessages((m) => ({ body: uppercase(m.body) })), 'p1-js'),
  },
  candidate: {
    name: 'wasmTransform(uppercase.wasm), default budget',
    run: (messages) => throughMem(messages, wasmTransform(wasmModule as WasmModule), 'p1-wasm'),
  },
  async verify() {
    const stats = (wasmModule as WasmModule).stats;
    return [`module instances: ${stats.instantiations} for ${stats.calls} calls`];
  },
};
