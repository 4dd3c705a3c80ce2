// The machinery behind wasmTransform and wasmFilter: one subscription's instances of a module, the call per
// message, settlement of what the module decided, traps (replace the instance, fail that message only), and, when
// host calls wait on an asynchronous cache, a pool of instances whose reads go to the backend in batches, keys
// fetched ahead for a prefetch hint, and order kept per message key.
import { Observable, type OperatorFunction } from 'rxjs';
import { type Message } from '../message';
import { operatorOutput, type OperatorOutput } from '../messageOperator';
import type { Cache } from '../cache/types';
import { MemoryCache } from '../cache/memory';
import type { Sink } from '../sink';
import { linkObserver } from '../source';
import { ConfigError, WasmAbiError, toError } from '../errors';
import { deadLetterCopy } from '../deadLetter';
import { rootLogger, type Logger } from '../logging/logger';
import { Fifo } from '../fifo';
import { keyTemplate } from '../keyTemplate';
import { loadWasm, type LoadOptions, type WasmModule, type WasmSource } from './load';
import type { CallKind, Completion, GuestInstance, Prefetched } from './instance';
import { type HostServices, RateLimitedLog } from './host';
import { BatchedReads, type Reader } from './reads';
import type { ModuleSwitch } from './reload';
import { WasmBudgetError, WasmModuleError, WasmTrapError } from './errors';
import { closeStage, currentStageCollector, openStage, Sampler, type StageMetrics, withStageCollector } from '../metrics';
import { wasmMetrics } from './metrics';
import { beginWasmCall, endWasmCall, tracingState, type WasmCallTrace } from '../tracing/hooks';

export interface WasmOperatorOptions extends LoadOptions {
  /** The cache the module's cache calls use. Default: one in-memory cache shared by the process's wasm operators. */
  cache?: Cache;
  /** Values the module reads with config_get. */
  config?: Readonly<Record<string, string>> | ReadonlyMap<string, string>;
  /** What a failed message becomes: `nack` (the source redelivers it; default) or `deadLetter` (needs `deadLetter`). */
  onError?: 'nack' | 'deadLetter';
  /** Where failed messages go with `onError: 'deadLetter'`; the original is acked once the dead letter confirms. */
  deadLetter?: Sink;
  /**
   * Instances per subscription when cache calls wait on an asynchronous backend (Redis, NATS KV): that many messages
   * can wait at once, and their reads go to the backend together. Messages with the same key never overlap. Default:
   * as many as fit in 64 MiB of instance memory, from 32 to 128 (DEFAULT_POOL_SIZE).
   */
  poolSize?: number;
  /**
   * The cache keys the module will read for a message, when you know them: with an asynchronous cache they are
   * fetched in batches before the module runs, and the module reads them without waiting (no suspension). Only a
   * hint: keys it does not name are read as usual, and a hint that throws is ignored for that message.
   *
   * A key template (lib/keyTemplate.ts: `{key}`, `{metadata.NAME}`, `{json.FIELD}`, comma-separated) reads the JSON
   * fields it names without parsing the rest of the body, which costs a fraction of `message.json()`.
   *
   * @example { prefetch: 'profile:{json.user}' }
   * @example { prefetch: (message) => `profile:${message.json<{ user: string }>().user}` }
   */
  prefetch?: string | PrefetchHint;
  /**
   * Where the module may be replaced while the pipeline runs (hot reload, lib/wasm/reload.ts): before each message
   * the stage checks it, and a new module takes over between messages.
   */
  reload?: ModuleSwitch;
  /** Go-prototype modules: bytes they reserve for the message (default 1024) and for a cache value (default 128). */
  goMessageBuffer?: number;
  goCacheBuffer?: number;
}

/** The cache keys a module will read for a message (the `prefetch` option as a function, or its compiled template). */
export type PrefetchHint = (message: Message) => string | readonly string[] | undefined;

