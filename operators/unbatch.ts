import type { OperatorFunction } from 'rxjs';
import type { Message, MessageChanges } from '../lib/message';
import { messageOperator } from '../lib/messageOperator';
import { ConfigError } from '../lib/errors';
import { builtBatches } from './batchMessages';

export interface UnbatchOptions {
  /** How to read a batch that did not come from batchMessages in this process: `json` (default) or `lines`. */
  format?: 'json' | 'lines';
  /** The name in stats and /metrics. Default `unbatch`. */
  name?: string;
}

function elements(message: Message, format: 'json' | 'lines'): MessageChanges[] {
  if (format === 'lines')
    return message
      .text()
      .split('\n')
      .map((line) => ({ body: line }));
  const parsed: unknown = message.json();
  if (!Array.isArray(parsed)) throw new Error(`unbatch: the body of ${message.id} is not a JSON array`);
  return parsed.map((element) => ({ body: typeof element === 'string' ? element : JSON.stringify(element) }));
}

/**
 * Splits batches back into messages. A batch that batchMessages made in this process, body unchanged, gives back its
 * original messages (ids, keys, metadata and settlement each their own). Any other batch (one that came from a broker,
 * or whose body a transform changed) is read as a JSON array (`format: 'json'`: a string element is a body, anything
 * else its JSON text) or as lines, and its parts settle it together: it is acked when all are, nacked at the first
 * nack. A batch that cannot be read is nacked.
 *
 * @example
 * import { source, sink, run } from 'wasm-pipes';
 * import { unbatch } from 'wasm-pipes/operators';
 *
 * // a topic of JSON arrays -> one message per element
 * await run(source('nats://bulk').pipe(unbatch()), sink('nats://events'));
 *
 * @see batchMessages
 */
export function unbatch(options: UnbatchOptions = {}): OperatorFunction<Message, Message> {
  const format = options.format ?? 'json';
  if (format !== 'json' && format !== 'lines') {
    throw new ConfigError(`format must be 'json' or 'lines', not '${String(format)}'`, { variable: 'unbatch' });
  }
  return messageOperator(options.name ?? 'unbatch', (message, output) => {
    const parts = builtBatches.get(message.body);
    if (parts !== undefined && message.settlement.root.joined === parts) {
      // the batch itself is never settled: its parts are, one by one
      for (const part of parts) if (!part.settled) output.emit(part);
      return;
    }
    const outputs = message.split(elements(message, format));
    if (outputs.length === 0) output.stats.dropped++;
    for (const each of outputs) output.emit(each);
  });
}
