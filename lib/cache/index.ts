// cache(uri): the cache service chosen by a URI (CACHE_URI in the bin). memory:// is built in; redis:// and
// nats-kv:// load their client library only when used. Parsing is separate from opening, so that the bin can
// reject a bad CACHE_URI before it opens anything.
import { ConfigError } from '../errors';
import { parseDuration, parseInteger, parseSize } from '../config';
import { rootLogger, type Logger } from '../logging/logger';
import { redactUri, requireClientPackages } from '../registry';
import { natsConnectionOptions } from '../connectors/nats/servers';
import { MemoryCache } from './memory';
import type { Cache } from './types';
import type { RedisCacheOptions } from './redis';
import type { NatsKvCacheOptions } from './natsKv';
import { instrumentCache } from './instrumented';

export type { Cache, SyncCacheOperations } from './types';
export { MemoryCache } from './memory';
export type { MemoryCacheOptions } from './memory';

export const DEFAULT_CACHE_URI = 'memory://';
/** How long a Redis or NATS KV operation waits for the server by default. */
export const DEFAULT_CACHE_TIMEOUT_MS = 5000;

export interface CacheOptions {
  /** The variable the URI came from, named in error messages. Default CACHE_URI. */
  variable?: string;
  /** Where NATS_SERVER_URL is read for nats-kv://. Default process.env. */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

/** A parsed cache URI: what to open, validated. */
export type CacheConfig =
  | { kind: 'memory'; name: string; max: number; ttlMs: number }
  | ({ kind: 'redis' } & Omit<RedisCacheOptions, 'logger'>)
  | ({ kind: 'nats-kv' } & Omit<NatsKvCacheOptions, 'logger'>);

const EXAMPLES = 'memory://?max=100000&ttl=10m, redis://127.0.0.1:6379/0?prefix=app:, nats-kv://enrichment?ttl=1h';
const KNOWN_PARAMS: Record<CacheConfig['kind'], readonly string[]> = {
  memory: ['max', 'ttl'],
  redis: ['prefix', 'timeout'],
  'nats-kv': ['ttl', 'storage', 'replicas', 'max_bytes', 'timeout'],
};

function params(url: URL, kind: CacheConfig['kind'], variable: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const [name, value] of url.searchParams) {
    if (!KNOWN_PARAMS[kind].includes(name)) {
      throw new ConfigError(
        `unknown parameter '${name}' for ${kind}://; known: ${KNOWN_PARAMS[kind].join(', ')} (for example ${EXAMPLES})`,
        { variable },
      );
    }
    if (!found.has(name)) found.set(name, value);
  }
  return found;
}

