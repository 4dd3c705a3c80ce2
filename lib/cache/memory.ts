// memory:// — the embedded cache: an LRU with per-entry TTL on lru-cache, answering synchronously.
import { LRUCache } from 'lru-cache';
import type { Cache, SyncCacheOperations } from './types';

export interface MemoryCacheOptions {
  /** Most entries kept; the least recently used go first. Default 100 000. */
  max?: number;
  /** Default time to live (ms) for entries set without one; 0 = no expiry. */
  ttlMs?: number;
  /** For logs and metrics. Default `memory://`. */
  name?: string;
}

export class MemoryCache implements Cache {
  readonly name: string;
  readonly ready = true;
  readonly sync: SyncCacheOperations;
  private readonly lru: LRUCache<string, Buffer>;

  constructor(options: MemoryCacheOptions = {}) {
    this.name = options.name ?? 'memory://';
    const lru = new LRUCache<string, Buffer>({ max: options.max ?? 100_000, ttl: options.ttlMs ?? 0, ttlAutopurge: false });
    this.lru = lru;
    this.sync = {
      get: (key) => lru.get(key),
      set: (key, value, ttlMs) => {
        lru.set(key, value, ttlMs === undefined ? undefined : { ttl: ttlMs });
      },
      add: (key, value, ttlMs) => {
        if (lru.has(key)) return false;
        lru.set(key, value, ttlMs === undefined ? undefined : { ttl: ttlMs });
        return true;
      },
      delete: (key) => {
        lru.delete(key);
      },
    };
  }

  get(key: string): Promise<Buffer | undefined> {
    return Promise.resolve(this.sync.get(key));
  }

  set(key: string, value: Buffer, ttlMs?: number): Promise<void> {
    this.sync.set(key, value, ttlMs);
    return Promise.resolve();
  }

  add(key: string, value: Buffer, ttlMs?: number): Promise<boolean> {
    return Promise.resolve(this.sync.add(key, value, ttlMs));
  }

  delete(key: string): Promise<void> {
    this.sync.delete(key);
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}
