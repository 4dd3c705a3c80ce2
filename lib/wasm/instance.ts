// One instance of a module and the host side of its ABI: copies a message in, calls the module, collects what it
// emits. Instances are created once and reused for every message; a trap leaves an instance in an unknown state,
// so the caller replaces it (see WasmStage).
import type { Message, MessageChanges } from '../message';
import { LOG_LEVELS, NATIVE_MODULE, FUEL_GLOBAL, GROW_FAILED_GLOBAL, SET_FUEL } from './abi';
import type { HostServices, WasmModuleStats } from './host';
import { WasmBudgetError, WasmModuleError, WasmTrapError } from './errors';
import type { BatchedReads, Reader } from './reads';
import { WASI_MODULE, WasiHost } from './wasi';

export type CallKind = 'transform' | 'filter' | 'run';

/** Bytes the host reserves in the module (through `alloc`) for the asyncify stack. */
const ASYNCIFY_DATA_SIZE = 32 * 1024;

type Exports = Record<string, unknown>;

/** Cache values fetched for one message before it runs (undefined: the key is missing); the call may change it. */
export type Prefetched = Map<string, Buffer | undefined>;

/** How a call that had to wait ended: an error (it failed), or its status. */
export type Completion = (error: Error | undefined, status: number) => void;

/** `pending` when the module waits for a cache read batched with others (BatchedReads). */
const BATCHED_READ = Symbol('batched read');

type Entry = (...args: number[]) => number | undefined;

function outOfBounds(what: string, ptr: number, len: number): WasmTrapError {
  return new WasmTrapError(`${what}: the range ${ptr}..${ptr + len} is outside the module's memory`);
}

/** What an instance needs from its module. */
export interface InstanceSetup {
  readonly compiled: WebAssembly.Module;
  readonly name: string;
  readonly kind: CallKind;
  readonly services: HostServices;
  readonly stats: WasmModuleStats;
  /** Fuel per call, when the module was instrumented. */
  readonly budget?: number;
  /** The memory cap, in 64 KiB pages, for errors that say it was reached. */
  readonly maxMemoryPages: number;
  /** The module was asyncified: cache calls may suspend it. */
  readonly asyncified: boolean;
  /** The module imports WASI preview 1 (lib/wasm/wasi.ts). */
  readonly wasi?: boolean;
  /** Go prototype ABI: bytes the module reserves for the message (body + NUL) and for a cache value. */
  readonly goMessageBuffer: number;
  readonly goCacheBuffer: number;
}

/** The common part of both ABIs: memory access, fuel, traps, AssemblyScript's env imports. */
export abstract class GuestInstance {
  readonly instance: WebAssembly.Instance;
  protected readonly exports: Exports;
  protected readonly memory: WebAssembly.Memory;
  private mem: Buffer;
  private readonly setFuel: ((fuel: number) => void) | undefined;
  private readonly fuel: WebAssembly.Global | undefined;
  /** Pages of the last memory.grow that failed (instrumented modules), 0 when none failed in this call. */
  private readonly growFailed: WebAssembly.Global | undefined;
  /** Outputs of the current call. */
  outputs: MessageChanges[] = [];
  /** The text the module passed to fail(), for the current call. */
  failure: string | undefined = undefined;
  protected current: Message | undefined = undefined;

  constructor(protected readonly setup: InstanceSetup) {
    const imports = this.imports();
    const wasi = setup.wasi ? new WasiHost(setup.name, setup.services) : undefined;
    if (wasi !== undefined) imports[WASI_MODULE] = wasi.imports;
    try {
      this.instance = new WebAssembly.Instance(setup.compiled, imports);
      wasi?.start(this.instance);
    } catch (error) {
      throw this.translate(error);
    }
    this.exports = this.instance.exports as Exports;
    this.memory = this.exports.memory as WebAssembly.Memory;
    this.mem = Buffer.from(this.memory.buffer);
    this.setFuel = this.exports[SET_FUEL] as ((fuel: number) => void) | undefined;
    this.fuel = this.exports[FUEL_GLOBAL] as WebAssembly.Global | undefined;
    this.growFailed = this.exports[GROW_FAILED_GLOBAL] as WebAssembly.Global | undefined;
    setup.stats.instantiations++;
  }