/** The options a stage runs with: the operator's, its prefetch template compiled. */
type WasmStageOptions = Omit<WasmOperatorOptions, 'prefetch'> & { prefetch?: PrefetchHint };

/** Failed messages logged (at warn) per second and stage; the others are counted in one line. */
export const FAILURES_LOGGED_PER_SECOND = 10;

/**
 * Instances per subscription by default when cache calls wait on an asynchronous backend: as many as fit in
 * `memoryBytes` of instance memory (each counted at its size when made), at least `min` and at most `max`. More
 * instances let more messages wait at once, so that their reads go to the backend in larger batches: P7 without a
 * hint ran 0.43 of the memory cache's rate with 32 and 0.56-0.58 with 128 (512 was slower again). A small
 * AssemblyScript module (about 100 KiB an instance) gets 128; a Rust one of 1.1 MiB gets 58; none gets fewer than 32.
 */
export const DEFAULT_POOL_SIZE = { min: 32, max: 128, memoryBytes: 64 * 1024 * 1024 } as const;

/** The default pool's size for instances of `instanceBytes` bytes of memory. */
export function defaultPoolSize(instanceBytes: number): number {
  const fit = Math.floor(DEFAULT_POOL_SIZE.memoryBytes / Math.max(instanceBytes, 1));
  return Math.max(DEFAULT_POOL_SIZE.min, Math.min(DEFAULT_POOL_SIZE.max, fit));
}

let sharedCache: MemoryCache | undefined;

/** The in-memory cache wasm operators share when given none. */
export function defaultWasmCache(): Cache {
  sharedCache ??= new MemoryCache();
  return sharedCache;
}

function configMap(config: WasmOperatorOptions['config']): ReadonlyMap<string, string> {
  if (config === undefined) return new Map();
  if (config instanceof Map) return config;
  return new Map(Object.entries(config as Record<string, string>));
}

/** Which export a module runs for `kind`, or a WasmAbiError saying what to use instead. */
function resolveKind(module: WasmModule, wanted: 'transform' | 'filter' | 'auto'): CallKind {
  if (wanted === 'auto') return module.defaultKind;
  if (module.abi === 'go') {
    if (wanted === 'transform') return 'run';
    throw new WasmAbiError(
      `${module.name} was written for the Go prototype (it exports run()): use it with wasmTransform, which keeps what it sends`,
    );
  }
  if (!module.exports(wanted)) {
    const other = wanted === 'transform' ? 'filter' : 'transform';
    throw new WasmAbiError(
      `${module.name} does not export '${wanted}'${module.exports(other) ? `; it exports '${other}': use wasm${other === 'filter' ? 'Filter' : 'Transform'}` : ''}`,
    );
  }
  return wanted;
}

/** Options checked when the operator is created, so that mistakes show before any message flows. */
function checkOptions(options: WasmOperatorOptions): void {
  if (options.onError !== undefined && options.onError !== 'nack' && options.onError !== 'deadLetter') {
    throw new ConfigError(`onError must be 'nack' or 'deadLetter', not '${String(options.onError)}'`, { variable: 'onError' });
  }
  if (options.onError === 'deadLetter' && options.deadLetter === undefined) {
    throw new ConfigError(
      "onError: 'deadLetter' needs a deadLetter sink, for example { onError: 'deadLetter', deadLetter: sink('file:///tmp/dead.jsonl') }",
      {
        variable: 'deadLetter',
      },
    );
  }
  if (options.prefetch !== undefined && typeof options.prefetch !== 'function' && typeof options.prefetch !== 'string') {
    throw new ConfigError(
      "prefetch must be a key template such as 'profile:{json.user}', or a function of the message that returns the cache keys the module reads, for example { prefetch: (m) => 'profile:' + m.metadata.user }",
      {
        variable: 'prefetch',
      },
    );
  }
  if (options.poolSize !== undefined && (!Number.isInteger(options.poolSize) || options.poolSize < 1)) {
    throw new ConfigError(`poolSize must be a whole number of instances, at least 1, not ${options.poolSize}`, { variable: 'poolSize' });
  }
}

