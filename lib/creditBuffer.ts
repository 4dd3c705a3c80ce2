// Where a source whose client pushes messages (NATS, AMQP) keeps what arrives while the credit window is full: it is
// handed to the pipeline oldest first as credit comes back, and given back to the service when intake stops.
import type { SourceContext } from './source';
import { Fifo } from './fifo';

export class CreditBuffer<T> {
  private readonly waiting = new Fifo<T>();
  private context: Pick<SourceContext<unknown>, 'credit' | 'onCredit'> | undefined;
  private closed = false;

  /** `deliver` hands one item to the pipeline (context.receive); it is called only while the window has room. */
  constructor(private readonly deliver: (item: T) => void) {}

  /** Hands over through `context` from now on, and again whenever credit comes back. */
  attach(context: Pick<SourceContext<unknown>, 'credit' | 'onCredit'>): void {
    this.context = context;
    context.onCredit(() => this.pump());
  }

  get length(): number {
    return this.waiting.length;
  }

  /**
   * Hands `item` over at once when nothing waits and the window has room, and keeps it otherwise; with `limit` items
   * waiting already it keeps nothing and returns false (the caller drops or refuses the item).
   */
  offer(item: T, limit = Number.POSITIVE_INFINITY): boolean {
    if (this.waiting.length === 0 && (this.context?.credit ?? 0) > 0) this.deliver(item);
    else if (this.waiting.length < limit) this.waiting.push(item);
    else return false;
    return true;
  }

  private pump(): void {
    const context = this.context;
    if (context === undefined) return;
    while (context.credit > 0 && this.waiting.length > 0 && !this.closed) this.deliver(this.waiting.shift() as T);
  }

  /** Stops handing over and returns what waited, oldest first, for the driver to give back (or report lost). */
  close(): T[] {
    this.closed = true;
    return this.waiting.drain();
  }
}