  /**
   * Runs the module on `message`: a status (>= 0 ok), or a promise of one when a host call had to wait.
   * `prefetched` holds cache values fetched for this message beforehand: reads of those keys do not wait.
   */
  abstract invoke(message: Message, prefetched?: Prefetched): number | Promise<number>;

  /**
   * Runs the module on `message` like `invoke`, without a promise: returns the status when the call finished at
   * once; else undefined, and `done` is called when it finishes (a host call had to wait). Throws when the module
   * failed at once.
   */
  start(message: Message, done: Completion, prefetched?: Prefetched): number | undefined {
    const result = this.invoke(message, prefetched);
    if (typeof result === 'number') return result;
    result.then(
      (status) => done(undefined, status),
      (error: unknown) => done(this.translate(error), -1),
    );
    return undefined;
  }

  protected abstract imports(): WebAssembly.Imports;

  /** Bytes of linear memory now (to recycle an instance whose memory grew large). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** The memory as a Buffer, renewed after the module grew its memory (growing detaches the old buffer: length 0). */
  protected bytes(): Buffer {
    if (this.mem.length === 0) this.mem = Buffer.from(this.memory.buffer);
    return this.mem;
  }

  protected copyOut(what: string, ptr: number, len: number): Buffer {
    const mem = this.bytes();
    ptr >>>= 0;
    len >>>= 0;
    if (ptr + len > mem.length) throw outOfBounds(what, ptr, len);
    const out = Buffer.allocUnsafe(len);
    mem.copy(out, 0, ptr, ptr + len);
    return out;
  }

  protected text(what: string, ptr: number, len: number): string {
    const mem = this.bytes();
    ptr >>>= 0;
    len >>>= 0;
    if (ptr + len > mem.length) throw outOfBounds(what, ptr, len);
    return mem.toString('utf8', ptr, ptr + len);
  }

  /** Writes `value` at ptr when it fits in `cap` bytes; returns its length either way (the guest retries if larger). */
  protected copyIn(what: string, value: Buffer, ptr: number, cap: number): number {
    const length = value.length;
    if (length <= cap >>> 0) {
      const mem = this.bytes();
      ptr >>>= 0;
      if (ptr + length > mem.length) throw outOfBounds(what, ptr, length);
      value.copy(mem, ptr);
    }
    return length;
  }

  protected refuel(): void {
    if (this.setFuel !== undefined) this.setFuel(this.setup.budget as number);
  }

  /**
   * When this call ran into the memory cap, what to add to its error: "memory cap reached (N of M pages...)". Known
   * for sure when the module was instrumented (a memory.grow failed during the call); otherwise assumed when the
   * memory stands at the cap (unless `onlyWhenRecorded`: a module that reports its own failure may be at the cap for
   * another reason).
   */
  memoryCapNote(onlyWhenRecorded = false): string | undefined {
    const pages = this.memory.buffer.byteLength / 65536;
    const cap = this.setup.maxMemoryPages;
    const asked = this.growFailed === undefined ? 0 : (this.growFailed.value as number);
    if (asked === 0 && (onlyWhenRecorded || pages < cap)) return undefined;
    const growth = asked > 0 ? `; growing by ${asked} more failed` : '';
    return (
      `memory cap reached (${pages} of ${cap} pages${growth}): raise WASM_MAX_MEMORY_PAGES (the maxMemoryPages option) ` +
      'if the module needs more for one message, or look for what it allocates and never frees'
    );
  }

