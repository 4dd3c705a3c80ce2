import type { OperatorFunction } from 'rxjs';
import type { Message } from '../lib/message';
import { wasmOperator, type WasmOperatorOptions } from '../lib/wasm/stage';
import type { WasmModule, WasmSource } from '../lib/wasm/load';

/**
 * Runs a WebAssembly module's `transform` export on every message. The module emits 0..N outputs, each with its
 * own body, metadata and key: none drops the message (acked), several share its settlement (the input is acked
 * when every output is). A trap or a negative status nacks that message only (or dead-letters it with
 * `onError: 'deadLetter'`), and a trapped instance is replaced. Modules written for the Go prototype (`run()`)
 * work here too. The module is compiled once and its instance reused for every message.
 *
 * @param module a path, a `file://` or `http(s)://` URL, the bytes, or a handle from `loadWasm()`
 * @param options `cache`, `config`, `budget`, `maxMemoryPages`, `onError`, `deadLetter`, `poolSize`, `prefetch`
 *
 * @example
 * import { source, sink, run } from 'wasm-pipes';
 * import { wasmTransform } from 'wasm-pipes/operators';
 *
 * await run(
 *   source('stdin://').pipe(wasmTransform('./examples/uppercase/uppercase.wasm')),
 *   sink('stdout://'),
 * );
 *
 * @see wasmFilter
 * @see mapMessages
 */
export function wasmTransform(
  module: WasmSource | Promise<WasmModule>,
  options: WasmOperatorOptions = {},
): OperatorFunction<Message, Message> {
  return wasmOperator('transform', module, options);
}
