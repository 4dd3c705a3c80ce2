import type { Sink } from '../lib/sink';
import { attempt, type Message } from '../lib/message';
import { CompositeSink } from '../lib/fanOut';
import { openStage } from '../lib/metrics';
import { rootLogger } from '../lib/logging/logger';

/** A sink that tries its sinks in order; see fallback(). */
class FallbackSink extends CompositeSink {
  readonly name: string;
  override readonly metrics;
  private readonly logger = rootLogger();

  constructor(sinks: readonly Sink[]) {
    super(sinks, 'fallback');
    this.name = `fallback(${sinks.map((sink) => sink.name).join(' | ')})`;
    this.metrics = openStage('operator', this.name);
  }

  next(message: Message): void {
    if (message.settled) return;
    this.metrics.received++;
    this.tryFrom(0, message);
  }

  private tryFrom(index: number, message: Message): void {
    const sink = this.sinks[index];
    if (index === this.sinks.length - 1) {
      // the last one settles the message as any sink does: ack, dead letter or nack
      sink.next(message);
      return;
    }
    sink.next(
      attempt(message, (error) => {
        if (message.settled) return;
        this.metrics.error('fell_back');
        this.logger.debug(
          { id: message.id, from: sink.name, to: this.sinks[index + 1].name, err: error },
          'fallback: trying the next sink',
        );
        this.tryFrom(index + 1, message);
      }),
    );
  }
}

/**
 * A sink that tries each of `sinks` in order: a message goes to the first; if that sink fails it (after its own
 * retries), to the next; and so on. It is acked by the first sink that confirms it, and nacked (or dead-lettered) by
 * the last. The sibling of `fanOut`, like Benthos's `fallback` output. In the bin: `SINK_URI='http://primary/hook|file:///var/spool/hook.jsonl'`.
 *
 * Give the sinks before the last no dead letter of their own: a sink that dead-letters a message has handled it, so
 * the next sink never gets its turn.
 *
 * @example
 * import { source, sink, run } from 'wasm-pipes';
 * import { fallback } from 'wasm-pipes/operators';
 *
 * await run(source('http://:9000/events'), fallback(sink('http://127.0.0.1:8080/hook'), sink('file:///tmp/undelivered.jsonl')));
 *
 * @see fanOut
 * @see route
 */
export function fallback(...sinks: Sink[]): Sink;
export function fallback(sinks: readonly Sink[]): Sink;
export function fallback(...args: (Sink | readonly Sink[])[]): Sink {
  const sinks = (args.length === 1 && Array.isArray(args[0]) ? args[0] : args) as readonly Sink[];
  return sinks.length === 1 ? sinks[0] : new FallbackSink(sinks);
}
