// The portable source: a cold Observable<Message> over a small driver, owning the credit window, ackTimeout,
// dead-lettering after too many deliveries, and the graceful drain. Drivers only know their client library.
import { performance } from 'node:perf_hooks';
import { Observable, type Observer, type Subscriber } from 'rxjs';
import { type LeafCounter, Message, type MessageInit, Settlement, type SettlementHandler } from './message';
import type { Sink } from './sink';
import { rootLogger, type Logger } from './logging/logger';
import { parseDuration } from './config';
import { failMessage, noteFailure } from './deadLetter';
import { AckTimeoutError, isRetryable, ShutdownError, TooManyDeliveriesError } from './errors';
import { equalJitter, exponentialBackoff } from './backoff';
import { Fifo } from './fifo';
import { openStage, closeStage, Histogram, Sampler, type StageMetrics } from './metrics';
import type { SourceTracing } from './tracing/hooks';
import { wakeableWait } from './wakeableWait';
import { SubscribeScope } from './subscribeScope';

export const DEFAULT_MAX_IN_FLIGHT = 1024;
export const DEFAULT_ACK_TIMEOUT_MS = 120_000;
/** Deliveries before a message goes to the dead letter, for sources that count them. */
export const DEFAULT_MAX_DELIVERIES = 5;