/**
 * The operator for a module: `kind` picks the export (`auto`: transform if exported, else filter, else a
 * Go-prototype run). Loading starts at once; messages that arrive before the module is ready wait for it, and a
 * module that fails to load errors the pipeline.
 */
export function wasmOperator(
  kind: 'transform' | 'filter' | 'auto',
  source: WasmSource | Promise<WasmModule>,
  options: WasmOperatorOptions = {},
): OperatorFunction<Message, Message> {
  checkOptions(options);
  // a key template is compiled here, once (a bad one throws now), not by every subscription's stage
  const { prefetch } = options;
  const stageOptions: WasmStageOptions = {
    ...options,
    prefetch: typeof prefetch === 'string' ? keyTemplate(prefetch, 'prefetch', 'hint') : prefetch,
  };
  const cache = options.cache ?? defaultWasmCache();
  const loaded = Promise.resolve(source).then((module) => loadWasm(module, options));
  const ready = loaded.then(async (module) => {
    const resolved = resolveKind(module, kind);
    await module.prepare(cache);
    return { module, kind: resolved };
  });
  ready.catch(() => undefined); // reported to each subscriber
  let settled: { module: WasmModule; kind: CallKind } | undefined;
  ready.then(
    (value) => {
      settled = value;
    },
    () => undefined,
  );
  return (upstream) =>
    new Observable<Message>((subscriber) => {
      let stage: WasmStage | undefined;
      const waiting: Message[] = [];
      let upstreamDone = false;
      let failed = false;
      // the stage may open after the module loaded: it still belongs to the pipeline being subscribed now
      const collector = currentStageCollector();
      const begin = (value: { module: WasmModule; kind: CallKind }): void => {
        const open = (): WasmStage => new WasmStage(value.module, value.kind, cache, stageOptions, subscriber);
        stage = collector === undefined ? open() : withStageCollector(collector, open);
        for (const message of waiting.splice(0)) stage.next(message);
        if (upstreamDone) stage.complete();
      };
      if (settled !== undefined) {
        begin(settled);
      } else {
        ready.then(
          (value) => {
            if (!subscriber.closed) begin(value);
          },
          (error) => {
            failed = true;
            for (const message of waiting.splice(0)) message.nack(toError(error));
            subscriber.error(error);
          },
        );
      }
      const subscription = upstream.subscribe(
        linkObserver<Message>(subscriber, {
          next: (message) => {
            if (stage !== undefined) stage.next(message);
            else if (failed) message.nack(new Error('the wasm module failed to load'));
            else waiting.push(message);
          },
          error: (error) => subscriber.error(error),
          complete: () => {
            upstreamDone = true;
            stage?.complete();
          },
        }),
      );
      return () => {
        subscription.unsubscribe();
        stage?.close();
      };
    });
}

/**
 * A message whose prefetch hint named cache keys: the values as they come, then the message may run with them. It
 * holds the first key's value itself, and a Map only for further keys: one object a message, not two.
 */
class Prefetch implements Reader, Prefetched {
  private hasFirst = false;
  private firstKey: string | undefined = undefined;
  private firstValue: Buffer | undefined = undefined;
  private others: Map<string, Buffer | undefined> | undefined = undefined;

  constructor(
    private readonly stage: WasmStage,
    readonly message: Message,
    private unanswered: number,
  ) {}

  onRead(key: string, value: Buffer | undefined, error: Error | undefined): void {
    // a failed read is left out: the module reads that key itself, and fails then if the backend still does
    if (error === undefined) this.set(key, value);
    if (--this.unanswered === 0) this.stage.prefetched(this);
  }

  has(key: string): boolean {
    return (this.hasFirst && key === this.firstKey) || (this.others !== undefined && this.others.has(key));
  }

  get(key: string): Buffer | undefined {
    return this.hasFirst && key === this.firstKey ? this.firstValue : this.others?.get(key);
  }

