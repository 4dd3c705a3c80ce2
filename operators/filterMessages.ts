import { Observable, MonoTypeOperatorFunction, OperatorFunction } from 'rxjs';
import { Message, markStage } from '../lib/message';
import { toError } from '../lib/errors';
import { openStage, closeStage } from '../lib/metrics';

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
export function filterMessages<T extends Message>(predicate: (message: Message) => message is T, name?: string): OperatorFunction<Message, T>;
export function filterMessages(predicate: (message: Message) => boolean, name?: string): MonoTypeOperatorFunction<Message>;
export function filterMessages(predicate: (message: Message) => boolean, name = 'filterMessages'): MonoTypeOperatorFunction<Message> {
  return (source) =>
    new Observable<Message>((subscriber) => {
      const stats = openStage('operator', name);
      const subscription = source.subscribe({
        next(message) {
          stats.received++;
          let keep: boolean;
          try {
            keep = predicate(message);
          } catch (error) {
            stats.nacked++;
            stats.error('handler');
            message.nack(toError(error));
            return;
          }
          if (keep) {
            stats.emitted++;
            markStage(message, name);
            subscriber.next(message);
          } else {
            stats.dropped++;
            message.ack();
          }
        },
        error: (error) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      return () => {
        subscription.unsubscribe();
        closeStage(stats);
      };
    });
}
