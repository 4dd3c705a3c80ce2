// The portable source: a cold Observable<Message> over a small driver, owning the credit window, ackTimeout,
// dead-lettering after too many deliveries, and the graceful drain. Drivers only know their client library.
import { performance } from 'node:perf_hooks';
import { Observable, Subscriber } from 'rxjs';
import { Message, MessageInit, Settlement, SettlementHandler } from './message';
import type { Sink } from './sink';
import { rootLogger, Logger } from './logging/logger';
import { parseDuration } from './config';
import { deadLetterCopy } from './deadLetter';
import { Fifo } from './fifo';
import { openStage, closeStage, Histogram, Sampler, StageMetrics } from './metrics';

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

/** The runtime's side, as a driver sees it. */
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
   * Hands one message to the pipeline. Call only while `credit > 0`. `token` comes back in ack/nack.
   * Returns the message (already emitted downstream).
   */
  receive(message: ReceivedMessage, token: T): Message;
  /**
   * Resolves when the window has a free slot (at once when it has one now). It reserves nothing: for a driver
   * with one intake loop. Concurrent handlers (one per HTTP request) use acquire() instead.
   */
  waitForCredit(): Promise<void>;
  /**
   * Reserves one slot, waiting in line for it when the window is full; resolves to undefined once intake has
   * stopped. The slot is held until `slot.receive(...)` uses it or `slot.release()` gives it back.
   */
  acquire(): Promise<CreditSlot<T> | undefined>;
  /**
   * Called when credit becomes free again after the window was full; never re-entrantly from inside receive(),
   * so a driver loops `while (ctx.credit > 0 && …) ctx.receive(…)` and resumes from this callback.
   */
  onCredit(listener: () => void): void;
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
  /** Begin intake (connect, subscribe). A rejection is a start-up failure. */
  start(context: SourceContext<T>): void | Promise<void>;
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
}

/** Whoever wants to drain the sources of a pipeline (run()) registers here while subscribing. */
export interface SourceRegistry {
  register(source: SourceRuntime): void;
}

let currentRegistry: SourceRegistry | undefined;

/** Runs `subscribe` with `registry` receiving every source that starts synchronously inside it. */
export function withSourceRegistry<T>(registry: SourceRegistry, subscribe: () => T): T {
  const previous = currentRegistry;
  currentRegistry = registry;
  try {
    return subscribe();
  } finally {
    currentRegistry = previous;
  }
}

/** The clock that ackTimeout uses: coarse (updated by the sweep timer), so a message costs no clock read. */
let coarseNow = Date.now();

/** Counters of the sources of a pipeline, summed (pipeline.stats()). */
export interface SourceStats {
  received: number;
  acked: number;
  nacked: number;
  deadLettered: number;
  timedOut: number;
  maxInFlight: number;
}

