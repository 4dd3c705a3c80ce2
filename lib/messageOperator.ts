// The frame of a synchronous, message-aware operator: a metrics stage, a handler that may throw (that message is
// nacked, the pipeline goes on), outputs marked with the stage name, and errors and completion passed through.
import { Observable, type OperatorFunction } from 'rxjs';
import { type Message, markStage } from './message';
import { toError } from './errors';
import { linkObserver } from './source';
import { openStage, closeStage, type StageMetrics } from './metrics';

/** What a handler uses to pass outputs on and to count what it drops. */
export interface OperatorOutput {
  /** Passes `output` downstream (counted as emitted). */
  emit(output: Message): void;
  readonly stats: StageMetrics;
}

/**
 * The output side of an operator's frame: each output counted as emitted, marked with the stage's name (for the
 * hop trail and tracing) and passed downstream. messageOperator() and the wasm stage (lib/wasm/stage.ts) emit
 * through it.
 */
export function operatorOutput(name: string, stats: StageMetrics, downstream: { next(message: Message): void }): OperatorOutput {
  return {
    stats,
    emit(message) {
      stats.emitted++;
      markStage(message, name);
      downstream.next(message);
    },
  };
}

export function messageOperator(
  name: string,
  handle: (message: Message, output: OperatorOutput) => void,
): OperatorFunction<Message, Message> {
  return (source) =>
    new Observable<Message>((subscriber) => {
      const stats = openStage('operator', name);
      const output = operatorOutput(name, stats, subscriber);
      const subscription = source.subscribe(
        linkObserver<Message>(subscriber, {
          next(message) {
            stats.received++;
            try {
              handle(message, output);
            } catch (error) {
              stats.nacked++;
              stats.error('handler');
              message.nack(toError(error));
            }
          },
          error: (error) => subscriber.error(error),
          complete: () => subscriber.complete(),
        }),
      );
      return () => {
        subscription.unsubscribe();
        closeStage(stats);
      };
    });
}
