import type { OperatorFunction } from 'rxjs';
import { type Message, toBuffer } from '../lib/message';
import type { Cache } from '../lib/cache/types';
import { parseDuration } from '../lib/config';
import { concurrentMessages, DEFAULT_OPERATOR_CONCURRENCY } from '../lib/concurrentMessages';

export interface CacheSetOptions {
  /** The cache key of a message; undefined or null passes the message on without storing anything. */
  key: (message: Message) => string | undefined | null;
  /** What to store; default the body. Undefined or null stores nothing for that message. */
  value?: (message: Message) => Buffer | Uint8Array | string | undefined | null;
  /** Time to live (`10m`, or ms); default the cache's own (memory `?ttl=`, the NATS KV bucket's max age). */
  ttl?: number | string;
  /** Writes in progress at once (asynchronous caches). Default 128. */
  concurrency?: number;
  /** The stage name in ackTimeout warnings. Default `cacheSet`. */
  name?: string;
}

/**
 * Stores something from each message in the cache, then passes the message on unchanged. The message leaves only
 * once the cache confirmed the write; a failed write (the cache is down) nacks that message only, so the source
 * redelivers it. Writes for different messages run concurrently, and messages leave in the order they came.
 *
 * @example
 * import { source, sink, run, cache } from 'wasm-pipes';
 * import { cacheSet } from 'wasm-pipes/operators';
 *
 * const profiles = cache('memory://?max=100000');
 * await run(
 *   source('http://:9000/profiles').pipe(
 *     cacheSet(profiles, { key: (m) => m.json<{ id: string }>().id, ttl: '1h' }),
 *   ),
 *   sink('stdout://'),
 * );
 *
 * @see cacheLookup
 * @see dedupe
 */
export function cacheSet(cache: Cache, options: CacheSetOptions): OperatorFunction<Message, Message> {
  const { key, value = (message: Message) => message.body, concurrency = DEFAULT_OPERATOR_CONCURRENCY, name = 'cacheSet' } = options;
  const ttlMs = options.ttl === undefined ? undefined : parseDuration(options.ttl, 'cacheSet ttl');
  const sync = cache.sync;
  return concurrentMessages(
    name,
    (message) => {
      const cacheKey = key(message);
      if (cacheKey === undefined || cacheKey === null) return message;
      const stored = value(message);
      if (stored === undefined || stored === null) return message;
      if (sync !== undefined) {
        sync.set(cacheKey, toBuffer(stored), ttlMs);
        return message;
      }
      return cache.set(cacheKey, toBuffer(stored), ttlMs).then(() => message);
    },
    concurrency,
  );
}
