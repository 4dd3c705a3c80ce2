// The machinery of operators that wait on a service per message (cache lookups, dedupe): up to `concurrency`
// messages are handled at once, and outputs leave in input order (a bounded reorder window), so order per key is
// kept. A handler that answers synchronously costs no promise and no queueing when nothing is waiting before it.
import { Observable, type OperatorFunction } from 'rxjs';
import { type Message, markStage } from './message';
import { Fifo } from './fifo';
import { toError } from './errors';
import { linkObserver } from './source';
import { openStage, closeStage } from './metrics';

/**
 * What a handler gives back for one message: the message to emit (the input itself or one derived from it), or
 * null when it settled the message itself (dropped: acked; failed: nacked). A throw or a rejection nacks the input.
 */
export type MessageHandlerResult = Message | null;
export type MessageHandler = (message: Message) => MessageHandlerResult | PromiseLike<MessageHandlerResult>;

export const DEFAULT_OPERATOR_CONCURRENCY = 128;

interface Slot {
  readonly message: Message;
  output: MessageHandlerResult;
  done: boolean;
}

function isPromiseLike(value: unknown): value is PromiseLike<MessageHandlerResult> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * An operator that runs `handle` for each message with at most `concurrency` unfinished at once, emitting the
 * results in input order. Messages beyond `concurrency` wait in the window; the source's credit window bounds them.
 */
export function concurrentMessages(
  stage: string,
  handle: MessageHandler,
  concurrency = DEFAULT_OPERATOR_CONCURRENCY,
): OperatorFunction<Message, Message> {
  const limit = Math.max(1, Math.floor(concurrency));
  return (source) =>
    new Observable<Message>((subscriber) => {
      const stats = openStage('operator', stage);
      /** Every message not yet emitted, in input order. */
      const window = new Fifo<Slot>();
      /** Messages in the window whose handler has not started (the concurrency limit was reached). */
      const waiting = new Fifo<Slot>();
      let active = 0;
      let upstreamDone = false;
      let stopped = false;
      let flushing = false;

      const emit = (input: Message, output: MessageHandlerResult): void => {
        if (output === null) {
          // the handler settled the input itself: dropped (acked) or failed (nacked)
          if (input.settlement.state === 2) stats.nacked++;
          else stats.dropped++;
          return;
        }
        if (stopped) return;
        stats.emitted++;
        markStage(output, stage);
        subscriber.next(output);
      };

      const flush = (): void => {
        if (flushing) return;
        flushing = true;
        try {
          for (;;) {
            while (active < limit && waiting.length > 0) start(waiting.shift() as Slot);
            const head = window.peek();
            if (head === undefined || !head.done) break;
            window.shift();
            emit(head.message, head.output);
          }
        } finally {
          flushing = false;
        }
        if (upstreamDone && window.length === 0 && !stopped) subscriber.complete();
      };

      const finish = (slot: Slot, output: MessageHandlerResult): void => {
        slot.output = output;
        slot.done = true;
      };

      /** Runs the handler; a throw nacks the message and counts as a synchronous null. */
      const call = (message: Message): MessageHandlerResult | PromiseLike<MessageHandlerResult> => {
        try {
          return handle(message);
        } catch (error) {
          stats.error('handler');
          message.nack(toError(error));
          return null;
        }
      };

      const track = (slot: Slot, result: PromiseLike<MessageHandlerResult>): void => {
        active++;
        result.then(
          (output) => {
            active--;
            finish(slot, output);
            flush();
          },
          (error: unknown) => {
            active--;
            stats.error('handler');
            slot.message.nack(toError(error));
            finish(slot, null);
            flush();
          },
        );
      };

      const start = (slot: Slot): void => {
        const result = call(slot.message);
        if (isPromiseLike(result)) track(slot, result);
        else finish(slot, result);
      };

      const subscription = source.subscribe(
        linkObserver<Message>(subscriber, {
          next(message) {
            stats.received++;
            if (window.length === 0) {
              // the fast path: nothing waits before this message, so a synchronous answer leaves at once
              const result = call(message);
              if (!isPromiseLike(result)) {
                emit(message, result);
                return;
              }
              const slot: Slot = { message, output: null, done: false };
              window.push(slot);
              track(slot, result);
              return;
            }
            const slot: Slot = { message, output: null, done: false };
            window.push(slot);
            if (active < limit && waiting.length === 0) start(slot);
            else waiting.push(slot);
            flush();
          },
          error: (error) => subscriber.error(error),
          complete: () => {
            upstreamDone = true;
            flush();
          },
        }),
      );
      return () => {
        stopped = true;
        subscription.unsubscribe();
        closeStage(stats);
      };
    });
}
