// The host side of the Go prototype's ABI: `run()` once per message, with the prototype's imports.
import { WasmModuleError } from './errors';
import { GuestInstance } from './instance';
import type { InstanceSetup, Prefetched } from './instance';
import type { HostServices } from './host';
import type { Message } from '../message';

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
  private fetched: Prefetched | undefined = undefined;
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
    const missing = this.missing;
    if (missing !== undefined) {
      if (replays >= MAX_REPLAYS) {
        throw new WasmModuleError(`${this.setup.name} read more than ${MAX_REPLAYS} different cache keys in one run`, -1);
      }
      const cache = this.setup.services.cache;
      this.setup.stats.suspensions++;
      return cache.get(missing).then((value) => {
        (this.fetched as Prefetched).set(missing, value);
        return this.rehearse(replays + 1);
      });
    }
    const writes = this.writes;
    if (writes.size === 0) return 0;
    const cache = this.setup.services.cache;
    return Promise.all([...writes].map(([key, value]) => cache.set(key, value))).then(() => 0);
  }

  private cacheRead(key: string): Buffer | undefined | typeof NOT_YET {
    const written = this.writes?.get(key);
    if (written !== undefined) return written;
    const sync = this.setup.services.cache.sync;
    if (sync !== undefined) return sync.get(key);
    const fetched = this.fetched as Prefetched;
    if (fetched.has(key)) return fetched.get(key);
    this.missing ??= key;
    return NOT_YET;
  }

  protected imports(): WebAssembly.Imports {
    const zero = Buffer.alloc(1);
    const writeTerminated = (what: string, value: Buffer, ptr: number, reserved: number): void => {
      if (value.length + 1 > reserved) {
        throw new WasmModuleError(
          `${this.setup.name}: ${what} value of ${value.length} bytes does not fit the ${reserved} bytes the module reserves`,
          -1,
        );
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