  /** An error thrown out of the module as the error that nacks the message. */
  translate(error: unknown): Error {
    if (error instanceof WasmTrapError || error instanceof WasmModuleError) return error;
    if (this.fuel !== undefined && this.fuel.value === 0) {
      this.setup.stats.budgetExceeded++;
      return new WasmBudgetError(
        `${this.setup.name} ran past its budget of ${this.setup.budget} fuel units on one message (a loop that does not end?); ` +
          'the instance was replaced. Raise the budget option (WASM_BUDGET) if the module needs more.',
        { cause: error },
      );
    }
    if (error instanceof WebAssembly.RuntimeError || error instanceof RangeError) {
      // a module that said why before it trapped (a Rust panic: the SDK's hook calls fail(), then abort traps): its
      // reason is the story, the trap only how it ended
      if (this.failure !== undefined) {
        return new WasmTrapError(`${this.setup.name} failed: ${this.failure} (then it trapped: ${error.message})`, { cause: error });
      }
      // allocators trap (unreachable) when memory.grow fails: say that it was the cap, not only "unreachable"
      const note = this.memoryCapNote();
      return new WasmTrapError(`${this.setup.name} trapped: ${error.message}${note === undefined ? '' : `: ${note}`}`, { cause: error });
    }
    if (error instanceof WebAssembly.LinkError) return error;
    return error instanceof Error ? error : new WasmTrapError(String(error));
  }

  /** AssemblyScript's runtime imports: abort traps with the module's own message. */
  protected envImports(): Record<string, (...args: number[]) => number | void> {
    return {
      abort: (message: number, file: number, line: number, column: number) => {
        throw new WasmTrapError(
          `${this.setup.name} aborted: ${this.asString(message) ?? 'abort'} (${this.asString(file) ?? '?'}:${line}:${column})`,
        );
      },
      trace: (message: number, count: number, ...values: number[]) => {
        this.setup.services.logger.debug({ module: this.setup.name, values: values.slice(0, count) }, this.asString(message) ?? 'trace');
      },
      seed: () => Date.now(),
    };
  }

  /** An AssemblyScript string (UTF-16, its byte length stored just before it), or undefined for a null pointer. */
  private asString(ptr: number): string | undefined {
    ptr >>>= 0;
    if (ptr === 0) return undefined;
    const mem = this.bytes();
    if (ptr < 4 || ptr > mem.length) return undefined;
    const length = mem.readUInt32LE(ptr - 4);
    if (ptr + length > mem.length) return undefined;
    return mem.toString('utf16le', ptr, ptr + length);
  }

  protected logAt(level: number, text: string): void {
    const name = LOG_LEVELS[Math.max(0, Math.min(LOG_LEVELS.length - 1, level))];
    if (name === 'trace' || name === 'debug') {
      this.setup.services.logger[name]({ module: this.setup.name }, text);
    } else {
      this.setup.services.moduleLog.write(name, text);
    }
  }
}

/** The native ABI v1 (sdk/ABI.md). */
export class NativeInstance extends GuestInstance implements Reader {
  private readonly entry: Entry;
  private readonly alloc: (size: number) => number;
  private inputPtr = 0;
  private inputCapacity = -1;
  private metadata: Record<string, string> | undefined = undefined;
  private metadataShared = false;
  private key: string | undefined = undefined;
  private keyChanged = false;
  private lastCacheKey: string | undefined = undefined;
  private lastCacheValue: Buffer | undefined = undefined;
  private prefetched: Prefetched | undefined = undefined;
  // asyncify
  private asyncData = 0;
  private asyncView: Int32Array | undefined = undefined;
  private inputLength = 0;
  /** What the module waits for while it unwinds: a backend promise, or a read that BatchedReads will answer. */
  private pending: Promise<unknown> | typeof BATCHED_READ | undefined = undefined;
  private readKey = '';
  private rewinding = false;
  /** The outcome of the host call the module waited on, handed to it in the rewind. */
  private resumedValue: unknown = undefined;
  private resumedError: unknown = undefined;
  private resumedFailed = false;
  /** Where the waiting call reports when it is over. */
  private done: Completion | undefined = undefined;
  // made once per instance, not per message: the promise handlers of wait()
  private readonly onValue = (value: unknown): void => this.rewind(value, undefined, false);
  private readonly onError = (error: unknown): void => this.rewind(undefined, error, true);

  constructor(setup: InstanceSetup) {
    super(setup);
    this.entry = this.exports[setup.kind] as Entry;
    this.alloc = this.exports.alloc as (size: number) => number;
    if (setup.asyncified) {
      try {
        this.asyncData = this.alloc(ASYNCIFY_DATA_SIZE) >>> 0;
      } catch (error) {
        throw this.translate(error);
      }
    }
  }

