// The machinery behind wasmTransform and wasmFilter: one subscription's instances of a module, the call per
// message, settlement of what the module decided, traps (replace the instance, fail that message only), and a
// small pool of instances when host calls wait on an asynchronous cache (order kept per message key).
import { Observable, OperatorFunction } from 'rxjs';
import { Message, markStage } from '../message';
import type { Cache } from '../cache/types';
import { MemoryCache } from '../cache/memory';
import type { Sink } from '../sink';
import { ConfigError, WasmAbiError, toError } from '../errors';
import { deadLetterCopy } from '../deadLetter';
import { rootLogger, Logger } from '../logger';
import { Fifo } from '../fifo';
import { loadWasm, LoadOptions, WasmModule, WasmSource } from './load';
import type { CallKind, GuestInstance } from './instance';
import { HostServices, RateLimitedLog } from './host';
import { BatchedReads } from './reads';
import { WasmModuleError, WasmTrapError } from './errors';

export interface WasmOperatorOptions extends LoadOptions {
  /** The cache the module's cache calls use. Default: one in-memory cache shared by the process's wasm operators. */
  cache?: Cache;
  /** Values the module reads with config_get. */
  config?: Readonly<Record<string, string>> | ReadonlyMap<string, string>;
  /** What a failed message becomes: `nack` (the source redelivers it; default) or `deadLetter` (needs `deadLetter`). */
  onError?: 'nack' | 'deadLetter';
  /** Where failed messages go with `onError: 'deadLetter'`; the original is acked once the dead letter confirms. */
  deadLetter?: Sink;
  /** Instances per subscription when cache calls wait on an asynchronous backend. Default 4. */
  poolSize?: number;
  /** Go-prototype modules: bytes they reserve for the message (default 1024) and for a cache value (default 128). */
  goMessageBuffer?: number;
  goCacheBuffer?: number;
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
    throw new WasmAbiError(`${module.name} was written for the Go prototype (it exports run()): use it with wasmTransform, which keeps what it sends`);
  }
  if (!module.exports(wanted)) {
    const other = wanted === 'transform' ? 'filter' : 'transform';
    throw new WasmAbiError(`${module.name} does not export '${wanted}'${module.exports(other) ? `; it exports '${other}': use wasm${other === 'filter' ? 'Filter' : 'Transform'}` : ''}`);
  }
  return wanted;
}

