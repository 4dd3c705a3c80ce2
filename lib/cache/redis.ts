// redis:// and rediss:// — the cache on a Redis server through ioredis. Values are stored raw (plain GET/SET), so
// other systems can fill the cache that cacheLookup reads. An honest asynchronous backend: no `sync`.
import Redis from 'ioredis';
import type { Cache } from './types';
import { ConnectorError } from '../errors';
import type { Logger } from '../logging/logger';
import { redisAddressOptions, type RedisAddress } from '../connectors/redisstream/connection';

export interface RedisCacheOptions extends RedisAddress {
  /** Prepended to every key (`?prefix=`). */
  prefix: string;
  /** How long an operation may wait for the server before it fails (and its message is nacked). */
  timeoutMs: number;
  /** For logs and errors, secrets left out. */
  name: string;
  logger: Logger;
}

type Operation = 'get' | 'set' | 'add' | 'delete' | 'take_tokens';

interface PendingGet {
  key: string;
  resolve: (value: Buffer | undefined) => void;
  reject: (error: Error) => void;
}

/** Most keys in one MGET. */
const MAX_BATCH_GET = 256;

/**
 * A shared schedule (GCRA) on the server's clock (TIME): the time the next turn is due, kept in a key. Takes up to
 * ARGV[3] turns that are due (with ARGV[2] - 1 allowed early: the burst), and says how long until the next when none
 * is. A schedule more than ARGV[4] ms behind (idle) starts afresh; less behind (late callers) is made up. The key
 * expires once the schedule is a second in the past.
 */
const TAKE_TOKENS = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local interval = 1000 / tonumber(ARGV[1])
local tolerance = (tonumber(ARGV[2]) - 1) * interval
local wanted = tonumber(ARGV[3])
local catchup = tonumber(ARGV[4])
local due = tonumber(redis.call('GET', KEYS[1]))
if due == nil or due < now - catchup then due = now end
local taken = 0
while taken < wanted and due - tolerance <= now do
  due = due + interval
  taken = taken + 1
