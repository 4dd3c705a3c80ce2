// Cache metrics: hits, misses, errors and latency of any Cache, counted by a thin wrapper so that every user of the
// cache (operators, wasm host calls) is seen. Synchronous operations (memory://) are counted but not timed: they take
// well under a microsecond, and a clock read would cost more than the lookup.
import { performance } from 'node:perf_hooks';
import { addReadyProbe, counterFamily, histogramFamily, Sampler } from '../metrics';
import type { Cache, SyncCacheOperations } from './types';

const hits = counterFamily('wasm_pipes_cache_hits_total', 'Cache gets that found a value, by cache');
const misses = counterFamily('wasm_pipes_cache_misses_total', 'Cache gets that found nothing, by cache');
const errors = counterFamily(
  'wasm_pipes_cache_errors_total',
  'Cache operations that failed (the message is nacked), by cache and operation',
);
const seconds = histogramFamily(
  'wasm_pipes_cache_operation_seconds',
  'Duration of one cache operation on a remote cache, by cache and operation (every one below 2000/s, one in 64 above)',
);

type Operation = 'get' | 'get_many' | 'set' | 'add' | 'delete';

/** Wraps `cache` so that its operations are counted in /metrics; `ready`, `connect()` and the rest pass through. */
export function instrumentCache<T extends Cache>(cache: T): T {
  const name = cache.name;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(name)?.[1] ?? '';
  const hit = hits.labels({ cache: name });
  const miss = misses.labels({ cache: name });
  const sampler = new Sampler();
  const timers = {} as Record<Operation, ReturnType<typeof seconds.labels>>;
  const failures = {} as Record<Operation, ReturnType<typeof errors.labels>>;
  for (const operation of ['get', 'get_many', 'set', 'add', 'delete'] as const) {
    timers[operation] = seconds.labels({ cache: name, op: operation });
    failures[operation] = errors.labels({ cache: name, op: operation });
  }
  const removeProbe = addReadyProbe({ role: 'cache', name, scheme, ready: () => cache.ready ?? true });

  /** Runs an async operation, timing a sample of them; `onValue` sees the result in the same reaction (one hop). */
  function timed<T>(operation: Operation, run: () => Promise<T>, onValue?: (value: T) => void): Promise<T> {
    const began = sampler.sample() ? performance.now() : 0;
    let pending: Promise<T>;
    try {
      pending = run();
    } catch (error) {
      failures[operation].inc();
      return Promise.reject(error);
    }
    return pending.then(
      (value) => {
        if (began !== 0) timers[operation].observe((performance.now() - began) / 1000);
        if (onValue !== undefined) onValue(value);
        return value;
      },
      (error: unknown) => {
        failures[operation].inc();
        throw error;
      },
    );
  }
  const countGet = (value: Buffer | undefined): void => {
    if (value === undefined) miss.value++;
    else hit.value++;
  };

  const countMany = (values: (Buffer | undefined)[]): void => {
    for (const value of values) countGet(value);
  };
  // wasm modules waiting on an asynchronous cache read through getMany (one MGET for many instances): count each key
  const backendGetMany = cache.getMany?.bind(cache);
  const getMany =
    backendGetMany === undefined ? undefined : (keys: readonly string[]) => timed('get_many', () => backendGetMany(keys), countMany);

  const backendSync = cache.sync;
  let sync: SyncCacheOperations | undefined;
  if (backendSync !== undefined) {
    // no closure per call: the synchronous path is the memory cache's hot path
    sync = {
      get: (key) => {
        let value: Buffer | undefined;
        try {
          value = backendSync.get(key);
        } catch (error) {
          failures.get.inc();
          throw error;
        }
        if (value === undefined) miss.value++;
        else hit.value++;
        return value;
      },
      set: (key, value, ttlMs) => {
        try {
          backendSync.set(key, value, ttlMs);
        } catch (error) {
          failures.set.inc();
          throw error;
        }
      },
      add: (key, value, ttlMs) => {
        try {
          return backendSync.add(key, value, ttlMs);
        } catch (error) {
          failures.add.inc();
          throw error;
        }
      },
      delete: (key) => {
        try {
          backendSync.delete(key);
        } catch (error) {
          failures.delete.inc();
          throw error;
        }
      },
    };
  }

  const overrides: Partial<Record<keyof Cache, unknown>> = {
    sync,
    get: (key: string) => timed('get', () => cache.get(key), countGet),
    getMany,
    set: (key: string, value: Buffer, ttlMs?: number) => timed('set', () => cache.set(key, value, ttlMs)),
    add: (key: string, value: Buffer, ttlMs?: number) => timed('add', () => cache.add(key, value, ttlMs)),
    delete: (key: string) => timed('delete', () => cache.delete(key)),
    close: async () => {
      removeProbe();
      await cache.close();
    },
  };
  // a Proxy rather than a new object: the cache keeps its class (instanceof MemoryCache) and its other members, and
  // the backend's own methods still call its own unwrapped `sync`, so nothing is counted twice
  return new Proxy(cache, {
    get(target, property) {
      if (Object.prototype.hasOwnProperty.call(overrides, property)) return overrides[property as keyof Cache];
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' && property !== 'constructor' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
