// Fan-out: one message to several sinks, acked only when every sink confirmed it, nacked at the first permanent
// failure. Each sink gets a forked copy; the copies settle the original together (Message.fork).
import type { Message } from './message';
import type { Sink } from './sink';

export class FanOutSink implements Sink {
  readonly name: string;

  constructor(readonly sinks: readonly Sink[]) {
    this.name = `fanOut(${sinks.map((sink) => sink.name).join(', ')})`;
  }

  get ready(): boolean {
    return this.sinks.every((sink) => sink.ready);
  }

  get mayFail(): boolean {
    return this.sinks.some((sink) => sink.mayFail !== false);
  }

  next(message: Message): void {
    if (message.settled) return;
    const copies = message.fork(this.sinks.length);
    for (let i = 0; i < copies.length; i++) this.sinks[i].next(copies[i]);
  }

  error(error: unknown): void {
    for (const sink of this.sinks) sink.error(error);
  }

  complete(): void {
    for (const sink of this.sinks) sink.complete();
  }

  async close(): Promise<void> {
    await Promise.all(this.sinks.map((sink) => sink.close()));
  }
}
