// The host side of the native ABI v1 (sdk/ABI.md): one instance of a module, its imports (messages, cache, log),
// and the asyncify dance that lets a module wait on an asynchronous cache read.
import { LOG_LEVELS, NATIVE_MODULE } from './abi';
import { WasmModuleError, WasmTrapError } from './errors';
import type { BatchedReads, Reader } from './reads';
import { GuestInstance, outOfBounds } from './instance';
import type { Completion, InstanceSetup, Prefetched } from './instance';
import type { Message, MessageChanges } from '../message';

/** Bytes the host reserves in the module (through `alloc`) for the asyncify stack. */
const ASYNCIFY_DATA_SIZE = 32 * 1024;

/** `pending` when the module waits for a cache read batched with others (BatchedReads). */
const BATCHED_READ = Symbol('batched read');

type Entry = (...args: number[]) => number | undefined;

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
    this.outputs.length = 0; // read by the stage before the next call: the array is kept, not made again for every message
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
      mem.set(body, this.inputPtr);
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
        if (this.rewinding)
          return this.hostCall(
            undefined,
            () => Promise.resolve(),
            () => 0,
          );
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
        if (this.rewinding)
          return this.hostCall(
            undefined,
            () => Promise.resolve(false),
            (added) => (added ? 1 : 0),
          );
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
        if (this.rewinding)
          return this.hostCall(
            undefined,
            () => Promise.resolve(),
            () => 0,
          );
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