/** One subscription's runtime: credit window, settlement routing, timeouts, drain. */
export class SourceRuntime<T = unknown> implements SourceContext<T>, SettlementHandler {
  readonly maxInFlight: number;
  readonly logger: Logger;
  /** Plain counters, incremented on the hot path and read at scrape time (see lib/metrics.ts). */
  readonly stats: StageMetrics;
  private readonly ackTimeout: number;
  private readonly maxDeliveries: number;
  private readonly deadLetter?: Sink;
  private inFlight = 0;
  private head: Settlement | undefined = undefined;
  private tail: Settlement | undefined = undefined;
  private receiving = 0;
  private reserved = 0;
  private creditListeners: (() => void)[] = [];
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
    this.stats.gauges = () => ({ inFlight: this.inFlight, maxInFlight: this.maxInFlight, ready: this.ready });
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
    return this.maxInFlight - this.inFlight - this.reserved;
  }

  get stopped(): boolean {
    return this.stoppedIntake;
  }

  get inFlightCount(): number {
    return this.inFlight;
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
    return this.ackTimeout > 0 ? { ageMs: Math.max(0, Date.now() - head.receivedAt), lastSeenAfter } : { lastSeenAfter };
  }

  start(): void {
    if (this.ackTimeout > 0) {
      const period = Math.max(10, Math.min(1000, Math.floor(this.ackTimeout / 4)));
      coarseNow = Date.now();
      this.sweepTimer = setInterval(() => this.sweep(), period);
      this.sweepTimer.unref();
    }
    try {
      const started = this.driver.start(this);
      if (started !== undefined) {
        started.then(this.resolveStarted, (error) => {
          this.rejectStarted(error);
          this.error(error);
        });
      } else {
        this.resolveStarted();
      }
    } catch (error) {
      this.rejectStarted(error);
      this.error(error);
    }
  }

  receive(init: ReceivedMessage, token: T): Message {
    const settlement = new Settlement(this, token);
    settlement.receivedAt = coarseNow;
    if (this.sampler.sample()) settlement.sampledAt = performance.now();
    const message = new Message(init, settlement);
    this.inFlight++;
    this.stats.received++;
    // append to the intrusive list, oldest first
    if (this.tail === undefined) {
      this.head = this.tail = settlement;
    } else {
      settlement.prev = this.tail;
      this.tail.next = settlement;
      this.tail = settlement;
    }
    if (
      this.deadLetter !== undefined &&
      init.deliveryCount !== undefined &&
      init.deliveryCount > this.maxDeliveries
    ) {
      this.sendToDeadLetter(message, init.deliveryCount);
      return message;
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
    const { prev, next } = settlement;
    if (prev === undefined) this.head = next;
    else prev.next = next;
    if (next === undefined) this.tail = prev;
    else next.prev = prev;
    settlement.prev = settlement.next = undefined;
    const wasFull = this.inFlight + this.reserved >= this.maxInFlight;
    this.inFlight--;
    const token = settlement.token as T;
    if (settlement.sampledAt !== 0) {
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
    if (this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
    this.handOutCredit(wasFull);
  }

  private handOutCredit(wasFull: boolean): void {
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
    if (wasFull && this.receiving === 0) {
      for (const listener of this.creditListeners) listener();
    }
  }

  waitForCredit(): Promise<void> {
    if (this.credit > 0 || this.stoppedIntake) return Promise.resolve();
    return new Promise((resolve) => this.creditWaiters.push(resolve));
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
        this.handOutCredit(this.inFlight + this.reserved + 1 >= this.maxInFlight);
      },
    };
  }

  onCredit(listener: () => void): void {
    this.creditListeners.push(listener);
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
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops intake; in-flight messages still settle. */
  async stopIntake(): Promise<void> {
    if (this.stoppedIntake) return;
    this.stoppedIntake = true;
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

  /**
   * The graceful drain: stop intake, wait up to `timeoutMs` for every in-flight message to settle, nack what is
   * left, then complete the Observable (so sinks flush and close downstream).
   */
  async drain(timeoutMs: number): Promise<void> {
    await this.stopIntake();
    if (this.inFlight > 0) {
      this.logger.info({ inFlight: this.inFlight, timeoutMs }, 'draining: waiting for in-flight messages to settle');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.whenIdle(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    if (this.inFlight > 0) {
      this.logger.warn(
        { inFlight: this.inFlight },
        'shutdown timeout reached: nacking the messages still in flight so that the source redelivers them',
      );
      this.nackAll(new Error('shutdown before the message was settled'));
    }
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

  private sendToDeadLetter(message: Message, deliveries: number): void {
    this.stats.deadLettered++;
    const reason = new Error(`delivered ${deliveries} times, more than maxDeliveries (${this.maxDeliveries})`);
    this.logger.debug({ id: message.id, deliveries }, 'sending a message to the dead letter');
    (this.deadLetter as Sink).next(deadLetterCopy(message, reason, this.name));
  }

  private sweep(): void {
    coarseNow = Date.now();
    const deadline = coarseNow - this.ackTimeout;
    let expired = 0;
    let first: Settlement | undefined;
    while (this.head !== undefined && this.head.receivedAt <= deadline) {
      const settlement = this.head;
      first ??= settlement;
      expired++;
      this.stats.timedOut++;
      const stage = settlement.stage;
      settlement.nack(
        new Error(
          `not settled within ackTimeout (${this.ackTimeout} ms); last seen ${stage ? `after '${stage}'` : 'at the source'}`,
        ),
      );
    }
    if (first !== undefined) {
      this.stats.error('ack_timeout', expired);
      const stage = first.stage;
      this.logger.warn(
        { expired, ackTimeoutMs: this.ackTimeout, lastSeenAfter: stage ?? 'source' },
        `${expired} message(s) were not settled within ackTimeout and were nacked. They were last seen ` +
          `${stage ? `after '${stage}'` : 'leaving the source'}: the operator after that likely dropped them without ` +
          'settling (a plain RxJS filter or map?). Use filterMessages/mapMessages, or ack() what you drop.',
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
    currentRegistry?.register(runtime as SourceRuntime);
    runtime.start();
    return () => {
      void runtime.close();
    };
  });
}

