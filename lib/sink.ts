// The portable sink: an Observer<Message> over a small driver, owning bounded concurrency, batching, retry with
// backoff and jitter, the dead letter, and the flush on close. A message is acked only once its driver reports
// that the service confirmed the write.
import { performance } from 'node:perf_hooks';
import type { Observer } from 'rxjs';
import { type Message, markStage } from './message';
import { Fifo } from './fifo';
import { isRetryable, ShutdownError, toError } from './errors';
import { parseDuration } from './config';
import { rootLogger, type Logger } from './logging/logger';
import { failMessage, type FailureContext, noteFailure } from './deadLetter';
import { equalJitter, exponentialBackoff } from './backoff';
import { openStage, closeStage, Histogram, Sampler, type StageMetrics } from './metrics';
import { tracingState, traceSinkArrival, traceWriteDone, traceWriteFailed } from './tracing/hooks';

/** What takeBatch gives when nothing could be taken (never written to). */
const NO_MESSAGES: readonly Message[] = [];

/** Per-message results of a write: undefined for a confirmed message, an Error for a failed one. */
export type WriteResult = ReadonlyArray<Error | undefined> | void;

/** A small driver: one service's client library behind the portable sink. */
export interface SinkDriver {
  readonly scheme: string;
  /**
   * Writes `batch` and settles (returns or resolves) only once the service confirmed it. Throwing or rejecting
   * fails the whole batch; returning an array reports each message. A synchronous return is allowed (mem://).
   */
  write(batch: readonly Message[]): WriteResult | Promise<WriteResult>;
  /**
   * Optional start-up check, run once by run()/start() beside the sources' start: connect and check the target. A
   * rejection is a start-up failure, as for a source (the bin exits 1); without it the driver connects on first write.
   */
  start?(): Promise<void>;
  close(): Promise<void>;
  /** Whether the sink is connected (for /ready). */
  readonly ready?: boolean;
  /** False for a sink whose writes cannot fail (in-process); default true. */
  readonly mayFail?: boolean;
  /**
   * True when the service keeps messages of one key in order (SQS FIFO groups, Pub/Sub ordering keys, Kafka keys):
   * the runtime then keeps them in order through retries (`order: 'key'`) unless the user says otherwise.
   */
  readonly ordered?: boolean;
}

export interface BatchOptions {
  /** Most messages in one write. */
  count?: number;
  /** Most body bytes in one write. */
  bytes?: number;
  /** How long a partial batch may wait for more messages (ms or `5ms`); 0 = until the current tick ends. */
  linger?: number | string;
}

export interface RetryOptions {
  /** Attempts in all, the first included. Default 5. */
  maxAttempts?: number;
  /** Delay before the first retry (ms or `100ms`). Default 100 ms. */
  initialDelay?: number | string;
  /** Cap on the delay between attempts. Default 10 s. */
  maxDelay?: number | string;
}

