import { Observable, OperatorFunction } from 'rxjs';
import { Message, MessageChanges, markStage } from '../lib/message';
import { toError } from '../lib/errors';
import { openStage, closeStage } from '../lib/metrics';

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
  return (source) =>
    new Observable<Message>((subscriber) => {
      const stats = openStage('operator', name);
      const subscription = source.subscribe({
        next(message) {
          stats.received++;
          let result: MapResult;
          try {
            result = project(message);
          } catch (error) {
            stats.nacked++;
            stats.error('handler');
            message.nack(toError(error));
            return;
          }
          if (result instanceof Message) {
            stats.emitted++;
            markStage(result, name);
            subscriber.next(result);
          } else if (result === null || result === undefined) {
            stats.dropped++;
            message.ack();
          } else if (Array.isArray(result)) {
            const outputs = message.split(result as readonly MessageChanges[]);
            if (outputs.length === 0) stats.dropped++;
            stats.emitted += outputs.length;
            for (const output of outputs) {
              markStage(output, name);
              subscriber.next(output);
            }
          } else {
            stats.emitted++;
            const output = message.with(result as MessageChanges);
            markStage(output, name);
            subscriber.next(output);
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