  invoke(message: Message, prefetched?: Prefetched): number | Promise<number> {
    const status = this.begin(message, prefetched);
    if (status !== undefined) return status;
    return new Promise((resolve, reject) => {
      this.done = (error, result) => (error === undefined ? resolve(result) : reject(error));
      this.wait();
    });
  }

  override start(message: Message, done: Completion, prefetched?: Prefetched): number | undefined {
    const status = this.begin(message, prefetched);
    if (status === undefined) {
      this.done = done;
      this.wait();
    }
    return status;
  }

  /** Copies the message in and calls the module: its status, or undefined when it unwound to wait for a host call. */
  private begin(message: Message, prefetched: Prefetched | undefined): number | undefined {
    this.current = message;
    this.prefetched = prefetched;
    this.outputs = [];
    this.failure = undefined;
    this.metadata = undefined;
    this.metadataShared = false;
    this.key = message.key;
    this.keyChanged = false;
    this.lastCacheKey = undefined;
    this.lastCacheValue = undefined;
    const body = message.body;
    const length = body.length;
    try {
      if (length > this.inputCapacity) this.growInput(length);
      const mem = this.bytes();
      if (this.inputPtr + length > mem.length) throw outOfBounds('alloc', this.inputPtr, length);
      body.copy(mem, this.inputPtr);
      this.inputLength = length;
      this.refuel();
      const status = this.entry(this.inputPtr, length) as number;
      if (this.pending === undefined) return status;
    } catch (error) {
      this.pending = undefined;
      throw this.translate(error);
    }
    return undefined;
  }

  private growInput(length: number): void {
    const capacity = Math.max(length, 256, this.inputCapacity * 2);
    const ptr = this.alloc(capacity) >>> 0;
    if (ptr === 0) {
      const note = this.memoryCapNote();
      throw new WasmTrapError(`${this.setup.name}: alloc(${capacity}) returned 0 (${note ?? 'out of memory?'})`);
    }
    this.inputPtr = ptr;
    this.inputCapacity = capacity;
  }

  /** Ends the unwind, waits for what the host call waits on, then rewinds the module into it (see `rewind`). */
  private wait(): void {
    (this.exports.asyncify_stop_unwind as () => void)();
    const pending = this.pending as Promise<unknown> | typeof BATCHED_READ;
    this.pending = undefined;
    this.setup.stats.suspensions++;
    if (pending === BATCHED_READ) (this.setup.services.reads as BatchedReads).read(this.readKey, this);
    else pending.then(this.onValue, this.onError);
  }

  /** @internal the answer of the batched read this instance waits on (BatchedReads) */
  onRead(_key: string, value: Buffer | undefined, error: Error | undefined): void {
    if (error === undefined) this.rewind(value, undefined, false);
    else this.rewind(undefined, error, true);
  }

  /** Re-enters the module where it waited, with the host call's outcome; repeats while it waits again. */
  private rewind(value: unknown, error: unknown, failed: boolean): void {
    this.resumedValue = value;
    this.resumedError = error;
    this.resumedFailed = failed;
    (this.exports.asyncify_start_rewind as (ptr: number) => void)(this.asyncData);
    this.rewinding = true;
    let status: number;
    try {
      status = this.entry(this.inputPtr, this.inputLength) as number;
    } catch (thrown) {
      this.pending = undefined;
      this.rewinding = false;
      this.finish(this.translate(thrown), -1);
      return;
    }
    if (this.pending === undefined) this.finish(undefined, status);
    else this.wait();
  }

  private finish(error: Error | undefined, status: number): void {
    const done = this.done as Completion;
    this.done = undefined;
    done(error, status);
  }

  /**
   * Answers a host call that may have to wait: at once when `now` has the answer, else by unwinding the module
   * (asyncify) until `later` settles and rewinding it into this same call, which then returns `finish(value)`.
   */
  private hostCall<T>(now: (() => T | undefined) | undefined, later: () => Promise<T>, finish: (value: T) => number): number {
    if (this.rewinding) return this.resumeCall(finish);
    if (now !== undefined) return finish(now() as T);
    return this.suspend(later);
  }

