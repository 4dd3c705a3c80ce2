// The cache service seen by operators and by wasm host imports. Values are bytes, keys are strings.
// TTLs are in milliseconds; undefined means the backend's default (see each backend). Every backend answers through
// promises; a backend that can answer at once (memory) also offers `sync`, which
// wasm host imports use to stay synchronous (no asyncify) and operators use to skip a microtask per message.

export interface SyncCacheOperations {
  get(key: string): Buffer | undefined;
  set(key: string, value: Buffer, ttlMs?: number): void;
  /** Sets only when absent; true when it was set (the primitive for dedupe). */
  add(key: string, value: Buffer, ttlMs?: number): boolean;
  delete(key: string): void;
}

export interface Cache {
  /** For logs and metrics, secrets redacted (`memory://`, `redis://127.0.0.1:6379/0`). */
  readonly name: string;
  get(key: string): Promise<Buffer | undefined>;
  /**
   * Several keys in one request where the backend can (Redis: MGET): the values in the order of `keys`, undefined
   * where missing. Optional: callers fall back to `get` per key. Wasm modules waiting on the cache read through it.
   */
  getMany?(keys: readonly string[]): Promise<(Buffer | undefined)[]>;
  set(key: string, value: Buffer, ttlMs?: number): Promise<void>;
  add(key: string, value: Buffer, ttlMs?: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
  /**
   * Takes up to `n` turns from the shared schedule `key` (`rate` a second, `burst` at once, GCRA), on the backend's
   * clock, so that every process sharing the backend shares the rate; up to `catchUpMs` of lateness is made up.
   * Resolves how many were taken, and when none were, how long to wait for the next. Optional: only backends that
   * several processes share have it (Redis).
   */
  takeTokens?(key: string, rate: number, burst: number, n: number, catchUpMs?: number): Promise<{ taken: number; waitMs: number }>;
  /** Present only on backends that answer synchronously. */
  readonly sync?: SyncCacheOperations;
  /** Whether the backend is reachable (for /ready). */
  readonly ready?: boolean;
  /**
   * Starts connecting now instead of at the first operation, and resolves once the backend answered. A backend
   * that is down keeps being retried in the background (reported in the log); this rejects only if the cache is
   * closed first. Absent on backends that need no connection.
   */
  connect?(): Promise<void>;
}