/** Validates a cache URI (throwing ConfigError) without opening anything. */
export function parseCacheUri(uri: string, options: CacheOptions = {}): CacheConfig {
  const variable = options.variable ?? 'CACHE_URI';
  const trimmed = uri.trim();
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(trimmed);
  if (match === null) {
    throw new ConfigError(`'${uri}' is not a cache URI; use one of ${EXAMPLES}`, { variable });
  }
  const scheme = match[1].toLowerCase();
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch (error) {
    throw new ConfigError(`'${redactUri(uri)}' is not a valid URI (${(error as Error).message}); for example ${EXAMPLES}`, {
      variable,
      cause: error,
    });
  }
  const name = redactUri(trimmed);
  switch (scheme) {
    case 'memory': {
      if (url.host !== '' || (url.pathname !== '' && url.pathname !== '/')) {
        throw new ConfigError(
          `memory:// takes no host or path, only ?max=<entries>&ttl=<duration>, for example memory://?max=100000&ttl=10m`,
          {
            variable,
          },
        );
      }
      const found = params(url, 'memory', variable);
      const max = found.has('max') ? parseInteger(found.get('max') as string, `${variable} max`, 1) : 100_000;
      const ttlMs = found.has('ttl') ? parseDuration(found.get('ttl') as string, `${variable} ttl`) : 0;
      return { kind: 'memory', name, max, ttlMs };
    }
    case 'redis':
    case 'rediss': {
      const found = params(url, 'redis', variable);
      if (url.hostname === '') {
        throw new ConfigError(`${scheme}:// needs a host, for example ${scheme}://127.0.0.1:6379/0`, { variable });
      }
      const path = url.pathname.replace(/^\/+|\/+$/g, '');
      const db = path === '' ? 0 : parseInteger(path, `${variable} database (the path, as in redis://host:6379/0)`, 0, 65535);
      return {
        kind: 'redis',
        name,
        host: url.hostname,
        port: url.port === '' ? 6379 : Number(url.port),
        db,
        ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}),
        ...(url.password !== '' ? { password: decodeURIComponent(url.password) } : {}),
        tls: scheme === 'rediss',
        prefix: found.get('prefix') ?? '',
        timeoutMs: timeout(found, variable),
      };
    }
    case 'nats-kv': {
      const found = params(url, 'nats-kv', variable);
      const bucket = decodeURIComponent(url.hostname);
      if (!/^[-\w]+$/.test(bucket) || (url.pathname !== '' && url.pathname !== '/')) {
        throw new ConfigError(
          `nats-kv:// needs a bucket name of letters, digits, - and _ (no path), for example nats-kv://enrichment?ttl=1h; ` +
            'the servers come from NATS_SERVER_URL',
          { variable },
        );
      }
      const storage = found.get('storage') ?? 'file';
      if (storage !== 'file' && storage !== 'memory') {
        throw new ConfigError(`storage must be file or memory, not '${storage}'; for example nats-kv://${bucket}?storage=memory`, {
          variable,
        });
      }
      const env = options.env ?? process.env;
      return {
        kind: 'nats-kv',
        name,
        bucket,
        nats: natsConnectionOptions(env, `wasm-pipes cache ${name}`),
        ttlMs: found.has('ttl') ? parseDuration(found.get('ttl') as string, `${variable} ttl`) : 0,
        storage,
        replicas: found.has('replicas') ? parseInteger(found.get('replicas') as string, `${variable} replicas`, 1, 5) : 1,
        maxBytes: found.has('max_bytes') ? parseSize(found.get('max_bytes') as string, `${variable} max_bytes`) : 0,
        timeoutMs: timeout(found, variable),
      };
    }
    default:
      throw new ConfigError(`unknown cache scheme '${scheme}://'; use one of ${EXAMPLES}`, { variable });
  }
}

function timeout(found: Map<string, string>, variable: string): number {
  const value = found.has('timeout') ? parseDuration(found.get('timeout') as string, `${variable} timeout`) : DEFAULT_CACHE_TIMEOUT_MS;
  if (value <= 0) throw new ConfigError('timeout must be more than 0, for example timeout=2s', { variable });
  return value;
}

/**
 * Opens a parsed cache. Redis and NATS KV connect at the first operation or at `connect()`, not here. The cache is
 * counted in /metrics (hits, misses, errors, latency, readiness).
 */
export function openCache(config: CacheConfig, options: CacheOptions = {}): Cache {
  return instrumentCache(openBackend(config, options));
}

function openBackend(config: CacheConfig, options: CacheOptions): Cache {
  const logger = (options.logger ?? rootLogger()).child({ cache: config.name });
  switch (config.kind) {
    case 'memory':
      return new MemoryCache({ max: config.max, ttlMs: config.ttlMs, name: config.name });
    case 'redis': {
      // loaded on first use, so that memory:// users never load ioredis (an optional peer dependency)
      requireClientPackages(['ioredis'], 'a redis:// cache', options.variable ?? 'CACHE_URI');

      const { RedisCache } = require('./redis') as typeof import('./redis');
      const { kind: _kind, ...rest } = config;
      return new RedisCache({ ...rest, logger });
    }
    case 'nats-kv': {
      requireClientPackages(
        ['@nats-io/transport-node', '@nats-io/jetstream', '@nats-io/kv'],
        'a nats-kv:// cache',
        options.variable ?? 'CACHE_URI',
      );

      const { NatsKvCache } = require('./natsKv') as typeof import('./natsKv');
      const { kind: _kind, ...rest } = config;
      return new NatsKvCache({ ...rest, logger });
    }
  }
}

/**
 * The cache at `uri`: `memory://?max=&ttl=`, `redis://[user:pass@]host:port/db?prefix=` (or `rediss://`), or
 * `nats-kv://bucket?ttl=` on NATS_SERVER_URL. Throws ConfigError for a bad URI. Close it with `close()`.
 *
 * @example
 * const users = cache('redis://127.0.0.1:6379/0?prefix=users:');
 * await users.set('42', Buffer.from('{"name":"Ada"}'), 60_000);
 */
export function cache(uri: string, options: CacheOptions = {}): Cache {
  return openCache(parseCacheUri(uri, options), options);
}
