// Sinks made of sinks: fan-out (every message to each sink, acked when all confirmed), and the base that route()
// and fallback() share, so that run() finds the runtimes inside them (stages, the shutdown gate) and their counters.
import type { Message } from './message';
import type { Sink } from './sink';
import { ConfigError } from './errors';
import { closeStage, type StageMetrics } from './metrics';

/** A sink over other sinks: ready when all are, closed and completed together. */
export abstract class CompositeSink implements Sink {
  abstract readonly name: string;
  /** The composite's own counters (route: unrouted; fallback: fell back), listed in the pipeline's stages. */
  readonly metrics?: StageMetrics;

  constructor(
    readonly sinks: readonly Sink[],
    what: string,
  ) {
    if (sinks.length === 0) {
      // with no sink, every message would be acked unwritten
      throw new ConfigError(`${what} needs at least one sink, for example ${what}(sink("stdout://"), sink("file:///tmp/copy.jsonl"))`, {
        variable: 'sinks',
      });
    }
  }

  get ready(): boolean {
    return this.sinks.every((sink) => sink.ready);
  }

  get mayFail(): boolean {
    return this.sinks.some((sink) => sink.mayFail !== false);
  }

  abstract next(message: Message): void;

  error(error: unknown): void {
    for (const sink of this.sinks) sink.error(error);
  }

  complete(): void {
    for (const sink of this.sinks) sink.complete();
  }

  async close(): Promise<void> {
    try {
      await Promise.all(this.sinks.map((sink) => sink.close()));
    } finally {
      if (this.metrics !== undefined) closeStage(this.metrics);
    }
  }
}

/** One message to several sinks: each gets a forked copy; the copies settle the original together (Message.fork). */
export class FanOutSink extends CompositeSink {
  readonly name: string;

  constructor(sinks: readonly Sink[]) {
    super(sinks, 'fanOut');
    this.name = `fanOut(${sinks.map((sink) => sink.name).join(', ')})`;
  }

  next(message: Message): void {
    if (message.settled) return;
    const copies = message.fork(this.sinks.length);
    for (let i = 0; i < copies.length; i++) this.sinks[i].next(copies[i]);
  }
}

/** `to` as one sink: itself, or a fan-out of a list. */
export function asSink(to: Sink | readonly Sink[]): Sink {
  if (!Array.isArray(to)) return to as Sink;
  const list = to as readonly Sink[];
  return list.length === 1 ? list[0] : new FanOutSink(list);
}