  set(key: string, value: Buffer | undefined): void {
    if (!this.hasFirst || key === this.firstKey) {
      this.hasFirst = true;
      this.firstKey = key;
      this.firstValue = value;
      this.others?.delete(key);
    } else {
      (this.others ??= new Map()).set(key, value);
    }
  }

  delete(key: string): void {
    if (this.hasFirst && key === this.firstKey) {
      this.hasFirst = false;
      this.firstKey = undefined;
      this.firstValue = undefined;
    }
    this.others?.delete(key);
  }
}

/** An instance of the pool, the message it works on, and its completion callback. */
interface Pooled {
  readonly instance: GuestInstance;
  /** The module it is an instance of: after a reload, instances of the old one are not given back to the pool. */
  readonly module: WasmModule;
  message: Message | undefined;
  readonly done: Completion;
  /** When the sampled call began (performance.now()), or 0 when this call is not timed. */
  began: number;
  /** The call's span when the message is traced (lib/tracing). */
  trace?: WasmCallTrace;
}

interface Downstream {
  next(message: Message): void;
  complete(): void;
  readonly closed: boolean;
}

/** One subscription's instances of a module and what it does with each message. */
export class WasmStage {
  private readonly name: string;
  private readonly services: HostServices;
  private readonly logger: Logger;
  private readonly deadLetter: Sink | undefined;
  private compiled: WebAssembly.Module;
  private readonly reload: ModuleSwitch | undefined;
  private readonly asyncMode: boolean;
  private poolSize: number;
  /** No poolSize was given: the pool is sized by its instances' memory (DEFAULT_POOL_SIZE). */
  private readonly autoPool: boolean;
  private readonly recycleBytes: number;
  private readonly goBuffers: { message: number; cache: number };
  // synchronous mode: one instance
  private instance: GuestInstance | undefined;
  // asynchronous mode: a pool, a queue, and the keys being worked on
  private readonly idle: Pooled[] = [];
  private instances = 0;
  private active = 0;
  /** Messages ready to run, or ready with the values their prefetch hint named. */
  private readonly queue = new Fifo<Message | Prefetch>();
  private readonly prefetch: PrefetchHint | undefined;
  private prefetching = 0;
  /** The keys being worked on, each with the messages that wait for it (null: none, without an array a message). */
  private readonly keyQueues = new Map<string, Message[] | null>();
  private pumping = false;
  private completing = false;
  private closed = false;
  /** Failed messages, at warn: at most FAILURES_LOGGED_PER_SECOND lines a second, then a line counting the rest. */
  private readonly failureLog: RateLimitedLog;
  /** Counters of this stage for /metrics and pipeline.stats(), and a sampler for timing calls. */
  readonly stats: StageMetrics;
  /** Outputs go on through the operator frame of lib/messageOperator.ts: counted, marked with this stage, passed on. */
  private readonly output: OperatorOutput;
  private readonly sampler = new Sampler();
  private readonly callSeconds;
  private readonly traps;
  private readonly budgetStops;