export interface SourceOptions {
  /** Most unsettled messages at once; the source stops pulling when the window is full. Default 1024. */
  maxInFlight?: number;
  /** A message unsettled for this long is nacked with a warning (ms or `30s`). Default 2m; 0 turns it off. */
  ackTimeout?: number | string;
  /** Where a message goes once it has been delivered more than `maxDeliveries` times. */
  deadLetter?: Sink;
  /** Deliveries before a message goes to `deadLetter` (for sources that count deliveries). Default 5. */
  maxDeliveries?: number;
  logger?: Logger;
  /** Where connectors read their variables (NATS_SERVER_URL, HTTP_SOURCE_TOKEN, ...). Default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** What a driver hands over for each message: the message and, when the service counts them, its deliveries. */
export interface ReceivedMessage extends MessageInit {
  /** 1 for the first delivery. */
  deliveryCount?: number;
}

/** A message a driver received, and the token that settles it (ack/nack get it back). */
export interface Delivery<T> {
  readonly message: ReceivedMessage;
  readonly token: T;
}

/**
 * The runtime's side, as a driver sees it. A driver takes messages in one of three ways:
 * - **pull** (SQS, Kafka, JetStream, files, mem): it implements `receiveBatch(max, signal)`; the runtime calls it
 *   while the window has room, never asking for more than fits, and owns the loop, the pausing and the backoff;
 * - **push** (core NATS, RabbitMQ, Pub/Sub): its client hands messages over as they come, and it passes them to
 *   `push()`; the runtime delivers them while the window has room and keeps the rest, in order, until it has;
 * - **request** (the HTTP source): a handler that must wait for room before it reads anything calls `acquire()`.
 */
export interface SourceContext<T> {
  readonly maxInFlight: number;
  /** Free slots in the credit window. */
  readonly credit: number;
  /** True once intake has been stopped (drain or unsubscribe): take no more messages. */
  readonly stopped: boolean;
  readonly logger: Logger;
  /** This source's counters (/metrics, pipeline.stats()): drivers count their own errors with `stats.error(kind)`. */
  readonly stats: StageMetrics;
  /**
   * Push drivers: hands one message over. It goes into the pipeline at once while the window has room, else waits in
   * the runtime's buffer (oldest first). What still waits there when intake stops is given back with
   * `nack(token, ShutdownError)` and was never counted as received. `token` comes back in ack/nack.
   */
  push(message: ReceivedMessage, token: T): void;
  /** Push drivers: deliveries waiting in the runtime's buffer for room in the window (to pause a subscription). */
  readonly buffered: number;
  /**
   * Hands one message to the pipeline now. Call only while `credit > 0` (a reserved slot, or inside a pump).
   * Returns the message (already emitted downstream).
   */
  receive(message: ReceivedMessage, token: T): Message;
  /**
   * Reserves one slot, waiting in line for it when the window is full; resolves to undefined once intake has
   * stopped. The slot is held until `slot.receive(...)` uses it or `slot.release()` gives it back.
   */
  acquire(): Promise<CreditSlot<T> | undefined>;
  /** The service has no more messages (end of a file): completes once every message is settled. */
  complete(): void;
  /** A failure the source cannot survive: errors the Observable. */
  error(error: unknown): void;
}

/** One reserved place in the credit window. */
export interface CreditSlot<T> {
  receive(message: ReceivedMessage, token: T): Message;
  release(): void;
}

/** A small driver: one service's client library behind the portable source. */
export interface SourceDriver<T = unknown> {
  readonly scheme: string;
  /**
   * Begin: connect (and, for a push driver, subscribe). A rejection is a start-up failure. A pull driver's messages
   * start flowing once it resolves.
   */
  start(context: SourceContext<T>): void | Promise<void>;
  /**
   * Pull drivers: up to `max` messages (never more), waiting for the first up to the driver's own poll time and
   * resolving early, possibly empty, once `signal` aborts (intake stopped). Resolves `null` when the input has ended
   * (the end of a file): the source completes once every message is settled. A rejection is classified with
   * isRetryable(): retryable -> logged and tried again after a backoff (lib/backoff.ts), permanent -> the source fails.
   */
  receiveBatch?(max: number, signal: AbortSignal): Promise<readonly Delivery<T>[] | null>;
  /** Pull drivers: receiveBatch calls that may run at once (SQS pollers). Default 1. */
  readonly receivers?: number;
  /** Pull drivers: most messages one receiveBatch call can return (SQS: 10); the runtime asks for no more. */
  readonly maxBatch?: number;
  /** Stop taking new messages; those already received still settle through ack/nack. */
  stopIntake?(): void | Promise<void>;
  ack(token: T): void;
  nack(token: T, error: Error): void;
  /** Release everything; called once, after the last settlement. */
  close(): Promise<void>;
  /** Whether the source is connected (for /ready). */
  readonly ready?: boolean;
  /**
   * Set by at-most-once drivers (core NATS): what to use instead for at least once. run() warns at start-up when
   * such a source feeds a sink that can fail.
   */
  readonly atMostOnce?: string;
  /**
   * Set by sources of an input that ends (stdin://, file://): nothing outside the process keeps their messages, so one
   * nacked more than `maxDeliveries` times with no dead letter is given up (counted, logged at warn) instead of being
   * redelivered for ever, and the input can end.
   */
  readonly local?: boolean;
  /** Messages the driver read but that nothing will deliver once it is closed (an in-process input stopped early). */
  readonly undelivered?: number;
}

/** Whoever wants to drain the sources of a pipeline (run()) registers here while subscribing. */
export interface SourceRegistry {
  /** Returns false when the pipeline is stopping already: the source then completes without starting. */
  register(source: SourceRuntime): boolean;
}

/** The property of run()'s observer that names its pipeline, so that a source subscribed late can find it. */
export const PIPELINE_REGISTRY = Symbol.for('wasm-pipes.pipeline');
/** The property of an operator's inner observer that names the subscriber it forwards to (see linkObserver()). */
export const DOWNSTREAM = Symbol.for('wasm-pipes.downstream');

const registryScope = new SubscribeScope<SourceRegistry>();

/** Runs `subscribe` with `registry` receiving every source that starts synchronously inside it. */
export function withSourceRegistry<T>(registry: SourceRegistry, subscribe: () => T): T {
  return registryScope.run(registry, subscribe);
}

/**
 * Marks an operator's observer of its upstream with the subscriber it forwards to, so that a source subscribed
 * upstream of the operator, later than start() (inside mergeMap, after a timer), still finds its pipeline.
 */
export function linkObserver<T>(downstream: unknown, observer: Partial<Observer<T>>): Partial<Observer<T>> {
  (observer as Record<symbol, unknown>)[DOWNSTREAM] = downstream;
  return observer;
}

type ChainNode = Partial<Record<symbol, unknown>> & { destination?: unknown; partialObserver?: unknown };

/**
 * The pipeline a subscriber leads to: RxJS subscribers forward to their `destination` (operators built on RxJS's
 * own subscribers, mergeMap's inner subscriptions), safe subscribers to the observer they wrap, and our operators'
 * observers name their downstream; run()'s observer names the pipeline. Undefined when the chain leads elsewhere
 * (a Subject, an operator that subscribes with an observer of its own).
 */
export function registryOf(subscriber: unknown): SourceRegistry | undefined {
  let node = subscriber as ChainNode | undefined;
  for (let depth = 0; node !== undefined && node !== null && typeof node === 'object' && depth < 10_000; depth++) {
    const registry = node[PIPELINE_REGISTRY];
    if (registry !== undefined) return registry as SourceRegistry;
    const next = node[DOWNSTREAM] ?? node.partialObserver ?? node.destination;
    node = next as ChainNode | undefined;
  }
  return undefined;
}

/**
 * The clock that ackTimeout uses: coarse (updated by the sweep timer), so a message costs no clock read. It counts
 * milliseconds from when this module was loaded, not from 1970: a small integer fits a settlement's field as it is,
 * where a Date.now() value would be boxed in a number object of its own, one more allocation a message. (Past 24 days
 * it outgrows that representation and is boxed again: slower, still right.)
 */
const clockOrigin = Date.now();
function coarseClock(): number {
  // Math.floor gives a small integer as one (the difference alone is a boxed number, in the interpreter)
  return Math.floor(Date.now() - clockOrigin);
}
let coarseNow = 0;

/** Counters of the sources of a pipeline, summed (pipeline.stats()). */
export interface SourceStats {
  received: number;
  acked: number;
  nacked: number;
  deadLettered: number;
  timedOut: number;
  /** Given up past maxDeliveries with no dead letter by an in-process source: not delivered. */
  givenUp: number;
  maxInFlight: number;
}

/** One subscription's runtime: credit window, settlement routing, timeouts, drain. */
export class SourceRuntime<T = unknown> implements SourceContext<T>, SettlementHandler, LeafCounter {
  readonly maxInFlight: number;
  readonly logger: Logger;
  /** Plain counters, incremented on the hot path and read at scrape time (see lib/metrics.ts). */
  readonly stats: StageMetrics;
  private readonly ackTimeout: number;
  private readonly maxDeliveries: number;
  private readonly deadLetter?: Sink;
  /** Source messages not yet settled (the intrusive list's length). */
  private unsettled = 0;
  /** Live messages holding the window: the unsettled leaves of every pending source message (outputs included). */
  private live = 0;
  private head: Settlement | undefined = undefined;
  private tail: Settlement | undefined = undefined;
  private receiving = 0;
  private reserved = 0;
  /** Push drivers: deliveries waiting for room in the window. */
  private readonly pushed = new Fifo<ReceivedMessage>();
  /** The tokens of `pushed`, in step with it (two queues, so that buffering a delivery makes no object). */
  private readonly pushedTokens = new Fifo<T>();
  private pumping = false;
  /** Pull drivers: messages asked for by receiveBatch calls in progress (room they may fill). */
  private requested = 0;
  private readonly intake = new AbortController();
  private receiveFailures = 0;
  private creditWaiters: (() => void)[] = [];
  private acquirers = new Fifo<(slot: CreditSlot<T> | undefined) => void>();
  private idleWaiters: (() => void)[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private stoppedIntake = false;
  private completing = false;
  private finished = false;
  private closing: Promise<void> | undefined;
  private hasStarted = false;
  private readonly sampler = new Sampler();
  private readonly ackLatency: Histogram;
  private readonly nackLatency: Histogram;
  /** Set by run() when its pipeline is traced (lib/tracing): a trace per message, from here to its settlement. */
  tracing: SourceTracing | undefined = undefined;
  /** Resolves when the driver started; rejects on a start-up failure. */
  readonly started: Promise<void>;
  private resolveStarted!: () => void;
  private rejectStarted!: (error: unknown) => void;

  constructor(
    readonly driver: SourceDriver<T>,
    private readonly subscriber: Subscriber<Message>,
    options: SourceOptions,
    readonly name: string,
  ) {
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.ackTimeout = parseDuration(options.ackTimeout ?? DEFAULT_ACK_TIMEOUT_MS, 'ackTimeout');
    this.maxDeliveries = options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES;
    this.deadLetter = options.deadLetter;
    this.logger = (options.logger ?? rootLogger()).child({ source: name });
    this.stats = openStage('source', name, driver.scheme);
    this.ackLatency = new Histogram();
    this.nackLatency = new Histogram();
    this.stats.settleLatency = { ack: this.ackLatency, nack: this.nackLatency };
    this.stats.gauges = () => ({ inFlight: this.unsettled, maxInFlight: this.maxInFlight, ready: this.ready });
    this.started = new Promise((resolve, reject) => {
      this.resolveStarted = () => {
        this.hasStarted = true;
        resolve();
      };
      this.rejectStarted = reject;
    });
    this.started.catch(() => undefined);
  }

  get credit(): number {
    return this.maxInFlight - this.live - this.reserved;
  }

  get stopped(): boolean {
    return this.stoppedIntake;
  }

  /**
   * Nothing more will come from this source until some of its messages settle: its window is full, intake stopped,
   * or its input ended. A sink that gathers messages (s3://) writes what it has then, instead of waiting for more.
   */
  get waitsForSettlement(): boolean {
    return this.credit <= 0 || this.stoppedIntake || this.completing || this.finished;
  }

  get inFlightCount(): number {
    return this.unsettled;
  }

  /** Source messages received and not yet settled (as a pipeline's `sources` report it). */
  get inFlight(): number {
    return this.unsettled;
  }

  get scheme(): string {
    return this.driver.scheme;
  }

  /** Closed: unsubscribed, or its pipeline ended. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Live messages holding the window, outputs of transforms included (at least inFlightCount while none is split). */
  get liveCount(): number {
    return this.live;
  }

  /** Connected: the driver's `ready` getter, or, for a driver without one, started and not closed. */
  get ready(): boolean {
    if (!this.hasStarted || this.closing !== undefined) return false;
    return this.driver.ready ?? true;
  }

  /**
   * The oldest unsettled message: the last stage that saw it and, when ackTimeout is on (its clock runs), roughly how
   * long ago it came.
   */
  oldestInFlight(): { ageMs?: number; lastSeenAfter: string } | undefined {
    const head = this.head;
    if (head === undefined) return undefined;
    const lastSeenAfter = head.stage ?? 'source';
    return this.ackTimeout > 0 ? { ageMs: Math.max(0, coarseClock() - head.receivedAt), lastSeenAfter } : { lastSeenAfter };
  }

  start(): void {
    if (this.ackTimeout > 0) {
      const period = Math.max(10, Math.min(1000, Math.floor(this.ackTimeout / 4)));
      coarseNow = coarseClock();
      this.sweepTimer = setInterval(() => this.sweep(), period);
      this.sweepTimer.unref();
    }
    try {
      const started = this.driver.start(this);
      if (started !== undefined) {
        started.then(
          () => {
            this.resolveStarted();
            this.startPulling();
          },
          (error) => {
            this.rejectStarted(error);
            this.error(error);
          },
        );
      } else {
        this.resolveStarted();
        this.startPulling();
      }
    } catch (error) {
      this.rejectStarted(error);
      this.error(error);
    }
  }

  get buffered(): number {
    return this.pushed.length;
  }

  push(message: ReceivedMessage, token: T): void {
    if (this.stoppedIntake) {
      this.giveBack(token);
      return;
    }
    if (this.pushed.length === 0 && this.credit > 0 && !this.pumping) {
      this.receive(message, token);
      return;
    }
    this.buffer(message, token);
    this.pumpPushed();
  }

  /** Keeps a delivery until the window has room (pumpPushed). */
  private buffer(message: ReceivedMessage, token: T): void {
    this.pushed.push(message);
    this.pushedTokens.push(token);
  }

  /** Delivers what push drivers handed over, oldest first, while the window has room (never re-entrantly). */
  private pumpPushed(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.pushed.length > 0 && this.credit > 0 && !this.stoppedIntake) {
        this.receive(this.pushed.shift() as ReceivedMessage, this.pushedTokens.shift() as T);
      }
    } finally {
      this.pumping = false;
    }
  }