export interface SinkOptions {
  /** Writes in progress at once. */
  concurrency?: number;
  /**
   * `key`: messages with the same key are written in the order they came, retries included: while one waits for a
   * retry or a write, later messages of its key (and only those) wait behind it. `none`: retries may reorder them.
   * Default: `key` for sinks whose service keeps order per key (SQS FIFO, Pub/Sub with ordering keys, Kafka), else `none`.
   */
  order?: 'key' | 'none';
  batch?: BatchOptions;
  retry?: RetryOptions;
  /** Where a permanently failed message goes; the original is acked once the dead letter confirms it. */
  deadLetter?: Sink;
  logger?: Logger;
  /** Where connectors read their variables (NATS_SERVER_URL, ...). Default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** An Observer<Message> that writes to a service; close() flushes and releases it. */
export interface Sink extends Observer<Message> {
  readonly name: string;
  readonly ready: boolean;
  /** False when no write can fail (in-process sinks); undefined counts as true. */
  readonly mayFail?: boolean;
  close(): Promise<void>;
}

/** An Error that asks for a specific delay before the next attempt (a 429 with Retry-After). */
export interface DelayHint {
  retryAfterMs?: number;
}

/** The generic sink runtime. Connectors supply a SinkDriver and defaults; users pass SinkOptions. */
export class SinkRuntime implements Sink {
  private readonly queue = new Fifo<Message>();
  /** Failed attempts so far, only for messages that failed at least once (the hot path allocates nothing). */
  private readonly failures = new Map<Message, number>();
  private active = 0;
  /** Messages in writes in progress. */
  private writing = 0;
  private readonly concurrency: number;
  private readonly batchCount: number;
  private readonly batchBytes: number;
  private readonly linger: number | undefined;
  private readonly maxAttempts: number;
  private readonly initialDelay: number;
  private readonly maxDelay: number;
  private readonly deadLetter?: Sink;
  private readonly logger: Logger;
  private lingerTimer: NodeJS.Timeout | undefined;
  private lingerImmediate: NodeJS.Immediate | undefined;
  /** The oldest queued message has waited its linger: send a partial batch. */
  private lingerOver = false;
  /** Messages waiting to retry, by timer: one each, or (order: 'key') every failed message of one key, in order. */
  private readonly retryTimers = new Map<NodeJS.Timeout, Message[]>();
  private retryWaiting = 0;
  /** order: 'key' -- the retry of each key's failed messages, so that they go back together and in order. */
  private readonly keyRetries = new Map<string, Message[]>();
  private idleWaiters: (() => void)[] = [];
  private closed: Promise<void> | undefined;
  private starting: Promise<void> | undefined;
  private completed = false;
  /** Set by stopWriting() (the end of a shutdown): nothing more is written; queued and arriving messages are nacked. */
  private gate: Error | undefined = undefined;
  /** order: 'key' -- keys with a message taken from the queue and not finished (writing or waiting to retry). */
  private readonly busyKeys: Map<string, number> | undefined;
  /** order: 'key' -- messages that wait behind an unfinished one of their key, in arrival order. */
  private readonly parked = new Map<string, Fifo<Message>>();
  private parkedCount = 0;
  /** Plain counters for /metrics and pipeline.stats(): received, acked (confirmed), nacked, deadLettered, errors. */
  readonly metrics: StageMetrics;
  private readonly sampler = new Sampler();
  private readonly writeOk: Histogram;
  private readonly writeError: Histogram;
  private readonly failureContext: FailureContext;
  private readonly sharedMetrics: boolean;

  constructor(
    readonly name: string,
    private readonly driver: SinkDriver,
    options: SinkOptions = {},
    defaults: { concurrency?: number; batch?: BatchOptions } = {},
    /** Counters shared with other runtimes (the sinks a URI template opened): their owner opens and closes them. */
    shared?: StageMetrics,
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? defaults.concurrency ?? 16);
    const batch = options.batch ?? defaults.batch;
    this.batchCount = Math.max(1, batch?.count ?? 1);
    this.batchBytes = batch?.bytes ?? Number.POSITIVE_INFINITY;
    this.linger = this.batchCount > 1 && batch?.linger !== undefined ? parseDuration(batch.linger, 'batch.linger') : undefined;
    this.maxAttempts = Math.max(1, options.retry?.maxAttempts ?? 5);
    this.initialDelay = parseDuration(options.retry?.initialDelay ?? 100, 'retry.initialDelay');
    this.maxDelay = parseDuration(options.retry?.maxDelay ?? 10_000, 'retry.maxDelay');
    this.deadLetter = options.deadLetter;
    this.busyKeys = (options.order ?? (driver.ordered === true ? 'key' : 'none')) === 'key' ? new Map() : undefined;
    this.logger = (options.logger ?? rootLogger()).child({ sink: name });
    this.sharedMetrics = shared !== undefined;
    this.metrics = shared ?? openStage('sink', name, driver.scheme);
    this.writeOk = new Histogram();
    this.writeError = new Histogram();
    this.metrics.writeLatency = { ok: this.writeOk, error: this.writeError };
    this.failureContext = { origin: name, stats: this.metrics, logger: this.logger, deadLetter: this.deadLetter };
    if (!this.sharedMetrics) {
      this.metrics.gauges = () => ({
        queued: this.queue.length + this.retryWaiting + this.parkedCount,
        writing: this.active,
        ready: this.ready,
      });
    }
  }

  get ready(): boolean {
    return this.driver.ready ?? true;
  }

  /** Messages in writes in progress: at a shutdown's deadline, their outcome is unknown. */
  get writingCount(): number {
    return this.writing;
  }

  /** Messages waiting for a write or a retry. */
  get queuedCount(): number {
    return this.queue.length + this.retryWaiting + this.parkedCount;
  }