  constructor(
    public module: WasmModule,
    readonly kind: CallKind,
    cache: Cache,
    options: WasmStageOptions,
    private readonly downstream: Downstream,
  ) {
    this.name = `${kind === 'filter' ? 'wasmFilter' : 'wasmTransform'}(${module.name})`;
    this.stats = openStage('operator', this.name);
    this.output = operatorOutput(this.name, this.stats, downstream);
    this.callSeconds = wasmMetrics.callSeconds.labels({ stage: this.name });
    this.traps = wasmMetrics.traps.labels({ stage: this.name });
    this.budgetStops = wasmMetrics.budgetStops.labels({ stage: this.name });
    this.logger = (options.logger ?? rootLogger()).child({ stage: this.name });
    this.asyncMode = module.needsAsync(cache) || (module.abi === 'go' && cache.sync === undefined);
    this.services = {
      cache,
      config: configMap(options.config),
      logger: this.logger,
      moduleLog: new RateLimitedLog(this.logger),
      reads: this.asyncMode ? new BatchedReads(cache) : undefined,
    };
    this.deadLetter = options.onError === 'deadLetter' ? options.deadLetter : undefined;
    this.failureLog = new RateLimitedLog(
      this.logger,
      FAILURES_LOGGED_PER_SECOND,
      (count, perSecond) => `${this.name}: ${count} more failed message(s) not logged (more than ${perSecond} a second)`,
    );
    this.compiled = module.compiledFor(cache) as WebAssembly.Module;
    this.autoPool = options.poolSize === undefined;
    this.poolSize = options.poolSize ?? DEFAULT_POOL_SIZE.min;
    this.prefetch = this.asyncMode ? options.prefetch : undefined;
    this.recycleBytes = Math.floor(module.maxMemoryPages * 65536 * 0.75);
    this.goBuffers = { message: options.goMessageBuffer ?? 1024, cache: options.goCacheBuffer ?? 128 };
    this.reload = options.reload;
  }

  /**
   * Runs the module the reload switch holds from now on: new instances come from it; idle instances of the old one
   * are dropped, and those in a call finish it and are dropped then (nothing in flight is lost).
   */
  private swap(module: WasmModule): void {
    const compiled = module.compiledFor(this.services.cache);
    if (compiled === undefined) return; // not prepared for this cache yet: keep the old one until it is
    this.module = module; // the same export as before: the reloader refuses a module that changes it
    this.compiled = compiled;
    this.instance = undefined;
    this.instances -= this.idle.length;
    this.idle.length = 0;
  }

  next(message: Message): void {
    this.stats.received++;
    const latest = this.reload?.module;
    if (latest !== undefined && latest !== this.module) this.swap(latest);
    if (this.closed) {
      message.nack(new Error(`${this.name} is closed`));
      return;
    }
    if (!this.asyncMode) {
      this.runSync(message);
      return;
    }
    const key = message.key;
    if (key !== undefined) {
      const waiting = this.keyQueues.get(key);
      if (waiting !== undefined) {
        // the same key is being worked on: keep its order
        if (waiting === null) this.keyQueues.set(key, [message]);
        else waiting.push(message);
        return;
      }
      this.keyQueues.set(key, null);
    }
    this.admit(message, false);
    this.pump();
  }

  /** Queues a message that may run now, after fetching the keys its prefetch hint names. */
  private admit(message: Message, first: boolean): void {
    const keys = this.prefetch === undefined ? undefined : this.prefetchKeys(message);
    if (keys === undefined || keys.length === 0) {
      if (first) this.queue.unshift(message);
      else this.queue.push(message);
      return;
    }
    this.prefetching++;
    const work = new Prefetch(this, message, keys.length);
    const reads = this.services.reads as BatchedReads;
    for (const key of keys) reads.read(key, work);
  }

  /** @internal a message's prefetch reads are answered: it may run */
  prefetched(work: Prefetch): void {
    this.prefetching--;
    this.queue.push(work);
    this.pump();
  }

  private prefetchKeys(message: Message): readonly string[] | undefined {
    try {
      const keys = (this.prefetch as PrefetchHint)(message);
      return typeof keys === 'string' ? [keys] : keys;
    } catch (error) {
      this.logger.debug({ id: message.id, err: error }, 'the prefetch hint threw; the module reads its keys itself');
      return undefined;
    }
  }

  complete(): void {
    this.completing = true;
    this.maybeComplete();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeStage(this.stats);
  }

  private newInstance(): GuestInstance {
    return this.module.instantiate(this.kind, this.services, this.compiled, this.goBuffers);
  }