  /** In the rewind: the host call that waited returns its outcome (or throws its error into the module's call). */
  private resumeCall<T>(finish: (value: T) => number): number {
    (this.exports.asyncify_stop_rewind as () => void)();
    this.rewinding = false;
    const value = this.resumedValue;
    const error = this.resumedError;
    this.resumedValue = this.resumedError = undefined;
    if (this.resumedFailed) throw error;
    return finish(value as T);
  }

  /** Unwinds the module out of a host call until `later` (or the batched read of `readKey`) has the answer. */
  private suspend(later: (() => Promise<unknown>) | typeof BATCHED_READ): number {
    if (!this.setup.asyncified) {
      throw new WasmTrapError(`${this.setup.name}: the cache answers asynchronously but the module was not prepared for it`);
    }
    this.pending = later === BATCHED_READ ? later : later();
    let view = this.asyncView;
    // growing the memory detaches the old buffer (length 0): take a new view then
    if (view === undefined || view.length === 0) view = this.asyncView = new Int32Array(this.memory.buffer);
    view[this.asyncData >>> 2] = this.asyncData + 8;
    view[(this.asyncData >>> 2) + 1] = this.asyncData + ASYNCIFY_DATA_SIZE;
    (this.exports.asyncify_start_unwind as (ptr: number) => void)(this.asyncData);
    return 0;
  }

  /**
   * A cache_get's answer: the value's length (written at `out` when it fits `cap`), or -1. The value is kept for the
   * rest of this message's call: the guest's retry with a larger buffer gets the same bytes without another read.
   */
  private gotValue(key: string, value: Buffer | undefined, out: number, cap: number): number {
    this.lastCacheKey = key;
    this.lastCacheValue = value;
    return value === undefined ? -1 : this.copyIn('cache_get', value, out, cap);
  }

  private ownMetadata(): Record<string, string> {
    if (this.metadata === undefined || this.metadataShared) {
      this.metadata = { ...(this.metadata ?? (this.current as Message).metadata) };
      this.metadataShared = false;
    }
    return this.metadata;
  }

  private readMetadata(): Readonly<Record<string, string>> {
    return this.metadata ?? (this.current as Message).metadata;
  }

