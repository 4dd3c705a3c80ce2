// The portable sink: an Observer<Message> over a small driver, owning bounded concurrency, batching, retry with
// backoff and jitter, the dead letter, and the flush on close. A message is acked only once its driver reports
// that the service confirmed the write.
import { performance } from 'node:perf_hooks';
import type { Observer } from 'rxjs';
import { Message, markStage } from './message';
import { Fifo } from './fifo';
import { isRetryable, toError } from './errors';
import { parseDuration } from './config';
import { rootLogger, Logger } from './logging/logger';
import { deadLetterCopy } from './deadLetter';
import { equalJitter, exponentialBackoff } from './backoff';
import { openStage, closeStage, Histogram, Sampler, StageMetrics } from './metrics';

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
  private readonly retryTimers = new Map<NodeJS.Timeout, Message>();
  private idleWaiters: (() => void)[] = [];
  private closed: Promise<void> | undefined;
  private starting: Promise<void> | undefined;
  private completed = false;
  /** Plain counters for /metrics and pipeline.stats(): received, acked (confirmed), nacked, deadLettered, errors. */
  readonly metrics: StageMetrics;
  private readonly sampler = new Sampler();
  private readonly writeOk: Histogram;
  private readonly writeError: Histogram;

  constructor(
    readonly name: string,
    private readonly driver: SinkDriver,
    options: SinkOptions = {},
    defaults: { concurrency?: number; batch?: BatchOptions } = {},
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? defaults.concurrency ?? 16);
    const batch = options.batch ?? defaults.batch;
    this.batchCount = Math.max(1, batch?.count ?? 1);
    this.batchBytes = batch?.bytes ?? Number.POSITIVE_INFINITY;
    this.linger =
      this.batchCount > 1 && batch?.linger !== undefined ? parseDuration(batch.linger, 'batch.linger') : undefined;
    this.maxAttempts = Math.max(1, options.retry?.maxAttempts ?? 5);
    this.initialDelay = parseDuration(options.retry?.initialDelay ?? 100, 'retry.initialDelay');
    this.maxDelay = parseDuration(options.retry?.maxDelay ?? 10_000, 'retry.maxDelay');
    this.deadLetter = options.deadLetter;
    this.logger = (options.logger ?? rootLogger()).child({ sink: name });
    this.metrics = openStage('sink', name, driver.scheme);
    this.writeOk = new Histogram();
    this.writeError = new Histogram();
    this.metrics.writeLatency = { ok: this.writeOk, error: this.writeError };
    this.metrics.gauges = () => ({
      queued: this.queue.length + this.retryTimers.size,
      writing: this.active,
      ready: this.ready,
    });
  }

  get ready(): boolean {
    return this.driver.ready ?? true;
  }

  get mayFail(): boolean {
    return this.driver.mayFail ?? true;
  }

  /** The counters in the shape of earlier versions: written (confirmed), failed attempts, retried, ... */
  get stats(): { written: number; failed: number; retried: number; deadLettered: number; nacked: number } {
    const errors = this.metrics.errors;
    return {
      written: this.metrics.acked,
      failed: (errors.write_retryable ?? 0) + (errors.write_permanent ?? 0),
      retried: errors.write_retryable ?? 0,
      deadLettered: this.metrics.deadLettered,
      nacked: this.metrics.nacked,
    };
  }

  next(message: Message): void {
    if (message.settled) return; // nacked by a timeout or a shutdown on its way here
    this.metrics.received++;
    markStage(message, this.name);
    this.queue.push(message);
    this.dispatch();
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
        for (const [timer, message] of this.retryTimers) {
          clearTimeout(timer);
          message.nack(new Error(`sink ${this.name} closed before the message could be retried`));
        }
        this.retryTimers.clear();
        this.failures.clear();
        try {
          await this.driver.close();
        } finally {
          closeStage(this.metrics);
        }
      })();
    }
    return this.closed;
  }

  /** Whether a partial batch must wait for company: batching on, not flushing, and its linger not yet over. */
  private mustLinger(): boolean {
    if (this.linger === undefined || this.completed || this.lingerOver || this.queue.length >= this.batchCount) return false;
    if (this.linger === 0) {
      this.lingerImmediate ??= setImmediate(() => {
        this.lingerImmediate = undefined;
        this.lingerOver = true;
        this.dispatch();
      });
    } else {
      this.lingerTimer ??= setTimeout(() => {
        this.lingerTimer = undefined;
        this.lingerOver = true;
        this.dispatch();
      }, this.linger);
    }
    return true;
  }

  private dispatch(): void {
    while (this.active < this.concurrency && this.queue.length > 0) {
      if (this.mustLinger()) break;
      const batch = this.takeBatch();
      if (batch.length === 0) continue;
      this.active++;
      const began = this.sampler.sample() ? performance.now() : 0;
      let result: WriteResult | Promise<WriteResult>;
      try {
        result = this.driver.write(batch);
      } catch (error) {
        this.finishWrite(batch, undefined, toError(error), began);
        continue;
      }
      if (result !== undefined && typeof (result as Promise<WriteResult>).then === 'function') {
        (result as Promise<WriteResult>).then(
          (results) => this.finishWrite(batch, results, undefined, began),
          (error) => this.finishWrite(batch, undefined, toError(error), began),
        );
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

  private takeBatch(): Message[] {
    const batch: Message[] = [];
    let bytes = 0;
    while (batch.length < this.batchCount && this.queue.length > 0) {
      const next = this.queue.peek() as Message;
      if (next.settled) {
        this.queue.shift();
        this.failures.delete(next);
        continue;
      }
      const size = next.body.length;
      if (batch.length > 0 && bytes + size > this.batchBytes) break;
      bytes += size;
      batch.push(this.queue.shift() as Message);
    }
    return batch;
  }

  private finishWrite(batch: Message[], results: WriteResult, batchError: Error | undefined, began: number): void {
    this.active--;
    let allWritten = true;
    for (let i = 0; i < batch.length; i++) {
      const message = batch[i];
      const error = batchError ?? (results ? results[i] : undefined);
      if (error === undefined) {
        this.metrics.acked++;
        if (this.failures.size > 0) this.failures.delete(message);
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
    this.metrics.error(retryable ? 'write_retryable' : 'write_permanent');
    const attempts = (this.failures.get(message) ?? 0) + 1;
    if (message.settled) {
      this.failures.delete(message);
      return;
    }
    if (retryable && attempts < this.maxAttempts && this.closed === undefined) {
      this.failures.set(message, attempts);
      const hinted = (error as DelayHint).retryAfterMs;
      // jittered, so that retries of many messages that failed together spread out
      const delay = hinted ?? equalJitter(exponentialBackoff(this.initialDelay, attempts, this.maxDelay));
      this.logger.debug({ id: message.id, attempt: attempts, delay, err: error }, 'write failed; retrying');
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        this.queue.push(message);
        this.dispatch();
      }, delay);
      this.retryTimers.set(timer, message);
      return;
    }
    this.failures.delete(message);
    if (retryable) this.metrics.error('retries_exhausted');
    const reason = retryable ? new Error(`${error.message} (gave up after ${attempts} attempts)`, { cause: error }) : error;
    if (this.deadLetter !== undefined) {
      this.metrics.deadLettered++;
      this.logger.debug({ id: message.id, err: reason }, 'write failed permanently; sending to the dead letter');
      this.deadLetter.next(deadLetterCopy(message, reason, this.name));
    } else {
      this.metrics.nacked++;
      this.logger.debug({ id: message.id, err: reason }, 'write failed permanently; nacking');
      message.nack(reason);
    }
  }

  private whenIdle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
