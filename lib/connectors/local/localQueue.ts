// An in-process queue with redelivery, shared by the embedded sources (mem://, stdin://, file://): a nacked message
// goes back to the front of the queue after a backoff, with its delivery count raised.
import { nextMessageId, type MessageInit } from '../../message';
import type { ReceivedMessage, SourceContext, SourceDriver } from '../../source';
import { Fifo } from '../../fifo';
import { exponentialBackoff } from '../../backoff';

/** A queued message is its own delivery record: one object, handed to receive() as message and token alike. */
export interface QueuedMessage extends ReceivedMessage {
  readonly id: string;
  deliveryCount: number;
}

/** Backoff before a nacked message comes back: base * 2^(deliveries-1), capped at 30 s. */
export function redeliveryDelay(baseMs: number, deliveries: number): number {
  return exponentialBackoff(baseMs, deliveries, 30_000);
}

export class LocalQueue {
  readonly items = new Fifo<QueuedMessage>();
  private readonly consumers: LocalConsumer[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private spaceWaiters: (() => void)[] = [];
  private next = 0;

  constructor(
    /** Base of the redelivery backoff. */
    public redeliveryBaseMs = 50,
    /** Above this many queued messages, writers wait (mem:// sinks) or readers pause (files). */
    public highWater = Number.POSITIVE_INFINITY,
  ) {}

  get length(): number {
    return this.items.length;
  }

  /** Messages waiting for a redelivery timer. */
  get redeliveriesPending(): number {
    return this.timers.size;
  }

  get full(): boolean {
    return this.items.length >= this.highWater;
  }

  /** Queues a message; one without an id gets one now, so that its redeliveries keep it. */
  push(init: MessageInit): void {
    this.items.push({ id: init.id ?? nextMessageId(), body: init.body, metadata: init.metadata, key: init.key, deliveryCount: 0 });
    this.wake();
  }

  /** Resolves once the queue is below its high-water mark. */
  whenSpace(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => this.spaceWaiters.push(resolve));
  }

  redeliver(item: QueuedMessage): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.items.unshift(item);
      this.wake();
    }, redeliveryDelay(this.redeliveryBaseMs, item.deliveryCount));
    // while someone consumes the queue, a pending redelivery keeps the process alive: the input has not ended until
    // the message is delivered, dead-lettered or given up. A queue nobody reads does not hold the process.
    if (this.consumers.length === 0) timer.unref();
    this.timers.add(timer);
  }

  attach(consumer: LocalConsumer): void {
    this.consumers.push(consumer);
    for (const timer of this.timers) timer.ref();
  }

  detach(consumer: LocalConsumer): void {
    const index = this.consumers.indexOf(consumer);
    if (index >= 0) this.consumers.splice(index, 1);
    if (this.consumers.length === 0) for (const timer of this.timers) timer.unref();
  }

  /** Hands queued messages to the consumers, taking turns. */
  wake(): void {
    const count = this.consumers.length;
    for (let tried = 0; tried < count && this.items.length > 0; tried++) {
      this.consumers[this.next++ % count].pump();
    }
    this.notifySpace();
  }

  notifySpace(): void {
    if (this.spaceWaiters.length > 0 && !this.full) {
      const waiters = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const wake of waiters) wake();
    }
  }

}

/** A source driver that takes messages from a LocalQueue while it has credit. */
export class LocalConsumer implements SourceDriver<QueuedMessage> {
  /**
   * Set by the readers of an input that ends (stdin://, file://): past maxDeliveries with no dead letter a message is
   * given up, so that the input can end. A mem:// topic never ends: it redelivers like a broker does.
   */
  readonly local: boolean = false;
  private context: SourceContext<QueuedMessage> | undefined;
  private pumping = false;
  private outstanding = 0;
  private inputEnded = false;
  protected closed = false;

  constructor(
    readonly scheme: string,
    protected readonly queue: LocalQueue,
  ) {}

  start(context: SourceContext<QueuedMessage>): void | Promise<void> {
    this.context = context;
    context.onCredit(() => this.pump());
    this.queue.attach(this);
    this.pump();
  }

  pump(): void {
    const context = this.context;
    if (context === undefined || this.pumping || this.closed) return;
    this.pumping = true;
    try {
      while (context.credit > 0 && !context.stopped && this.queue.items.length > 0) {
        const item = this.queue.items.shift() as QueuedMessage;
        item.deliveryCount++;
        this.outstanding++;
        context.receive(item, item);
      }
    } finally {
      this.pumping = false;
    }
    this.queue.notifySpace();
    this.afterPump();
  }

  /** Hook for readers: resume input when the queue has room. */
  protected afterPump(): void {}

  /** The input has no more messages: complete once everything queued has been settled. */
  protected endOfInput(): void {
    this.inputEnded = true;
    this.checkEnd();
  }

  ack(_item: QueuedMessage): void {
    this.outstanding--;
    this.checkEnd();
  }

  nack(item: QueuedMessage, _error: Error): void {
    this.outstanding--;
    if (this.closed) {
      this.queue.items.unshift(item);
    } else {
      this.queue.redeliver(item);
    }
  }

  stopIntake(): void {
    // nothing to stop upstream: pump() checks `stopped`
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.detach(this);
  }

  private checkEnd(): void {
    if (
      this.inputEnded &&
      this.outstanding === 0 &&
      this.queue.items.length === 0 &&
      this.queue.redeliveriesPending === 0
    ) {
      this.context?.complete();
    }
  }
}
