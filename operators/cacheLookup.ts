import type { OperatorFunction } from 'rxjs';
import { Message, type MessageChanges } from '../lib/message';
import type { Cache } from '../lib/cache/types';
import { concurrentMessages, DEFAULT_OPERATOR_CONCURRENCY, type MessageHandlerResult } from '../lib/concurrentMessages';

/**
 * Where a cached value goes:
 * - `{ metadata: 'user' }`: the metadata field `user`, as UTF-8 text;
 * - `{ json: 'user' }`: the field `user` of the JSON object body (a value that is JSON is merged as JSON, any other
 *   value as a string); a body that is not a JSON object nacks the message;
 * - a function that returns the changes (`{ body }`, `{ metadata }`, ...) or a message made with `m.with(...)`.
 */
export type CacheLookupInto = { metadata: string } | { json: string } | ((message: Message, value: Buffer) => MessageChanges | Message);

export interface CacheLookupOptions {
  /** The cache key of a message; undefined or null passes the message on without a lookup. */
  key: (message: Message) => string | undefined | null;
  into: CacheLookupInto;
  /** On a miss: `pass` the message on unchanged (the default), or `drop` it (acked). */
  onMiss?: 'pass' | 'drop';
  /** Lookups in progress at once (asynchronous caches). Default 128. */
  concurrency?: number;
  /** The stage name in ackTimeout warnings. Default `cacheLookup`. */
  name?: string;
}

function mergeJson(message: Message, field: string, value: Buffer): MessageChanges {
  let body: unknown;
  try {
    body = message.json();
  } catch (error) {
    throw new Error(`cacheLookup: the body is not JSON, so into: { json: '${field}' } cannot merge into it`, { cause: error });
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new Error(`cacheLookup: the body is not a JSON object, so into: { json: '${field}' } cannot merge into it`);
  }
  const text = value.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { body: JSON.stringify({ ...(body as Record<string, unknown>), [field]: parsed }) };
}

function enricher(into: CacheLookupInto): (message: Message, value: Buffer) => Message {
  if (typeof into === 'function') {
    return (message, value) => {
      const result = into(message, value);
      return result instanceof Message ? result : message.with(result);
    };
  }
  if ('metadata' in into) {
    const field = into.metadata;
    return (message, value) => message.with({ metadata: { ...message.metadata, [field]: value.toString('utf8') } });
  }
  if ('json' in into) {
    const field = into.json;
    return (message, value) => message.with(mergeJson(message, field, value));
  }
  throw new TypeError("cacheLookup: `into` must be { metadata: 'field' }, { json: 'field' } or a function");
}

/**
 * Enriches each message with the cached value for `key(message)`, put where `into` says. A miss passes the message
 * on unchanged, or drops it (acked) with `onMiss: 'drop'`. A failed lookup (the cache is down) nacks that message
 * only, so the source redelivers it. Lookups for different messages run concurrently, and messages leave in the
 * order they came; with an in-memory cache the lookup is synchronous.
 *
 * @example
 * import { source, sink, run, cache } from 'wasm-pipes';
 * import { cacheLookup } from 'wasm-pipes/operators';
 *
 * const users = cache('redis://127.0.0.1:6379/0?prefix=user:');
 * await run(
 *   source('http://:9000/events').pipe(
 *     cacheLookup(users, { key: (m) => m.json<{ user_id: string }>().user_id, into: { json: 'user' } }),
 *   ),
 *   sink('stdout://'),
 * );
 *
 * @see cacheSet
 * @see dedupe
 */
export function cacheLookup(cache: Cache, options: CacheLookupOptions): OperatorFunction<Message, Message> {
  const { key, onMiss = 'pass', concurrency = DEFAULT_OPERATOR_CONCURRENCY, name = 'cacheLookup' } = options;
  const enrich = enricher(options.into);
  const apply = (message: Message, value: Buffer | undefined): MessageHandlerResult => {
    if (value !== undefined) return enrich(message, value);
    if (onMiss === 'drop') {
      message.ack();
      return null;
    }
    return message;
  };
  const sync = cache.sync;
  if (sync !== undefined) {
    return concurrentMessages(
      name,
      (message) => {
        const cacheKey = key(message);
        return cacheKey === undefined || cacheKey === null ? message : apply(message, sync.get(cacheKey));
      },
      concurrency,
    );
  }
  return concurrentMessages(
    name,
    (message) => {
      const cacheKey = key(message);
      if (cacheKey === undefined || cacheKey === null) return message;
      return cache.get(cacheKey).then((value) => apply(message, value));
    },
    concurrency,
  );
}
