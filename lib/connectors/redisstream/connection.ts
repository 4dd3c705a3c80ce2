// REDIS_SERVER_URL -> ioredis options, and the first connection of a redis-stream:// endpoint: retried until
// REDIS_CONNECT_TIMEOUT, with refused credentials (a Redis error reply, classified by its code) stopping at once.
import type { Redis, RedisOptions } from 'ioredis';
import { ConfigError } from '../../errors';
import { parseDuration, parseInteger } from '../../config';
import { redactUri } from '../../registry';
import type { Logger } from '../../logging/logger';
import { firstConnection } from '../connectRetry';

export const DEFAULT_REDIS_SERVER = 'redis://127.0.0.1:6379/0';
export const DEFAULT_CONNECT_TIMEOUT = '30s';
export const SCHEME = 'redis-stream';

const EXAMPLE = 'for example redis://127.0.0.1:6379/0, redis://user:password@redis.example.com:6379/2 or rediss://redis.example.com:6380/0';

/** A Redis server and how to sign in to it: what REDIS_SERVER_URL names, and a redis:// CACHE_URI (lib/cache/redis.ts). */
export interface RedisAddress {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  /** rediss://: TLS, verified against the system CAs (add a private CA with NODE_EXTRA_CA_CERTS). */
  tls: boolean;
}

/** The ioredis options that reach `address`: an IPv6 host without its brackets, TLS checked against the host. */
export function redisAddressOptions(address: RedisAddress): Pick<RedisOptions, 'host' | 'port' | 'db' | 'username' | 'password' | 'tls'> {
  const host = address.host.replace(/^\[(.*)\]$/, '$1');
  return {
    host,
    port: address.port,
    db: address.db,
    username: address.username,
    password: address.password,
    ...(address.tls ? { tls: { servername: host } } : {}),
  };
}

/** Where and how to connect, from REDIS_SERVER_URL, REDIS_USERNAME and REDIS_PASSWORD. */
export interface RedisServer extends RedisAddress {
  /** `host:port`, for errors and logs (never credentials). */
  address: string;
  connectTimeoutMs: number;
}

/** Parses REDIS_SERVER_URL (default redis://127.0.0.1:6379/0) and the credential variables of `env`. */
export function redisServer(env: NodeJS.ProcessEnv): RedisServer {
  const variable = 'REDIS_SERVER_URL';
  const text = env[variable]?.trim() || DEFAULT_REDIS_SERVER;
  let url: URL;
  try {
    url = new URL(text);
  } catch (error) {
    throw new ConfigError(`'${redactUri(text)}' is not a URL; ${EXAMPLE}`, { variable, cause: error });
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme !== 'redis' && scheme !== 'rediss') {
    throw new ConfigError(`'${redactUri(text)}' has the scheme '${scheme}://'; a Redis server is redis:// or rediss:// (${EXAMPLE})`, {
      variable,
    });
  }
  if (url.hostname === '') throw new ConfigError(`'${redactUri(text)}' names no host; ${EXAMPLE}`, { variable });
  const path = url.pathname.replace(/^\/+|\/+$/g, '');
  const db = path === '' ? 0 : parseInteger(path, `${variable} database (the path, as in redis://host:6379/0)`, 0, 65_535);
  const port = url.port === '' ? 6379 : parseInteger(url.port, `${variable} port`, 1, 65_535);
  const username = env.REDIS_USERNAME?.trim() || decodeURIComponent(url.username) || undefined;
  const password = env.REDIS_PASSWORD || decodeURIComponent(url.password) || undefined;
  const connectTimeoutMs = parseDuration(env.REDIS_CONNECT_TIMEOUT?.trim() || DEFAULT_CONNECT_TIMEOUT, 'REDIS_CONNECT_TIMEOUT');
  return {
    host: url.hostname,
    port,
    db,
    username,
    password,
    tls: scheme === 'rediss',
    address: `${url.hostname}:${port}`,
    connectTimeoutMs,
  };
}

/** A new ioredis client for `server`, not connected yet. */
export function newRedisClient(server: RedisServer, name: string, options: Partial<RedisOptions> = {}): Redis {
  const RedisClient = (require('ioredis') as typeof import('ioredis')).default;
  return new RedisClient({
    ...redisAddressOptions(server),
    lazyConnect: true,
    // RESP2: the stream replies are the same arrays on every server version
    protocol: 2,
    connectionName: name,
    // a command issued while the connection is down waits for the next one, once: the caller (the pull loop, the sink
    // runtime) decides what to retry; a reconnection that keeps failing fails it
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 10_000,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
    // a socket that never connected may never report 'close': do not hold the process for ioredis's default 2 s
    disconnectTimeout: 200,
    ...options,
  });
}

/** The code of a Redis error reply (`WRONGPASS`, `NOGROUP`, `BUSYGROUP`...): the protocol's first word, upper case. */
export function redisErrorCode(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object' || (error as Error).name !== 'ReplyError') return undefined;
  return /^([A-Z]+)\b/.exec((error as Error).message)?.[1];
}

/** Error replies that say the credentials are refused: retrying cannot fix them. */
const REFUSED = new Set(['WRONGPASS', 'NOAUTH', 'NOPERM']);

/**
 * Connects `client` (lazyConnect) and resolves once it is ready. A server out of reach is tried again (ioredis's
 * retryStrategy) until `server.connectTimeoutMs`, then a ConnectorError; refused credentials are a ConfigError at
 * once (exit 2 in the bin).
 */
export function connectRedis(client: Redis, server: RedisServer, logger: Logger, role: string): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  const connected = firstConnection(client, {
    scheme: SCHEME,
    host: server.address,
    role,
    logger,
    connectedEvent: 'ready',
    connected: () => undefined,
    timeoutMs: server.connectTimeoutMs,
    timeoutVariable: 'REDIS_CONNECT_TIMEOUT',
    refused: (error) => {
      const code = redisErrorCode(error);
      if (code === undefined || !REFUSED.has(code)) return undefined;
      return new ConfigError(
        `${SCHEME} (${server.address}): the server refused the credentials (${error.message}); check REDIS_SERVER_URL's user and password, or REDIS_USERNAME and REDIS_PASSWORD`,
        { variable: 'REDIS_SERVER_URL', cause: error },
      );
    },
    abandon: () => client.disconnect(),
  });
  if (client.status === 'wait') client.connect().catch(() => undefined);
  return connected;
}

/** A stream or group name from the URI: the host (a stream) or a parameter, percent-decoded. */
export function streamName(uri: { url: URL; raw: string; variable: string }): string {
  let name: string;
  try {
    name = decodeURIComponent(uri.url.host + uri.url.pathname).replace(/\/+$/, '');
  } catch (error) {
    throw new ConfigError(`'${uri.raw}' has a badly encoded stream name`, { variable: uri.variable, cause: error });
  }
  return name;
}
