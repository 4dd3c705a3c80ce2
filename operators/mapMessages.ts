import type { OperatorFunction } from 'rxjs';
import { Message, type MessageChanges } from '../lib/message';
import { messageOperator } from '../lib/messageOperator';

/** What a projection may return: a message (from `m.with(...)`), changes, several outputs, or null to drop. */
export type MapResult = Message | MessageChanges | readonly MessageChanges[] | null | undefined;

/**
 * Maps each message, keeping its settlement: the output is acked or nacked for the input. Return
 * - a message made with `m.with(changes)`, or just the changes (`{ body }`, `{ metadata }`, `{ key }`);
 * - an array of changes for 0..N outputs, which settle the input together (acked when all are acked);
 * - `null` to drop the message (acked).
 * A projection that throws nacks that message only; the pipeline goes on.
 *
 * @example
 * import { source, sink, run } from 'wasm-pipes';
 * import { mapMessages } from 'wasm-pipes/operators';
 *
 * await run(source('stdin://').pipe(mapMessages((m) => ({ body: m.text().toUpperCase() }))), sink('stdout://'));
 *
 * @see filterMessages
 * @see fanOut
 */
export function mapMessages(project: (message: Message) => MapResult, name = 'mapMessages'): OperatorFunction<Message, Message> {
  return messageOperator(name, (message, output) => {
    const result = project(message);
    if (result instanceof Message) {
      output.emit(result);
    } else if (result === null || result === undefined) {
      output.stats.dropped++;
      message.ack();
    } else if (Array.isArray(result)) {
      const outputs = message.split(result as readonly MessageChanges[]);
      if (outputs.length === 0) output.stats.dropped++;
      for (const each of outputs) output.emit(each);
    } else {
      output.emit(message.with(result as MessageChanges));
    }
  });
}