end
local wait = 0
if taken == 0 then wait = math.max(1, math.ceil(due - tolerance - now)) end
redis.call('SET', KEYS[1], tostring(due), 'PX', math.ceil(due - now + tolerance) + 1000)
return { taken, wait }
`;

export class RedisCache implements Cache {
  readonly name: string;
  private readonly client: Redis;
  private readonly prefix: string;
  private readonly scheme: string;
  private readonly address: string;
  private readonly logger: Logger;
  /** Set once a connection attempt failed (or the connection dropped); cleared when the server answers again. */
  private down: { since: number; error: Error } | undefined;
  private everReady = false;
  private closed = false;
  private readyWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private pendingGets: PendingGet[] = [];

  constructor(options: RedisCacheOptions) {
    this.name = options.name;
    this.prefix = options.prefix;
    this.scheme = options.tls ? 'rediss' : 'redis';
    this.address = `${options.host}:${options.port}`;
    this.logger = options.logger;
    this.client = new Redis({
      ...redisAddressOptions(options),
      // connect on the first operation or on connect(), so that building a pipeline opens nothing
      lazyConnect: true,
      // RESP2 works with every server version; GET/SET replies are the same in RESP3
      protocol: 2,
      connectionName: 'wasm-pipes',
      // concurrent lookups from many messages go out in one write per tick
      enableAutoPipelining: true,
      // but not the gets, which this class already batches into MGETs: ioredis runs one auto-pipeline at a time per
      // connection, so MGETs queued behind it went out one round trip after another (lockstep), and Redis sat idle
      // while Node handled a reply; sent directly, several MGETs are in flight at once
      autoPipeliningIgnoredCommands: ['get', 'mget'],
      // commands wait for the first connection, but fail (instead of queueing) once it is known to be down, and
      // fail at once when a connection drops: their messages are nacked and redelivered rather than held
      enableOfflineQueue: true,
      maxRetriesPerRequest: 0,
      commandTimeout: options.timeoutMs,
      connectTimeout: Math.max(options.timeoutMs, 2000),
      retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    });
    this.client.on('ready', () => this.onReady());
    this.client.on('error', (error: Error) => this.onError(error));
    this.client.on('close', () => this.onClose());
    this.client.on('end', () => this.onEnd());
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  connect(): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.client.status === 'ready') return Promise.resolve();
    if (this.client.status === 'wait') this.client.connect().catch(() => undefined);
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /**
   * Gets asked for in the same tick (concurrent lookups of many messages) go out as one MGET: one command and one
   * reply to parse instead of one per key, which is most of the cost of a lookup on a local server.
   */
  get(key: string): Promise<Buffer | undefined> {
    try {
      this.check('get', key);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.pendingGets.push({ key, resolve, reject });
      if (this.pendingGets.length === 1) queueMicrotask(this.flushGets);
    });
  }

  private readonly flushGets = (): void => {
    const batch = this.pendingGets;
    this.pendingGets = [];
    for (let start = 0; start < batch.length; start += MAX_BATCH_GET) {
      const part = batch.slice(start, start + MAX_BATCH_GET);
      const reply =
        part.length === 1
          ? this.client.getBuffer(this.prefix + part[0].key).then((value) => [value])
          : this.client.mgetBuffer(part.map((pending) => this.prefix + pending.key));
      reply.then(
        (values) => {
          for (let i = 0; i < part.length; i++) part[i].resolve(values[i] ?? undefined);
        },
        (error: unknown) => {
          for (const pending of part) pending.reject(this.failure('get', pending.key, error));
        },
      );
    }
  };

  /** Sends `keys` at once (MGETs of at most 256 keys, all in flight together), for callers that batch themselves. */
  getMany(keys: readonly string[]): Promise<(Buffer | undefined)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    try {
      this.check('get', keys[0]);
    } catch (error) {
      return Promise.reject(error);
    }
    const parts: Promise<(Buffer | null)[]>[] = [];
    for (let start = 0; start < keys.length; start += MAX_BATCH_GET) {
      const names = keys.slice(start, start + MAX_BATCH_GET).map((key) => this.prefix + key);
      parts.push(this.client.mgetBuffer(names));
    }
    const flatten = (replies: (Buffer | null)[][]): (Buffer | undefined)[] => {
      const values: (Buffer | undefined)[] = new Array(keys.length);
      let at = 0;
      for (const reply of replies) for (const value of reply) values[at++] = value ?? undefined;
      return values;
    };
    return (parts.length === 1 ? parts[0].then((reply) => flatten([reply])) : Promise.all(parts).then(flatten)).catch((error: unknown) => {
      throw this.failure('get', keys[0], error, keys.length - 1);
    });
  }

  async set(key: string, value: Buffer, ttlMs?: number): Promise<void> {
    this.check('set', key);
    try {
      if (ttlMs !== undefined && ttlMs > 0) await this.client.set(this.prefix + key, value, 'PX', Math.ceil(ttlMs));
      else await this.client.set(this.prefix + key, value);
    } catch (error) {
      throw this.failure('set', key, error);
    }
  }

  async add(key: string, value: Buffer, ttlMs?: number): Promise<boolean> {
    this.check('add', key);
    try {
      const reply =
        ttlMs !== undefined && ttlMs > 0
          ? await this.client.set(this.prefix + key, value, 'PX', Math.ceil(ttlMs), 'NX')
          : await this.client.set(this.prefix + key, value, 'NX');
      return reply === 'OK';
    } catch (error) {
      throw this.failure('add', key, error);
    }
  }

  async takeTokens(key: string, rate: number, burst: number, n: number, catchUpMs = 100): Promise<{ taken: number; waitMs: number }> {
    this.check('take_tokens', key);
    try {
      const reply = (await this.client.eval(TAKE_TOKENS, 1, this.prefix + key, rate, burst, n, catchUpMs)) as [number, number];
      return { taken: Number(reply[0]), waitMs: Number(reply[1]) };
    } catch (error) {
      throw this.failure('take_tokens', key, error);
    }
  }

  async delete(key: string): Promise<void> {
    this.check('delete', key);
    try {
      await this.client.del(this.prefix + key);
    } catch (error) {
      throw this.failure('delete', key, error);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.client.status === 'ready') {
      await this.client.quit().catch(() => this.client.disconnect());
    } else {
      this.client.disconnect();
    }
    this.rejectWaiters(this.closedError());
  }

  /** Fails fast while the server is known to be down, so that a message waits no longer than it must. */
  private check(operation: Operation, key: string): void {
    if (this.closed) throw this.closedError();
    if (this.down !== undefined && this.client.status !== 'ready') {
      throw new ConnectorError(
        `cache ${operation} '${key}' failed: the server has not answered for ${Math.round((Date.now() - this.down.since) / 1000)} s ` +
          `(${this.down.error.message}); retrying the connection in the background`,
        { scheme: this.scheme, host: this.address, retryable: true, cause: this.down.error },
      );
    }
  }

  private failure(operation: Operation, key: string, error: unknown, otherKeys = 0): ConnectorError {
    const reason = error instanceof Error ? error.message : String(error);
    const down = this.down !== undefined ? ` (the server is unreachable: ${this.down.error.message})` : '';
    const others = otherKeys > 0 ? ` (and ${otherKeys} other key${otherKeys === 1 ? '' : 's'})` : '';
    return new ConnectorError(`cache ${operation} '${key}'${others} failed: ${reason}${down}`, {
      scheme: this.scheme,
      host: this.address,
      retryable: true,
      cause: error,
    });
  }

  private closedError(): ConnectorError {
    return new ConnectorError('the cache is closed', { scheme: this.scheme, host: this.address, retryable: false });
  }

  private onReady(): void {
    if (this.down !== undefined) {
      const seconds = ((Date.now() - this.down.since) / 1000).toFixed(1);
      this.logger.info({ downSeconds: Number(seconds) }, `cache ${this.name} answers again after ${seconds} s`);
    } else if (!this.everReady) {
      this.logger.info(`cache ${this.name} connected`);
    }
    this.everReady = true;
    this.down = undefined;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  private onError(error: Error): void {
    if (this.closed) return;
    this.markDown(error);
  }

  private onClose(): void {
    if (this.closed || !this.everReady) return;
    this.markDown(new Error('the connection closed'));
  }

  /** Logs the start of an outage once (a warning), and each further failure at debug. */
  private markDown(error: Error): void {
    if (this.down !== undefined) {
      this.down.error = error;
      this.logger.debug({ err: error }, 'cache still unreachable');
      return;
    }
    this.down = { since: Date.now(), error };
    const consequence = 'retrying every second, and cache operations fail (their messages are nacked for redelivery) until it answers';
    if (this.everReady) {
      this.logger.warn({ err: error }, `cache ${this.name}: connection lost (${error.message}); ${consequence}`);
    } else {
      this.logger.warn({ err: error }, `cache ${this.name} is unreachable (${error.message}); ${consequence}`);
    }
  }

  private onEnd(): void {
    this.rejectWaiters(this.closedError());
  }

  private rejectWaiters(error: Error): void {
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }
}