  protected imports(): WebAssembly.Imports {
    const { cache, config, reads } = this.setup.services;
    const sync = cache.sync;
    const native: Record<string, (...args: number[]) => number | void> = {
      emit: (ptr, len) => {
        if (this.setup.kind === 'filter') {
          throw new WasmModuleError(`${this.setup.name}: emit() was called by filter(); a filter returns 1 (keep) or 0 (drop)`, -1);
        }
        const output: MessageChanges = { body: this.copyOut('emit', ptr, len) };
        if (this.metadata !== undefined) {
          output.metadata = this.metadata;
          this.metadataShared = true;
        }
        if (this.keyChanged) output.key = this.key ?? null;
        this.outputs.push(output);
      },
      fail: (ptr, len) => {
        this.failure = this.text('fail', ptr, len);
      },
      meta_get: (kptr, klen, out, cap) => {
        const value = this.readMetadata()[this.text('meta_get', kptr, klen)];
        return value === undefined ? -1 : this.copyIn('meta_get', Buffer.from(value, 'utf8'), out, cap);
      },
      meta_set: (kptr, klen, vptr, vlen) => {
        this.ownMetadata()[this.text('meta_set', kptr, klen)] = this.text('meta_set', vptr, vlen);
      },
      meta_delete: (kptr, klen) => {
        const name = this.text('meta_delete', kptr, klen);
        if (name in this.readMetadata()) delete this.ownMetadata()[name];
      },
      key_get: (out, cap) => (this.key === undefined ? -1 : this.copyIn('key_get', Buffer.from(this.key, 'utf8'), out, cap)),
      key_set: (ptr, len) => {
        this.key = this.text('key_set', ptr, len);
        this.keyChanged = true;
      },
      key_delete: () => {
        this.key = undefined;
        this.keyChanged = true;
      },
      cache_get: (kptr, klen, out, cap) => {
        if (this.rewinding) return this.resumeCall((value: Buffer | undefined) => this.gotValue(this.readKey, value, out, cap));
        const key = this.text('cache_get', kptr, klen);
        if (key === this.lastCacheKey) return this.gotValue(key, this.lastCacheValue, out, cap);
        if (sync !== undefined) return this.gotValue(key, sync.get(key), out, cap);
        const prefetched = this.prefetched;
        if (prefetched !== undefined && prefetched.has(key)) return this.gotValue(key, prefetched.get(key), out, cap);
        this.readKey = key;
        return this.suspend(reads !== undefined ? BATCHED_READ : () => cache.get(key));
      },
      cache_set: (kptr, klen, vptr, vlen, ttl) => {
        if (this.rewinding) return this.hostCall(undefined, () => Promise.resolve(), () => 0);
        const key = this.text('cache_set', kptr, klen);
        const value = this.copyOut('cache_set', vptr, vlen);
        const ttlMs = ttl > 0 ? ttl : undefined;
        if (key === this.lastCacheKey) this.lastCacheValue = value;
        if (this.prefetched?.has(key)) this.prefetched.set(key, value);
        return this.hostCall(
          sync && (() => sync.set(key, value, ttlMs)),
          () => cache.set(key, value, ttlMs),
          () => 0,
        );
      },
      cache_add: (kptr, klen, vptr, vlen, ttl) => {
        if (this.rewinding) return this.hostCall(undefined, () => Promise.resolve(false), (added) => (added ? 1 : 0));
        const key = this.text('cache_add', kptr, klen);
        const value = this.copyOut('cache_add', vptr, vlen);
        const ttlMs = ttl > 0 ? ttl : undefined;
        this.lastCacheKey = undefined;
        this.prefetched?.delete(key); // whether it was added is the backend's answer: read it from there next time
        return this.hostCall(
          sync && (() => sync.add(key, value, ttlMs)),
          () => cache.add(key, value, ttlMs),
          (added) => (added ? 1 : 0),
        );
      },
      cache_delete: (kptr, klen) => {
        if (this.rewinding) return this.hostCall(undefined, () => Promise.resolve(), () => 0);
        const key = this.text('cache_delete', kptr, klen);
        if (key === this.lastCacheKey) this.lastCacheKey = undefined;
        if (this.prefetched?.has(key)) this.prefetched.set(key, undefined);
        return this.hostCall(
          sync && (() => sync.delete(key)),
          () => cache.delete(key),
          () => 0,
        );
      },
      config_get: (kptr, klen, out, cap) => {
        const value = config.get(this.text('config_get', kptr, klen));
        return value === undefined ? -1 : this.copyIn('config_get', Buffer.from(value, 'utf8'), out, cap);
      },
      log: (level, ptr, len) => {
        const name = LOG_LEVELS[Math.max(0, Math.min(LOG_LEVELS.length - 1, level))];
        if ((name === 'trace' || name === 'debug') && !this.setup.services.logger.isLevelEnabled(name)) return;
        this.logAt(level, this.text('log', ptr, len));
      },
    };
    return { [NATIVE_MODULE]: native, env: this.envImports() };
  }
}

/** A cache read that the Go prototype's synchronous ABI could not answer yet (asynchronous backend). */
const NOT_YET = Symbol('not yet fetched');
const MAX_REPLAYS = 16;

/**
 * The Go prototype's ABI: `run()` once per message, `pubsub.getMessage` / `pubsub.send`, `cache.get` / `cache.set`,
 * `log.println`. With an asynchronous cache, a read the host cannot answer at once returns an empty value, the run
 * is treated as a rehearsal (its outputs and cache writes are dropped), the value is fetched, and the run is done
 * again; cache writes are applied once the final run is over, before its outputs go on.
 */
export class GoInstance extends GuestInstance {
  private readonly run: () => void;
  private fetched: Map<string, Buffer | undefined> | undefined = undefined;
  private writes: Map<string, Buffer> | undefined = undefined;
  private missing: string | undefined = undefined;