  private runSync(message: Message): void {
    let instance = this.instance;
    let status: number;
    const trace = tracingState.active !== 0 ? beginWasmCall(message, this.name, this.module.name) : undefined;
    try {
      instance ??= this.instance = this.newInstance();
      if (this.sampler.sample()) {
        const began = performance.now();
        status = instance.invoke(message) as number;
        this.callSeconds.observe((performance.now() - began) / 1000);
      } else {
        status = instance.invoke(message) as number;
      }
    } catch (error) {
      if (trace !== undefined) endWasmCall(trace, this.kind, instance, undefined, error);
      this.dropInstance(instance, error);
      this.fail(message, error);
      return;
    }
    if (trace !== undefined) endWasmCall(trace, this.kind, instance, status, undefined);
    this.settle(message, instance, status);
  }

  private dropInstance(instance: GuestInstance | undefined, error: unknown): void {
    // a trap, or a host call's error thrown through the module, leaves the instance in an unknown state
    // (half-updated heap, shadow stack): start afresh
    if (error instanceof WasmModuleError) return;
    if (error instanceof WasmTrapError) this.module.stats.traps++;
    if (instance !== undefined && instance === this.instance) this.instance = undefined;
  }

  /**
   * Starts queued messages on idle instances (creating instances up to the pool size). Every message that waits on
   * the cache here asks in this same tick, so that their reads go to the backend together (BatchedReads).
   */
  private pump(): void {
    if (this.pumping) return; // a message that finished at once calls release() -> pump(): the loop below goes on
    this.pumping = true;
    try {
      while (this.queue.length > 0 && (this.idle.length > 0 || this.instances < this.poolSize)) {
        const entry = this.queue.shift() as Message | Prefetch;
        const message = entry instanceof Prefetch ? entry.message : entry;
        let pooled = this.idle.pop();
        if (pooled === undefined) {
          try {
            pooled = this.newPooled();
          } catch (error) {
            this.module.stats.traps++;
            this.fail(message, error);
            this.instances++; // counted so that release() can forget it: it never joined the pool
            this.release(message, undefined);
            continue;
          }
          this.instances++;
        }
        this.runPooled(pooled, message, entry instanceof Prefetch ? entry : undefined);
      }
    } finally {
      this.pumping = false;
    }
  }

  private newPooled(): Pooled {
    const instance = this.newInstance();
    if (this.autoPool) this.poolSize = defaultPoolSize(instance.memoryBytes);
    const pooled: Pooled = {
      instance,
      module: this.module,
      message: undefined,
      began: 0,
      // made once per instance: a message that waits costs no closure
      done: (error, status) => this.afterPooled(pooled, error === undefined ? status : undefined, error),
    };
    return pooled;
  }

  private runPooled(pooled: Pooled, message: Message, prefetched: Prefetched | undefined): void {
    this.active++;
    pooled.message = message;
    // timed from the call to its completion, waits on the cache included: what the call costs this message
    pooled.began = this.sampler.sample() ? performance.now() : 0;
    pooled.trace = tracingState.active !== 0 ? beginWasmCall(message, this.name, this.module.name) : undefined;
    let status: number | undefined;
    try {
      status = pooled.instance.start(message, pooled.done, prefetched);
    } catch (error) {
      this.afterPooled(pooled, undefined, error);
      return;
    }
    if (status !== undefined) this.afterPooled(pooled, status, undefined);
  }

  private afterPooled(pooled: Pooled, status: number | undefined, error: unknown): void {
    this.active--;
    const message = pooled.message as Message;
    pooled.message = undefined;
    if (pooled.began !== 0) this.callSeconds.observe((performance.now() - pooled.began) / 1000);
    if (pooled.trace !== undefined) endWasmCall(pooled.trace, this.kind, pooled.instance, status, error);
    let keep = true;
    if (status === undefined) {
      // as in dropInstance: only a module's own failure report leaves the instance usable
      if (!(error instanceof WasmModuleError)) {
        if (error instanceof WasmTrapError) this.module.stats.traps++;
        keep = false;
      }
      this.fail(message, error);
    } else {
      keep = this.settle(message, pooled.instance, status);
    }
    this.release(message, keep ? pooled : undefined);
  }