  get mayFail(): boolean {
    return this.driver.mayFail ?? true;
  }

  next(message: Message): void {
    if (message.settled) return; // nacked by a timeout or a shutdown on its way here, or a sibling output failed
    if (this.gate !== undefined) {
      message.nack(this.gate);
      return;
    }
    // a traced message is queued with the trace context of its write in its metadata (same settlement)
    if (tracingState.active !== 0) message = traceSinkArrival(message, this.name, this.driver.scheme, this.metrics.role === 'dead_letter');
    this.metrics.received++;
    markStage(message, this.name);
    // held: the ack timeout leaves it alone while it waits here (a slow sink is not a lost message)
    message.settlement.root.hold(1);
    this.queue.push(message);
    this.dispatch();
  }

  /** The sink is done with `message` (written, failed, handed to the dead letter, or skipped). */
  private release(message: Message): void {
    message.settlement.root.hold(-1);
  }

  /**
   * The end of a shutdown: writes in progress finish, but nothing more is written. Queued messages and those waiting
   * to retry are nacked now (not written, so the source's redelivery makes no duplicate), and so is whatever arrives
   * later. Resolves once no write is in progress.
   */
  stopWriting(reason: Error): Promise<void> {
    this.gate ??= reason;
    for (const message of [...this.takeRetries(), ...this.queue.drain(), ...this.unpark()]) {
      this.failures.delete(message);
      this.release(message);
      message.nack(reason);
    }
    this.busyKeys?.clear();
    return this.whenIdle();
  }

  error(error: unknown): void {
    this.logger.error({ err: error }, 'the pipeline failed; flushing the sink');
    this.complete();
  }

  complete(): void {
    this.completed = true;
    this.dispatch();
  }

  /** The driver's start-up check (once); resolves at once for a driver without one. */
  start(): Promise<void> {
    this.starting ??= Promise.resolve().then(() => this.driver.start?.());
    return this.starting;
  }

  /** Flushes what is queued, waits for writes in progress, gives up pending retries (nack), closes the driver. */
  close(): Promise<void> {
    if (this.closed === undefined) {
      this.closed = (async () => {
        this.complete();
        await this.whenIdle();
        clearTimeout(this.lingerTimer);
        if (this.lingerImmediate !== undefined) clearImmediate(this.lingerImmediate);
        for (const message of this.unpark()) {
          this.release(message);
          message.nack(new ShutdownError(`sink ${this.name} closed before the message could be written`));
        }
        for (const message of this.takeRetries()) {
          this.release(message);
          message.nack(new ShutdownError(`sink ${this.name} closed before the message could be retried`));
        }
        this.failures.clear();
        // a start-up check still running (an input that ended at once) finishes before the client is closed under it
        await this.starting?.catch(() => undefined);
        try {
          await this.driver.close();
        } finally {
          if (!this.sharedMetrics) closeStage(this.metrics);
        }
      })();
    }
    return this.closed;
  }

  /** Whether a partial batch must wait for company: batching on, not flushing, and its linger not yet over. */
  private mustLinger(): boolean {
    if (this.linger === undefined || this.completed || this.lingerOver || this.queue.length >= this.batchCount) return false;
    if (this.lingerImmediate === undefined && this.lingerTimer === undefined) this.startLinger(this.linger);
    return true;
  }