/** Options checked when the operator is created, so that mistakes show before any message flows. */
function checkOptions(options: WasmOperatorOptions): void {
  if (options.onError !== undefined && options.onError !== 'nack' && options.onError !== 'deadLetter') {
    throw new ConfigError(`onError must be 'nack' or 'deadLetter', not '${String(options.onError)}'`, { variable: 'onError' });
  }
  if (options.onError === 'deadLetter' && options.deadLetter === undefined) {
    throw new ConfigError("onError: 'deadLetter' needs a deadLetter sink, for example { onError: 'deadLetter', deadLetter: sink('file:///tmp/dead.jsonl') }", {
      variable: 'deadLetter',
    });
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
      const begin = (value: { module: WasmModule; kind: CallKind }): void => {
        stage = new WasmStage(value.module, value.kind, cache, options, subscriber);
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
      const subscription = upstream.subscribe({
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
      });
      return () => {
        subscription.unsubscribe();
        stage?.close();
      };
    });
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
  private readonly compiled: WebAssembly.Module;
  private readonly asyncMode: boolean;
  private readonly poolSize: number;
  private readonly recycleBytes: number;
  private readonly goBuffers: { message: number; cache: number };
  // synchronous mode: one instance
  private instance: GuestInstance | undefined;
  // asynchronous mode: a pool, a queue, and the keys being worked on
  private readonly idle: GuestInstance[] = [];
  private instances = 0;
  private active = 0;
  private readonly queue = new Fifo<Message>();
  private readonly keyQueues = new Map<string, Message[]>();
  private pumping = false;
  private completing = false;
  private closed = false;
  private lastWarning = 0;
  private warningsSkipped = 0;

  constructor(
    readonly module: WasmModule,
    readonly kind: CallKind,
    cache: Cache,
    options: WasmOperatorOptions,
    private readonly downstream: Downstream,
  ) {
    this.name = `${kind === 'filter' ? 'wasmFilter' : 'wasmTransform'}(${module.name})`;
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
    this.compiled = module.compiledFor(cache) as WebAssembly.Module;
    this.poolSize = options.poolSize ?? 4;
    this.recycleBytes = Math.floor(module.maxMemoryPages * 65536 * 0.75);
    this.goBuffers = { message: options.goMessageBuffer ?? 1024, cache: options.goCacheBuffer ?? 128 };
  }

  next(message: Message): void {
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
        waiting.push(message); // the same key is being worked on: keep its order
        return;
      }
      this.keyQueues.set(key, []);
    }
    this.queue.push(message);
    this.pump();
  }

  complete(): void {
    this.completing = true;
    this.maybeComplete();
  }

  close(): void {
    this.closed = true;
  }

  private newInstance(): GuestInstance {
    return this.module.instantiate(this.kind, this.services, this.compiled, this.goBuffers);
  }

  private runSync(message: Message): void {
    let instance = this.instance;
    let status: number;
    try {
      instance ??= this.instance = this.newInstance();
      status = instance.invoke(message) as number;
    } catch (error) {
      this.dropInstance(instance, error);
      this.fail(message, error);
      return;
    }
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
        const message = this.queue.shift() as Message;
        let instance = this.idle.pop();
        if (instance === undefined) {
          try {
            instance = this.newInstance();
          } catch (error) {
            this.module.stats.traps++;
            this.fail(message, error);
            this.release(message, undefined);
            continue;
          }
          this.instances++;
        }
        this.runPooled(instance, message);
      }
    } finally {
      this.pumping = false;
    }
  }

  private runPooled(instance: GuestInstance, message: Message): void {
    this.active++;
    let status: number | undefined;
    try {
      status = instance.start(message, (error, later) => this.afterPooled(instance, message, error === undefined ? later : undefined, error));
    } catch (error) {
      this.afterPooled(instance, message, undefined, error);
      return;
    }
    if (status !== undefined) this.afterPooled(instance, message, status, undefined);
  }

  private afterPooled(instance: GuestInstance, message: Message, status: number | undefined, error: unknown): void {
    this.active--;
    let keep = true;
    if (status === undefined) {
      // as in dropInstance: only a module's own failure report leaves the instance usable
      if (!(error instanceof WasmModuleError)) {
        if (error instanceof WasmTrapError) this.module.stats.traps++;
        keep = false;
      }
      this.fail(message, error);
    } else {
      keep = this.settle(message, instance, status);
    }
    this.release(message, keep ? instance : undefined);
  }

  /** Gives the instance back (or forgets a broken one) and starts the next message of the same key. */
  private release(message: Message, instance: GuestInstance | undefined): void {
    if (instance !== undefined) this.idle.push(instance);
    else if (this.instances > 0) this.instances--;
    const key = message.key;
    if (key !== undefined) {
      const waiting = this.keyQueues.get(key);
      const following = waiting?.shift();
      if (following !== undefined) this.queue.unshift(following);
      else this.keyQueues.delete(key);
    }
    this.pump();
    this.maybeComplete();
  }

  private maybeComplete(): void {
    if (this.completing && this.active === 0 && this.queue.length === 0 && !this.downstream.closed) {
      this.downstream.complete();
    }
  }

  /** Acts on what the module decided; returns false when the instance should be replaced (grown too large). */
  private settle(message: Message, instance: GuestInstance, status: number): boolean {
    this.module.stats.calls++;
    if (status < 0) {
      this.fail(message, new WasmModuleError(`${this.module.name} failed on message ${message.id}: ${instance.failure ?? `status ${status}`}`, status));
    } else if (this.kind === 'filter') {
      if (status === 0) {
        message.ack();
      } else {
        markStage(message, this.name);
        this.downstream.next(message);
      }
    } else {
      const outputs = instance.outputs;
      if (outputs.length === 1) {
        const output = message.with(outputs[0]);
        markStage(output, this.name);
        this.downstream.next(output);
      } else {
        const children = message.split(outputs);
        for (const child of children) {
          markStage(child, this.name);
          this.downstream.next(child);
        }
      }
    }
    if (instance.memoryBytes > this.recycleBytes) {
      // a module that never frees (AssemblyScript's stub runtime, a Go-prototype module written for one message per
      // instance) would reach its cap and trap: give it a fresh instance before that
      this.logger.debug({ memoryBytes: instance.memoryBytes }, 'replacing an instance whose memory grew past 3/4 of its cap');
      if (instance === this.instance) this.instance = undefined;
      return false;
    }
    return true;
  }

  private fail(message: Message, raw: unknown): void {
    this.module.stats.failures++;
    const error = toError(raw);
    this.logger.debug({ id: message.id, err: error }, 'the module failed on a message');
    this.warn(error);
    if (this.deadLetter !== undefined) {
      this.deadLetter.next(deadLetterCopy(message, error, this.name));
    } else {
      message.nack(error);
    }
  }

  /** Failures are per message (debug); a warning at most every 10 s says that they happen and why. */
  private warn(error: Error): void {
    const now = Date.now();
    if (now - this.lastWarning < 10_000) {
      this.warningsSkipped++;
      return;
    }
    this.lastWarning = now;
    const skipped = this.warningsSkipped;
    this.warningsSkipped = 0;
    const action = this.deadLetter !== undefined ? 'dead-lettered' : 'nacked';
    this.logger.warn(
      { err: error, trap: error instanceof WasmTrapError, moreSinceLastWarning: skipped },
      `${this.name}: a message was ${action}: ${error.message}`,
    );
  }
}