  /** A delivery the pipeline never took: back to the service (a push driver's nack redelivers or drops it). */
  private giveBack(token: T): void {
    try {
      this.driver.nack(token, new ShutdownError('intake stopped before the message entered the pipeline'));
    } catch (error) {
      this.logger.warn({ err: error }, 'giving a message back failed');
    }
  }

  private startPulling(): void {
    if (this.driver.receiveBatch === undefined || this.finished) return;
    const receivers = Math.max(1, this.driver.receivers ?? 1);
    for (let i = 0; i < receivers; i++) void this.pullLoop();
  }

  /** Resolves once the window has room beyond what receiveBatch calls in progress may fill, or intake stopped. */
  private roomToAsk(): Promise<void> {
    if (this.room() > 0 || this.stoppedIntake) return Promise.resolve();
    return new Promise((resolve) => this.creditWaiters.push(resolve));
  }

  /** One receiver: asks the driver for what fits in the window, hands it over, and backs off on failures. */
  private async pullLoop(): Promise<void> {
    const driver = this.driver;
    const receiveBatch = (driver.receiveBatch as NonNullable<SourceDriver<T>['receiveBatch']>).bind(driver);
    while (!this.stoppedIntake && !this.finished) {
      await this.roomToAsk();
      if (this.stoppedIntake || this.finished) return;
      const max = Math.min(this.room(), driver.maxBatch ?? Number.POSITIVE_INFINITY);
      if (max <= 0) continue;
      this.askedFor(max);
      let batch: readonly Delivery<T>[] | null;
      try {
        batch = await receiveBatch(max, this.intake.signal);
      } catch (error) {
        this.askedFor(-max);
        if (!isRetryable(error)) {
          this.error(error);
          return;
        }
        this.receiveFailures++;
        this.stats.error('receive_failed');
        const delay = equalJitter(exponentialBackoff(100, this.receiveFailures, 30_000));
        noteFailure(
          this.logger,
          'receive_failed',
          { err: error, attempt: this.receiveFailures, delayMs: Math.round(delay) },
          `receiving failed: ${(error as Error).message}; trying again in ${Math.round(delay)} ms`,
        );
        await this.sleepUnlessStopped(delay);
        continue;
      }
      this.askedFor(-max);
      if (this.receiveFailures > 0) {
        this.logger.info({ failures: this.receiveFailures }, 'receiving again');
        this.receiveFailures = 0;
      }
      if (batch === null) {
        this.complete();
        return;
      }
      if (batch.length > max) {
        this.error(new Error(`${driver.scheme} driver returned ${batch.length} messages for a receiveBatch of ${max}`));
        return;
      }
      for (let i = 0; i < batch.length; i++) {
        const delivery = batch[i];
        // intake stopped while the batch was on its way: it is given back, never counted
        if (this.stoppedIntake) this.giveBack(delivery.token);
        // the first messages' outputs may have filled the window: the rest wait in the buffer, as pushed ones do
        else if (this.credit > 0 && this.pushed.length === 0) this.receive(delivery.message, delivery.token);
        else this.buffer(delivery.message, delivery.token);
      }
    }
  }