  /**
   * The clock of a partial batch's linger. Apart from mustLinger() and dispatch(), which run for every message: a
   * function that makes a closure over `this` allocates a context at every call, whether it makes the closure or not.
   */
  private startLinger(linger: number): void {
    if (linger === 0) {
      this.lingerImmediate = setImmediate(() => {
        this.lingerImmediate = undefined;
        this.lingerOver = true;
        this.dispatch();
      });
    } else {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.lingerOver = true;
        this.dispatch();
      }, linger);
    }
  }

  private dispatch(): void {
    while (this.active < this.concurrency && this.queue.length > 0 && this.gate === undefined) {
      if (this.mustLinger()) break;
      const batch = this.takeBatch();
      if (batch.length === 0) continue;
      this.active++;
      this.writing += batch.length;
      const began = this.sampler.sample() ? performance.now() : 0;
      let result: WriteResult | Promise<WriteResult>;
      try {
        result = this.driver.write(batch);
      } catch (error) {
        this.finishWrite(batch, undefined, toError(error), began);
        continue;
      }
      if (result !== undefined && typeof (result as Promise<WriteResult>).then === 'function') {
        this.whenWritten(batch, result as Promise<WriteResult>, began);
      } else {
        this.finishWrite(batch, result as WriteResult, undefined, began);
      }
    }
    if (this.queue.length === 0) this.lingerOver = false;
    if (this.active === 0 && this.queue.length === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Finishes an asynchronous write (its closures live here, not in dispatch(): see startLinger()). */
  private whenWritten(batch: readonly Message[], written: Promise<WriteResult>, began: number): void {
    written.then(
      (results) => this.finishWrite(batch, results, undefined, began),
      (error) => this.finishWrite(batch, undefined, toError(error), began),
    );
  }

  private takeBatch(): readonly Message[] {
    let batch: Message[] | undefined;
    let taken = 0;
    let bytes = 0;
    const busy = this.busyKeys;
    while (taken < this.batchCount && this.queue.length > 0) {
      const next = this.queue.peek() as Message;
      if (next.settled) {
        this.queue.shift();
        this.failures.delete(next);
        this.release(next);
        continue;
      }
      const size = next.body.length;
      if (batch !== undefined && bytes + size > this.batchBytes) break;
      if (busy !== undefined && next.key !== undefined) {
        const key = next.key;
        const unfinished = busy.get(key) ?? 0;
        if (unfinished > 0 && (batch === undefined || !this.inBatch(batch, taken, key))) {
          // an earlier message of this key is still being written or waits to retry: this one waits behind it
          this.queue.shift();
          this.park(key, next);
          continue;
        }
        busy.set(key, unfinished + 1);
      }
      bytes += size;
      this.queue.shift();
      // the array is made with its first message, as large as the batch can be given what waits (push() would grow it
      // in steps, copying it each time, and reserve room for 17 in a batch of one)
      batch ??= new Array<Message>(Math.min(this.batchCount, this.queue.length + 1));
      batch[taken++] = next;
    }
    if (batch === undefined) return NO_MESSAGES;
    if (taken < batch.length) batch.length = taken;
    return batch;
  }

  /**
   * A service that took part of a batch (SQS, SNS) may have stored a message of a key after an earlier one of the same
   * key that failed: its retry then lands later. Rare (the service refused one entry and took the next); said, not hidden.
   */
  private checkPartialOrder(batch: readonly Message[], results: ReadonlyArray<Error | undefined>): void {
    let failedKeys: Set<string> | undefined;
    for (let i = 0; i < batch.length; i++) {
      const key = batch[i].key;
      if (key === undefined) continue;
      if (results[i] !== undefined) (failedKeys ??= new Set()).add(key);
      else if (failedKeys?.has(key)) {
        this.metrics.error('order_broken');
        noteFailure(
          this.logger,
          'order_broken',
          { key },
          `the service took message ${batch[i].id} of key '${key}' but refused an earlier one of that key in the same write: its retry lands after it`,
        );
      }
    }
  }

  /** Whether the first `taken` messages of `batch` hold one of `key` (one write keeps its messages in order). */
  private inBatch(batch: readonly Message[], taken: number, key: string): boolean {
    for (let i = taken - 1; i >= 0; i--) if (batch[i].key === key) return true;
    return false;
  }

  private park(key: string, message: Message): void {
    let waiting = this.parked.get(key);
    if (waiting === undefined) {
      waiting = new Fifo<Message>();
      this.parked.set(key, waiting);
    }
    waiting.push(message);
    this.parkedCount++;
  }

  /** Every parked message, in order per key (a shutdown or a close). */
  private unpark(): Message[] {
    const all: Message[] = [];
    for (const waiting of this.parked.values()) all.push(...waiting.drain());
    this.parked.clear();
    this.parkedCount = 0;
    return all;
  }

  /** Every message waiting to retry, timers cancelled (a shutdown or a close). */
  private takeRetries(): Message[] {
    const all: Message[] = [];
    for (const [timer, group] of this.retryTimers) {
      clearTimeout(timer);
      for (const message of group) {
        this.failures.delete(message);
        all.push(message);
      }
    }
    this.retryTimers.clear();
    this.keyRetries.clear();
    this.retryWaiting = 0;
    return all;
  }

  /** order: 'key' -- the failed messages of `key` go back to the front of the queue, before what waited behind them. */
  private keyRetried(key: string, group: readonly Message[]): void {
    this.keyDone(key, group.length);
    for (let i = group.length - 1; i >= 0; i--) this.queue.unshift(group[i]);
  }

  /**
   * order: 'key' -- `count` messages of `key` are finished (written, given up) or back in the queue for their retry:
   * when nothing of the key is unfinished any more, what waited behind them goes back to the front of the queue,
   * oldest first.
   */
  private keyDone(key: string | undefined, count = 1): void {
    const busy = this.busyKeys;
    if (busy === undefined || key === undefined) return;
    const unfinished = (busy.get(key) ?? count) - count;
    if (unfinished > 0) {
      busy.set(key, unfinished);
    } else {
      busy.delete(key);
      const waiting = this.parked.get(key);
      if (waiting !== undefined) {
        this.parked.delete(key);
        const items = waiting.drain();
        this.parkedCount -= items.length;
        for (let i = items.length - 1; i >= 0; i--) this.queue.unshift(items[i]);
      }
    }
  }

  private finishWrite(batch: readonly Message[], results: WriteResult, batchError: Error | undefined, began: number): void {
    if (this.busyKeys !== undefined && batchError === undefined && results) this.checkPartialOrder(batch, results);
    this.active--;
    this.writing -= batch.length;
    let allWritten = true;
    for (let i = 0; i < batch.length; i++) {
      const message = batch[i];
      const error = batchError ?? (results ? results[i] : undefined);
      if (error === undefined) {
        this.metrics.acked++;
        if (this.failures.size > 0) this.failures.delete(message);
        this.release(message);
        if (this.busyKeys !== undefined) this.keyDone(message.key);
        if (tracingState.active !== 0) traceWriteDone(message);
        message.ack();
      } else {
        allWritten = false;
        this.failed(message, error);
      }
    }
    // a write counts as an error when any of its messages failed
    if (began !== 0) (allWritten ? this.writeOk : this.writeError).observe((performance.now() - began) / 1000);
    this.dispatch();
  }

  private failed(message: Message, error: Error): void {
    const retryable = isRetryable(error);
    if (tracingState.active !== 0) traceWriteFailed(message, error, retryable);
    this.metrics.error(retryable ? 'write_retryable' : 'write_permanent');
    const attempts = (this.failures.get(message) ?? 0) + 1;
    if (message.settled) {
      this.failures.delete(message);
      this.release(message);
      if (this.busyKeys !== undefined) this.keyDone(message.key);
      return;
    }
    if (retryable && attempts < this.maxAttempts && this.closed === undefined && this.gate === undefined) {
      this.failures.set(message, attempts);
      const hinted = (error as DelayHint).retryAfterMs;
      // jittered, so that retries of many messages that failed together spread out
      const delay = hinted ?? equalJitter(exponentialBackoff(this.initialDelay, attempts, this.maxDelay));
      this.logger.debug({ id: message.id, attempt: attempts, delay, err: error }, 'write failed; retrying');
      this.retryWaiting++;
      const key = message.key;
      if (this.busyKeys !== undefined && key !== undefined) {
        // messages of one key that failed together retry together, in their order
        const waiting = this.keyRetries.get(key);
        if (waiting !== undefined) {
          waiting.push(message);
          return;
        }
        const group = [message];
        this.keyRetries.set(key, group);
        const timer = setTimeout(() => {
          this.retryTimers.delete(timer);
          this.keyRetries.delete(key);
          this.retryWaiting -= group.length;
          this.keyRetried(key, group);
          this.dispatch();
        }, delay);
        this.retryTimers.set(timer, group);
        return;
      }
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        this.retryWaiting--;
        this.queue.push(message);
        this.dispatch();
      }, delay);
      this.retryTimers.set(timer, [message]);
      return;
    }
    this.failures.delete(message);
    this.release(message);
    if (this.busyKeys !== undefined) this.keyDone(message.key);
    if (retryable) this.metrics.error('retries_exhausted');
    const reason = retryable ? new Error(`${error.message} (gave up after ${attempts} attempts)`, { cause: error }) : error;
    failMessage(message, reason, this.failureContext);
  }

  private whenIdle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
