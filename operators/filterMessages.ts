import type { MonoTypeOperatorFunction, OperatorFunction } from 'rxjs';
import type { Message } from '../lib/message';
import { messageOperator } from '../lib/messageOperator';

/**
 * Keeps the messages for which `predicate` returns true. A dropped message is acked (settled as done), unlike a
 * plain RxJS `filter`, which would leave it unsettled until ackTimeout nacks it. A predicate that throws nacks
 * that message only.
 *
 * @example
 * import { source, sink, run } from 'wasm-pipes';
 * import { filterMessages } from 'wasm-pipes/operators';
 *
 * await run(
 *   source('http://:9000/events').pipe(filterMessages((m) => m.json<{ level: string }>().level === 'error')),
 *   sink('stdout://'),
 * );
 *
 * @see mapMessages
 * @see fanOut
 */
export function filterMessages<T extends Message>(
  predicate: (message: Message) => message is T,
  name?: string,
): OperatorFunction<Message, T>;
export function filterMessages(predicate: (message: Message) => boolean, name?: string): MonoTypeOperatorFunction<Message>;
export function filterMessages(predicate: (message: Message) => boolean, name = 'filterMessages'): MonoTypeOperatorFunction<Message> {
  return messageOperator(name, (message, output) => {
    if (predicate(message)) {
      output.emit(message);
    } else {
      output.stats.dropped++;
      message.ack();
    }
  });
}