  /** Room in the window that no receiveBatch in progress and no buffered delivery will take. */
  private room(): number {
    return this.credit - this.requested - this.pushed.length;
  }

  /** Room asked for by receiveBatch calls in progress; when a call gives some back, other receivers may ask. */
  private askedFor(delta: number): void {
    this.requested += delta;
    if (delta < 0 && this.creditWaiters.length > 0 && this.room() > 0) {
      const waiters = this.creditWaiters;
      this.creditWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  private sleepUnlessStopped(ms: number): Promise<void> {
    return wakeableWait(this.intake.signal, { ms });
  }

  receive(init: ReceivedMessage, token: T): Message {
    const settlement = new Settlement(this, token);
    settlement.receivedAt = coarseNow;
    settlement.owner = this;
    if (this.sampler.sample()) settlement.sampledAt = performance.now();
    const message = new Message(init, settlement);
    if (this.tracing !== undefined) this.tracing.received(message, this.name, this.driver.scheme);
    this.unsettled++;
    this.live++;
    this.stats.received++;
    // append to the intrusive list, oldest first
    if (this.tail === undefined) {
      this.head = this.tail = settlement;
    } else {
      settlement.prev = this.tail;
      this.tail.next = settlement;
      this.tail = settlement;
    }
    if (init.deliveryCount !== undefined && init.deliveryCount > this.maxDeliveries) {
      if (this.deadLetter !== undefined) {
        this.sendToDeadLetter(message, init.deliveryCount);
        return message;
      }
      if (this.driver.local === true) {
        this.giveUp(message, init.deliveryCount);
        return message;
      }
    }
    this.receiving++;
    this.stats.emitted++;
    try {
      this.subscriber.next(message);
    } finally {
      this.receiving--;
    }
    return message;
  }

  settled(settlement: Settlement, error: Error | undefined): void {
    if (this.tracing !== undefined) this.tracing.settled(settlement, error);
    const { prev, next } = settlement;
    if (prev === undefined) this.head = next;
    else prev.next = next;
    if (next === undefined) this.tail = prev;
    else next.prev = prev;
    settlement.prev = settlement.next = undefined;
    this.unsettled--;
    // the leaves still alive (outputs in a sink's queue when a sibling failed) no longer hold the window: they are
    // skipped when reached, never written
    this.live -= settlement.leaves;
    settlement.leaves = 0;
    const token = settlement.token as T;
    if (settlement.sampledAt !== undefined) {
      (error === undefined ? this.ackLatency : this.nackLatency).observe((performance.now() - settlement.sampledAt) / 1000);
    }
    try {
      if (error === undefined) {
        this.stats.acked++;
        this.driver.ack(token);
      } else {
        this.stats.nacked++;
        this.driver.nack(token, error);
      }
    } catch (failure) {
      this.stats.error('settle_failed');
      this.logger.error({ err: failure }, 'the source failed to settle a message');
    }
    if (this.unsettled === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
    this.handOutCredit();
  }

  leavesAdded(delta: number): void {
    this.live += delta;
  }

  leafSettled(): void {
    const wasFull = this.live + this.reserved >= this.maxInFlight;
    this.live--;
    if (wasFull) this.handOutCredit();
  }

  private handOutCredit(): void {
    if (this.pushed.length > 0 && this.receiving === 0) this.pumpPushed();
    while (this.acquirers.length > 0 && this.credit > 0 && !this.stoppedIntake) {
      const take = this.acquirers.shift() as (slot: CreditSlot<T> | undefined) => void;
      take(this.newSlot());
    }
    if (this.credit <= 0) return;
    if (this.creditWaiters.length > 0) {
      const waiters = this.creditWaiters;
      this.creditWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  acquire(): Promise<CreditSlot<T> | undefined> {
    if (this.stoppedIntake) return Promise.resolve(undefined);
    if (this.credit > 0 && this.acquirers.length === 0) return Promise.resolve(this.newSlot());
    return new Promise((resolve) => this.acquirers.push(resolve));
  }

  private newSlot(): CreditSlot<T> {
    this.reserved++;
    let used = false;
    return {
      receive: (init, token) => {
        if (used) throw new Error('a credit slot can be used once');
        used = true;
        this.reserved--;
        return this.receive(init, token);
      },
      release: () => {
        if (used) return;
        used = true;
        this.reserved--;
        this.handOutCredit();
      },
    };
  }

  complete(): void {
    if (this.completing) return;
    this.completing = true;
    void this.whenIdle().then(() => this.finish());
  }

  error(error: unknown): void {
    if (this.finished) return;
    this.stats.error('source_failed');
    this.finished = true;
    this.stopTimers();
    this.subscriber.error(error);
  }

  /** Resolves when no message is in flight. */
  whenIdle(): Promise<void> {
    if (this.unsettled === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops intake; in-flight messages still settle. */
  async stopIntake(): Promise<void> {
    if (this.stoppedIntake) return;
    this.stoppedIntake = true;
    this.intake.abort();
    this.pushed.drain();
    for (const token of this.pushedTokens.drain()) this.giveBack(token);
    // waiters for credit will find `stopped` and give up
    const waiters = this.creditWaiters;
    this.creditWaiters = [];
    for (const wake of waiters) wake();
    for (const take of this.acquirers.drain()) take(undefined);
    try {
      await this.driver.stopIntake?.();
    } catch (error) {
      this.logger.warn({ err: error }, 'stopping intake failed');
    }
  }

  /** The end of a drain (run() decided that nothing more will settle here): completes the Observable. */
  endDrain(): void {
    this.finish();
  }

  /** Completes at once without starting the driver: the pipeline was stopping when this source was subscribed. */
  refuseStart(): void {
    this.stoppedIntake = true;
    this.resolveStarted();
    this.finish();
  }

  /** Nacks every in-flight message, oldest first. */
  nackAll(error: Error): void {
    while (this.head !== undefined) this.head.nack(error);
  }

  /** Closes the driver once; safe to call more than once. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.stopTimers();
      this.closing = (async () => {
        await this.stopIntake();
        this.nackAll(new Error('source closed before the message was settled'));
        await this.driver.close();
      })()
        .catch((error) => this.logger.warn({ err: error }, 'closing the source failed'))
        .finally(() => closeStage(this.stats));
    }
    return this.closing;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.stopTimers();
    this.subscriber.complete();
  }

  private stopTimers(): void {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private giveUp(message: Message, deliveries: number): void {
    this.stats.givenUp++;
    noteFailure(
      this.logger,
      'given_up',
      { id: message.id, deliveries },
      `message ${message.id} given up after ${deliveries - 1} failed deliveries (MAX_DELIVERIES ${this.maxDeliveries}) and no dead letter: ` +
        'it was not delivered. Set DEAD_LETTER_URI to keep such messages, or raise MAX_DELIVERIES',
    );
    message.ack();
  }

  private sendToDeadLetter(message: Message, deliveries: number): void {
    const reason = new TooManyDeliveriesError(`delivered ${deliveries} times, more than maxDeliveries (${this.maxDeliveries})`);
    failMessage(message, reason, { origin: this.name, stats: this.stats, logger: this.logger, deadLetter: this.deadLetter });
  }

  private sweep(): void {
    coarseNow = coarseClock();
    const deadline = coarseNow - this.ackTimeout;
    let expired = 0;
    let first: Settlement | undefined;
    let settlement = this.head;
    // oldest first; a message a sink holds (queued, writing, waiting to retry) is not lost, so it does not time out
    while (settlement !== undefined && settlement.receivedAt <= deadline) {
      const next = settlement.next;
      if (settlement.held === 0) {
        first ??= settlement;
        expired++;
        this.stats.timedOut++;
        const stage = settlement.stage;
        settlement.nack(
          new AckTimeoutError(
            `not settled within ackTimeout (${this.ackTimeout} ms) and held by no sink; last seen ${stage ? `after '${stage}'` : 'at the source'}`,
          ),
        );
      }
      settlement = next;
    }
    if (first !== undefined) {
      this.stats.error('ack_timeout', expired);
      const stage = first.stage;
      this.logger.warn(
        { expired, ackTimeoutMs: this.ackTimeout, lastSeenAfter: stage ?? 'source' },
        `${expired} message(s) were not settled within ackTimeout and were nacked. No sink held them (messages waiting ` +
          `in a sink's queue or for a retry do not time out); they were last seen ` +
          `${stage ? `after '${stage}'` : 'leaving the source'}: the operator after that likely dropped them without ` +
          'settling (a plain RxJS filter, map or take?). Use filterMessages/mapMessages, or ack() what you drop.',
      );
    }
  }
}

/**
 * A cold Observable over a driver: each subscription opens its own driver (the first reuses `first`, which the
 * caller built to validate the configuration early), and unsubscribing stops intake and closes it.
 */
export function createSource<T>(
  name: string,
  open: () => SourceDriver<T>,
  options: SourceOptions = {},
  first?: SourceDriver<T>,
): Observable<Message> {
  let unused = first;
  return new Observable<Message>((subscriber) => {
    const driver = unused ?? open();
    unused = undefined;
    const runtime = new SourceRuntime<T>(driver, subscriber, options, name);
    const registry = registryScope.current ?? registryOf(subscriber);
    if (registry !== undefined && !registry.register(runtime)) {
      runtime.refuseStart();
      return () => {
        void runtime.close();
      };
    }
    runtime.start();
    return () => {
      void runtime.close();
    };
  });
}
