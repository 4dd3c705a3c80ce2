// An in-process queue with redelivery, shared by the embedded sources (mem://, stdin://, file://): a nacked message
// goes back to the front of the queue after a backoff, with its delivery count raised.
import { idOrNumberOf, type Message, type MessageInit } from '../../message';
import type { Delivery, ReceivedMessage, SourceContext, SourceDriver } from '../../source';
import { Fifo } from '../../fifo';
import { exponentialBackoff } from '../../backoff';
import { wakeableWait } from '../../wakeableWait';

/**
 * A queued message is its own delivery: one object, handed to the runtime as the delivery, the message and the token
 * alike (the getters cost no field and no wrapper object a message).
 */
export class QueuedMessage implements ReceivedMessage, Delivery<QueuedMessage> {
  deliveryCount = 0;
  constructor(
    /**
     * The id, or the number of the one a message published without an id gets (MessageInit.idNumber): a string made
     * for each message as it is queued would be two objects more to keep, and to mark at every full garbage
     * collection, for each message a topic holds. The message read from the queue makes the id if someone reads it.
     */
    private readonly idOrNumber: string | number,
    readonly body: MessageInit['body'],
    readonly metadata: MessageInit['metadata'],
    readonly key: string | undefined,
  ) {}

  get id(): string | undefined {
    const id = this.idOrNumber;
    return typeof id === 'string' ? id : undefined;
  }

  get idNumber(): number | undefined {
    const id = this.idOrNumber;
    return typeof id === 'number' ? id : undefined;
  }

  get message(): QueuedMessage {
    return this;
  }

  get token(): QueuedMessage {
    return this;
  }
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
    this.enqueue(init, idOrNumberOf(init));
    this.wake();
  }

  /** Queues a batch of messages (a sink's write): one record each, and the consumers woken once. */
  pushAll(messages: readonly Message[]): void {
    for (const message of messages) this.enqueue(message, message.idOrNumber);
    this.wake();
  }

  private enqueue(message: MessageInit | Message, id: string | number): void {
    this.items.push(new QueuedMessage(id, message.body, message.metadata, message.key));
  }

  /** Resolves once the queue is below its high-water mark. */
  whenSpace(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => this.spaceWaiters.push(resolve));
  }

  redeliver(item: QueuedMessage): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        this.items.unshift(item);
        this.wake();
      },
      redeliveryDelay(this.redeliveryBaseMs, item.deliveryCount),
    );
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

  /** Tells the consumers that messages wait (they take them in their next receiveBatch). */
  wake(): void {
    for (const consumer of this.consumers) consumer.wake();
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

/** A pull driver over a LocalQueue: each receiveBatch takes what waits, up to what the window has room for. */
export class LocalConsumer implements SourceDriver<QueuedMessage> {
  /**
   * Set by the readers of an input that ends (stdin://, file://): past maxDeliveries with no dead letter a message is
   * given up, so that the input can end. A mem:// topic never ends: it redelivers like a broker does.
   */
  readonly local: boolean = false;
  private outstanding = 0;
  private inputEnded = false;
  protected closed = false;
  /** Resolves the receiveBatch that waits for messages. */
  private waiting: (() => void) | undefined;

  constructor(
    readonly scheme: string,
    protected readonly queue: LocalQueue,
  ) {}

  start(_context: SourceContext<QueuedMessage>): void {
    this.queue.attach(this);
  }

  async receiveBatch(max: number, signal: AbortSignal): Promise<Delivery<QueuedMessage>[] | null> {
    for (;;) {
      if (this.closed || signal.aborted) return [];
      const items = this.queue.items;
      if (items.length > 0) {
        const batch = new Array<QueuedMessage>(Math.min(max, items.length));
        for (let i = 0; i < batch.length; i++) {
          const item = items.shift() as QueuedMessage;
          item.deliveryCount++;
          this.outstanding++;
          batch[i] = item;
        }
        this.queue.notifySpace();
        this.afterTake();
        return batch;
      }
      if (this.ended()) return null;
      await wakeableWait(signal, { wake: (end) => (this.waiting = end), ended: () => (this.waiting = undefined) });
    }
  }

  /** Messages wait, or one was settled (the input may have ended): the waiting receiveBatch looks again. */
  wake(): void {
    this.waiting?.();
  }

  /** Hook for readers: resume input once the queue has room. */
  protected afterTake(): void {}

  /** The input has no more messages: the source ends once everything taken from it has been settled. */
  protected endOfInput(): void {
    this.inputEnded = true;
    this.wake();
  }

  ack(_item: QueuedMessage): void {
    this.outstanding--;
    if (this.inputEnded) this.wake();
  }

  nack(item: QueuedMessage, _error: Error): void {
    this.outstanding--;
    if (this.closed) {
      this.queue.items.unshift(item);
    } else {
      this.queue.redeliver(item);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake();
    this.queue.detach(this);
  }

  private ended(): boolean {
    return this.inputEnded && this.outstanding === 0 && this.queue.items.length === 0 && this.queue.redeliveriesPending === 0;
  }
}
