import type { MonoTypeOperatorFunction } from 'rxjs';
import type { Message } from '../lib/message';
import { wasmOperator, type WasmOperatorOptions } from '../lib/wasm/stage';
import type { WasmModule, WasmSource } from '../lib/wasm/load';

/**
 * Keeps the messages for which a WebAssembly module's `filter` export returns 1, and acks (settles as done) those
 * for which it returns 0. A trap or a negative answer nacks that message only (or dead-letters it with
 * `onError: 'deadLetter'`). The module is compiled once and its instance reused for every message.
 *
 * @param module a path, a `file://` or `http(s)://` URL, the bytes, or a handle from `loadWasm()`
 * @param options `cache`, `config`, `budget`, `maxMemoryPages`, `onError`, `deadLetter`, `poolSize`, `prefetch`
 *
 * @example
 * import { source, sink, run } from 'wasm-pipes';
 * import { wasmFilter } from 'wasm-pipes/operators';
 *
 * await run(
 *   source('stdin://').pipe(wasmFilter('./examples/threshold/threshold.wasm', { config: { threshold: '30' } })),
 *   sink('stdout://'),
 * );
 *
 * @see wasmTransform
 * @see filterMessages
 */
export function wasmFilter(module: WasmSource | Promise<WasmModule>, options: WasmOperatorOptions = {}): MonoTypeOperatorFunction<Message> {
  return wasmOperator('filter', module, options);
}