  /** Gives the instance back (or forgets a broken one) and starts the next message of the same key. */
  private release(message: Message, pooled: Pooled | undefined): void {
    if (pooled !== undefined && pooled.module === this.module) this.idle.push(pooled);
    else if (this.instances > 0) this.instances--;
    const key = message.key;
    if (key !== undefined) {
      const waiting = this.keyQueues.get(key);
      const following = waiting?.shift();
      if (following !== undefined) this.admit(following, true);
      else this.keyQueues.delete(key);
    }
    this.pump();
    this.maybeComplete();
  }

  private maybeComplete(): void {
    if (this.completing && this.active === 0 && this.prefetching === 0 && this.queue.length === 0 && !this.downstream.closed) {
      this.downstream.complete();
    }
  }

  /** Acts on what the module decided; returns false when the instance should be replaced (grown too large). */
  private settle(message: Message, instance: GuestInstance, status: number): boolean {
    this.module.stats.calls++;
    if (status < 0) {
      const note = instance.memoryCapNote(true); // a C module whose malloc returned NULL, for example
      const reason = `${instance.failure ?? `status ${status}`}${note === undefined ? '' : `; ${note}`}`;
      this.fail(message, new WasmModuleError(`${this.module.name} failed on message ${message.id}: ${reason}`, status));
    } else if (this.kind === 'filter') {
      if (status === 0) {
        this.stats.dropped++;
        message.ack();
      } else {
        this.output.emit(message);
      }
    } else {
      const outputs = instance.outputs;
      if (outputs.length === 1) {
        this.output.emit(message.with(outputs[0]));
      } else {
        const children = message.split(outputs);
        if (children.length === 0) this.stats.dropped++;
        for (const child of children) this.output.emit(child);
      }
    }
    if (instance.memoryBytes > this.recycleBytes) {
      // a module that never frees (AssemblyScript's stub runtime, a Go-prototype module written for one message per
      // instance) would reach its cap and trap: give it a fresh instance before that
      const pages = instance.memoryBytes / 65536;
      if (this.module.firstRecycle()) {
        this.logger.warn(
          { pages, maxMemoryPages: this.module.maxMemoryPages },
          `${this.module.name}: an instance's memory grew to ${pages} of ${this.module.maxMemoryPages} pages (past 3/4 of the cap), ` +
            'so it was replaced by a fresh one: what the module keeps in memory between messages (globals, its heap) starts afresh. ' +
            'A module that frees what it allocates keeps its instance (AssemblyScript: --runtime incremental, not stub); ' +
            'this warns once per module',
        );
      } else {
        this.logger.debug({ pages }, 'replacing an instance whose memory grew past 3/4 of its cap');
      }
      if (instance === this.instance) this.instance = undefined;
      return false;
    }
    return true;
  }

  private fail(message: Message, raw: unknown): void {
    this.module.stats.failures++;
    const error = toError(raw);
    let kind: 'budget' | 'trap' | 'status' | 'host_call';
    if (error instanceof WasmBudgetError) {
      kind = 'budget';
      this.budgetStops.inc();
    } else if (error instanceof WasmTrapError) {
      kind = 'trap';
      this.traps.inc();
    } else {
      kind = error instanceof WasmModuleError ? 'status' : 'host_call';
    }
    this.stats.error(kind);
    const deadLettered = this.deadLetter !== undefined;
    // every failed message at warn with the module's own reason, rate-limited; the host's stack only for host errors
    // (a module's fail() or trap is the module's story, and the JS frames of the host would bury it)
    this.failureLog.write(
      'warn',
      `${this.name}: message ${message.id} was ${deadLettered ? 'dead-lettered' : 'nacked'}: ${error.message}`,
      {
        id: message.id,
        kind,
        reason: error.message,
        ...(kind === 'host_call' ? { err: error } : {}),
      },
    );
    if (deadLettered) {
      this.stats.deadLettered++;
      this.deadLetter.next(deadLetterCopy(message, error, this.name));
    } else {
      this.stats.nacked++;
      message.nack(error);
    }
  }
}
