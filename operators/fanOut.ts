import type { Sink } from '../lib/sink';
import { FanOutSink } from '../lib/fanOut';

/**
 * One Observer that writes every message to each of `sinks`. The message is acked only when every sink confirmed
 * it, and nacked as soon as any sink failed it permanently. `close()` flushes and closes them all.
 *
 * @example
 * import { source, sink, run } from 'wasm-pipes';
 * import { fanOut } from 'wasm-pipes/operators';
 *
 * await run(source('http://:9000/events'), fanOut(sink('stdout://'), sink('file:///tmp/events.jsonl')));
 *
 * @see filterMessages
 * @see mapMessages
 */
export function fanOut(...sinks: Sink[]): Sink {
  return sinks.length === 1 ? sinks[0] : new FanOutSink(sinks);
}