  constructor(setup: InstanceSetup) {
    super(setup);
    this.run = this.exports.run as () => void;
  }

  invoke(message: Message, prefetched?: Prefetched): number | Promise<number> {
    if (message.body.length + 1 > this.setup.goMessageBuffer) {
      throw new WasmModuleError(
        `${this.setup.name}: the message is ${message.body.length} bytes; Go-prototype modules read at most ` +
          `${this.setup.goMessageBuffer - 1} (they reserve ${this.setup.goMessageBuffer} bytes). Port the module to ` +
          'the native ABI (sdk/ABI.md) or raise goMessageBuffer if the module reserves more.',
        -1,
      );
    }
    this.current = message;
    if (this.setup.services.cache.sync !== undefined) {
      this.writes = undefined;
      this.once();
      return 0;
    }
    this.fetched = prefetched ?? new Map();
    return this.rehearse(0);
  }

  private once(): void {
    this.outputs = [];
    this.missing = undefined;
    this.refuel();
    try {
      this.run();
    } catch (error) {
      throw this.translate(error);
    }
  }

  private rehearse(replays: number): number | Promise<number> {
    this.writes = new Map();
    this.once();
    const missing = this.missing as string | undefined;
    if (missing !== undefined) {
      if (replays >= MAX_REPLAYS) {
        throw new WasmModuleError(`${this.setup.name} read more than ${MAX_REPLAYS} different cache keys in one run`, -1);
      }
      const cache = this.setup.services.cache;
      this.setup.stats.suspensions++;
      return cache.get(missing).then((value) => {
        (this.fetched as Map<string, Buffer | undefined>).set(missing, value);
        return this.rehearse(replays + 1);
      });
    }
    const writes = this.writes as Map<string, Buffer>;
    if (writes.size === 0) return 0;
    const cache = this.setup.services.cache;
    return Promise.all([...writes].map(([key, value]) => cache.set(key, value))).then(() => 0);
  }

  private cacheRead(key: string): Buffer | undefined | typeof NOT_YET {
    const written = this.writes?.get(key);
    if (written !== undefined) return written;
    const sync = this.setup.services.cache.sync;
    if (sync !== undefined) return sync.get(key);
    const fetched = this.fetched as Map<string, Buffer | undefined>;
    if (fetched.has(key)) return fetched.get(key);
    this.missing ??= key;
    return NOT_YET;
  }

  protected imports(): WebAssembly.Imports {
    const zero = Buffer.alloc(1);
    const writeTerminated = (what: string, value: Buffer, ptr: number, reserved: number): void => {
      if (value.length + 1 > reserved) {
        throw new WasmModuleError(`${this.setup.name}: ${what} value of ${value.length} bytes does not fit the ${reserved} bytes the module reserves`, -1);
      }
      this.copyIn(what, value, ptr, value.length);
      this.copyIn(what, zero, (ptr >>> 0) + value.length, 1);
    };
    return {
      pubsub: {
        getMessage: (ptr: number) => writeTerminated('pubsub.getMessage', (this.current as Message).body, ptr, this.setup.goMessageBuffer),
        send: (ptr: number, len: number) => {
          this.outputs.push({ body: this.copyOut('pubsub.send', ptr, len) });
        },
      },
      cache: {
        get: (kptr: number, klen: number, vptr: number) => {
          const value = this.cacheRead(this.text('cache.get', kptr, klen));
          const bytes = value === NOT_YET || value === undefined ? Buffer.alloc(0) : value;
          writeTerminated('cache.get', bytes, vptr, this.setup.goCacheBuffer);
        },
        set: (kptr: number, klen: number, vptr: number, vlen: number) => {
          const key = this.text('cache.set', kptr, klen);
          const value = this.copyOut('cache.set', vptr, vlen);
          if (this.writes !== undefined) this.writes.set(key, value);
          else (this.setup.services.cache.sync as NonNullable<HostServices['cache']['sync']>).set(key, value);
        },
      },
      log: {
        println: (ptr: number, len: number) => this.setup.services.moduleLog.write('info', this.text('log.println', ptr, len)),
      },
      env: this.envImports(),
    };
  }
}
