// One instance of a module and the host side of its ABI: copies a message in, calls the module, collects what it
// emits. Instances are created once and reused for every message; a trap leaves an instance in an unknown state,
// so the caller replaces it (see WasmStage). This file holds what both ABIs share; nativeInstance.ts is the native
// ABI v1 (sdk/ABI.md), goInstance.ts the Go prototype's.
import type { Message, MessageChanges } from '../message';
import { LOG_LEVELS, FUEL_GLOBAL, GROW_FAILED_GLOBAL, SET_FUEL } from './abi';
import type { HostServices, WasmModuleStats } from './host';
import { WasmBudgetError, WasmModuleError, WasmTrapError } from './errors';
import { WASI_MODULE, WasiHost } from './wasi';

export type CallKind = 'transform' | 'filter' | 'run';

export type Exports = Record<string, unknown>;

/**
 * Cache values fetched for one message before it runs (undefined: the key is missing); the call may change it. A
 * Map is one; the stage's own keeps a single key without a Map (the common hint names one key).
 */
export interface Prefetched {
  has(key: string): boolean;
  get(key: string): Buffer | undefined;
  set(key: string, value: Buffer | undefined): void;
  delete(key: string): void;
}

/** How a call that had to wait ended: an error (it failed), or its status. */
export type Completion = (error: Error | undefined, status: number) => void;

export function outOfBounds(what: string, ptr: number, len: number): WasmTrapError {
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
    this.exports = this.instance.exports;
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

  /**
   * Bytes of linear memory now (to recycle an instance whose memory grew large): read after every call, so from the
   * Buffer kept over the memory rather than the `memory.buffer` getter, which costs more than the rest of the check.
   */
  get memoryBytes(): number {
    return this.bytes().length;
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
    // a plain view of the bytes and TypedArray#set: Buffer#copy's argument checks and the Buffer it makes for a
    // part of the source cost more than copying an event
    out.set(new Uint8Array(mem.buffer, mem.byteOffset + ptr, len));
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
      mem.set(value, ptr);
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
    const asked = this.growFailed === undefined ? 0 : this.growFailed.value;
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
