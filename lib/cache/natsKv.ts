// nats-kv://bucket — the cache in a NATS JetStream key-value bucket (created if missing). Values are stored raw,
// so other NATS clients can fill or read the bucket. TTL is the bucket's max age: per-key TTL needs NATS 2.11,
// and this backend keeps to what 2.9 offers. An honest asynchronous backend: no `sync`.
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, JetStreamApiCodes, JetStreamApiError, StorageType } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { Cache } from './types';
import { ConnectorError } from '../errors';
import type { Logger } from '../logging/logger';
import { natsServersLabel } from '../connectors/nats/servers';
import { toBuffer } from '../message';

export interface NatsKvCacheOptions {
  bucket: string;
  /** Servers, credentials and TLS from NATS_SERVER_URL and the NATS_* variables (natsConnectionOptions). */
  nats: ConnectionOptions;
  /** The bucket's max age in ms when this creates it; 0 = entries never expire. */
  ttlMs: number;
  storage: 'file' | 'memory';
  replicas: number;
  /** Most bytes the bucket may hold; 0 = no limit. */
  maxBytes: number;
  /** How long an operation may wait for NATS before it fails (and its message is nacked). */
  timeoutMs: number;
  name: string;
  logger: Logger;
}

type Operation = 'get' | 'set' | 'add' | 'delete';

const KEY_BYTE = /[-/\w]/;

/**
 * A cache key as a KV key. KV keys allow only `[-/=.\w]` with no leading, trailing or doubled dots; anything else
 * (and `=` itself) becomes `=XX` per UTF-8 byte, so that the mapping is one-to-one and plain keys such as
 * `user.42` or `orders/7` stay readable for other NATS clients.
 */
export function encodeKvKey(key: string): string {
  if (key === '') return '=';
  let encoded = '';
  for (let i = 0; i < key.length; i++) {
    const char = key[i];
    if (KEY_BYTE.test(char)) {
      encoded += char;
    } else if (char === '.' && i > 0 && i < key.length - 1 && key[i + 1] !== '.' && key[i - 1] !== '.') {
      encoded += char;
    } else {
      const codePoint = key.codePointAt(i) as number;
      const text = String.fromCodePoint(codePoint);
      if (text.length === 2) i++;
      for (const byte of Buffer.from(text, 'utf8')) encoded += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return encoded;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function isWrongLastSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

export class NatsKvCache implements Cache {
  readonly name: string;
  private readonly options: NatsKvCacheOptions;
  private readonly logger: Logger;
  private connection: NatsConnection | undefined;
  private kv: KV | undefined;
  private connected = false;
  private opening: Promise<KV> | undefined;
  private closed = false;
  private lastError: Error | undefined;
  private downSince: number | undefined;
  /** The bucket's max age as found on the server (ms, 0 = none). */
  private bucketTtlMs = 0;
  private warnedAboutTtl = false;
  private maxPayload = Number.POSITIVE_INFINITY;
  /** Resolves once the first attempt to connect and open the bucket finished, whether it worked or not. */
  private readonly firstAttempt: Promise<void>;
  private firstAttemptDone!: () => void;

  constructor(options: NatsKvCacheOptions) {
    this.options = options;
    this.name = options.name;
    this.logger = options.logger;
    this.firstAttempt = new Promise((resolve) => {
      this.firstAttemptDone = resolve;
    });
  }

  get ready(): boolean {
    return this.kv !== undefined && this.connected;
  }

  connect(): Promise<void> {
    return this.open().then(() => undefined);
  }

  async get(key: string): Promise<Buffer | undefined> {
    const kv = await this.bucket('get', key);
    const entry = await this.request('get', key, () => kv.get(encodeKvKey(key)));
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return toBuffer(entry.value);
  }

  async set(key: string, value: Buffer, ttlMs?: number): Promise<void> {
    const kv = await this.bucket('set', key);
    this.checkValue('set', key, value, ttlMs);
    await this.request('set', key, () => kv.put(encodeKvKey(key), value));
  }

  async add(key: string, value: Buffer, ttlMs?: number): Promise<boolean> {
    const kv = await this.bucket('add', key);
    this.checkValue('add', key, value, ttlMs);
    try {
      // KV create: a publish that expects no current value for the key (or a delete marker, replaced by revision),
      // so that of several processes racing for the same key exactly one wins
      await kv.create(encodeKvKey(key), value);
      return true;
    } catch (error) {
      if (isWrongLastSequence(error)) return false;
      throw this.failure('add', key, error);
    }
  }

  async delete(key: string): Promise<void> {
    const kv = await this.bucket('delete', key);
    await this.request('delete', key, () => kv.delete(encodeKvKey(key)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.kv = undefined;
    const connection = this.connection;
    this.connection = undefined;
    if (connection !== undefined) await connection.close().catch(() => undefined);
  }

  /** The bucket, once connected; fails fast while NATS is known to be down, else waits for the first attempt. */
  private async bucket(operation: Operation, key: string): Promise<KV> {
    if (this.closed) throw this.closedError();
    if (this.kv !== undefined && this.connected) return this.kv;
    if (this.kv !== undefined || this.lastError !== undefined) throw this.unavailable(operation, key);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.options.timeoutMs);
    });
    void this.open();
    try {
      await Promise.race([this.firstAttempt, timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (this.closed) throw this.closedError();
    if (this.kv !== undefined && this.connected) return this.kv;
    throw this.unavailable(operation, key);
  }

  /** Connects and opens (or creates) the bucket, retrying until it works or the cache is closed. */
  private open(): Promise<KV> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.opening === undefined) {
      this.opening = this.openLoop();
      this.opening.catch(() => undefined);
    }
    return this.opening;
  }

  private async openLoop(): Promise<KV> {
    const { nats, bucket } = this.options;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw this.closedError();
      let connection: NatsConnection | undefined;
      try {
        connection = await connect({
          ...nats,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1000,
          timeout: Math.max(this.options.timeoutMs, 2000),
        });
        if (this.closed) {
          await connection.close();
          throw this.closedError();
        }
        const js = jetstream(connection, { timeout: this.options.timeoutMs });
        const kv = await new Kvm(js).create(bucket, {
          // reads through the stream leader, not "direct get" (which any replica may answer, possibly stale): a
          // cache read right after a write must see it, or dedupe across processes lets duplicates through
          allow_direct: false,
          ttl: this.options.ttlMs,
          storage: this.options.storage === 'memory' ? StorageType.Memory : StorageType.File,
          replicas: this.options.replicas,
          ...(this.options.maxBytes > 0 ? { max_bytes: this.options.maxBytes } : {}),
        });
        const status = await kv.status();
        this.bucketTtlMs = status.ttl;
        if (this.options.ttlMs > 0 && status.ttl !== this.options.ttlMs) {
          this.logger.warn(
            { bucketTtlMs: status.ttl, requestedTtlMs: this.options.ttlMs },
            `cache ${this.name}: the bucket already exists with a max age of ${status.ttl ? `${status.ttl} ms` : 'none'}, ` +
              `not the ${this.options.ttlMs} ms asked for; keeping the bucket as it is (change it with: nats kv edit ${bucket})`,
          );
        }
        this.maxPayload = connection.info?.max_payload ?? Number.POSITIVE_INFINITY;
        this.connection = connection;
        this.kv = kv;
        this.connected = true;
        this.watchStatus(connection);
        if (this.downSince !== undefined) {
          const seconds = ((Date.now() - this.downSince) / 1000).toFixed(1);
          this.logger.info(`cache ${this.name} answers again after ${seconds} s`);
        } else {
          this.logger.info({ servers: natsServersLabel(nats) }, `cache ${this.name} connected (${natsServersLabel(nats)})`);
        }
        this.lastError = undefined;
        this.downSince = undefined;
        this.firstAttemptDone();
        return kv;
      } catch (error) {
        if (connection !== undefined) await connection.close().catch(() => undefined);
        if (this.closed) throw this.closedError();
        const reason = this.explain(error);
        if (this.lastError === undefined) {
          this.downSince = Date.now();
          this.logger.warn(
            { servers: natsServersLabel(nats), err: error },
            `cache ${this.name} is not available (${reason.message}); retrying every 2 s, and cache operations fail ` +
              '(their messages are nacked for redelivery) until it answers',
          );
        } else {
          this.logger.debug({ err: error, attempt }, 'cache still not available');
        }
        this.lastError = reason;
        this.firstAttemptDone();
        await delay(Math.min(attempt * 500, 2000));
      }
    }
  }

  /** Follows the connection: nats.js reconnects by itself, and `ready` follows it. */
  private watchStatus(connection: NatsConnection): void {
    void (async () => {
      for await (const status of connection.status()) {
        if (status.type === 'disconnect') {
          this.connected = false;
          this.downSince = Date.now();
          this.lastError = new Error(`disconnected from ${status.server}`);
          this.logger.warn(`cache ${this.name}: disconnected from NATS; reconnecting, and cache operations fail until it answers`);
        } else if (status.type === 'reconnect') {
          this.connected = true;
          const seconds = this.downSince === undefined ? '?' : ((Date.now() - this.downSince) / 1000).toFixed(1);
          this.logger.info(`cache ${this.name} answers again after ${seconds} s (reconnected to ${status.server})`);
          this.lastError = undefined;
          this.downSince = undefined;
        }
      }
    })().catch(() => undefined);
  }

  private explain(error: unknown): Error {
    const message = error instanceof Error ? error.message : String(error);
    if (/jetstream not enabled|no responders/i.test(message)) {
      return new Error(`${message}: is JetStream enabled on the server? Start nats-server with -js`, { cause: error });
    }
    return error instanceof Error ? error : new Error(message);
  }

  private checkValue(operation: Operation, key: string, value: Buffer, ttlMs: number | undefined): void {
    if (value.length > this.maxPayload) {
      throw new ConnectorError(
        `cache ${operation} '${key}' failed: the value has ${value.length} bytes, more than the server's max_payload ` +
          `(${this.maxPayload}); raise max_payload in the NATS server configuration`,
        { scheme: 'nats-kv', host: natsServersLabel(this.options.nats), retryable: false },
      );
    }
    if (ttlMs !== undefined && ttlMs > 0 && ttlMs !== this.bucketTtlMs && !this.warnedAboutTtl) {
      this.warnedAboutTtl = true;
      this.logger.warn(
        { ttlMs, bucketTtlMs: this.bucketTtlMs },
        `cache ${this.name}: a TTL of ${ttlMs} ms was asked for, but NATS KV expires entries by the bucket's max age ` +
          `(${this.bucketTtlMs ? `${this.bucketTtlMs} ms` : 'none'}); create the bucket with nats-kv://${this.options.bucket}?ttl=<duration> to match (warned once)`,
      );
    }
  }

  private unavailable(operation: Operation, key: string): ConnectorError {
    const since = this.downSince === undefined ? '' : ` for ${Math.round((Date.now() - this.downSince) / 1000)} s`;
    const reason = this.lastError === undefined ? 'no answer yet' : this.lastError.message;
    return new ConnectorError(
      `cache ${operation} '${key}' failed: the bucket '${this.options.bucket}' has not been reachable${since} (${reason}); ` +
        'retrying in the background',
      { scheme: 'nats-kv', host: natsServersLabel(this.options.nats), retryable: true, cause: this.lastError },
    );
  }

  /** Sends `call`, a request of `operation` on `key` to the bucket; what fails in it is a retryable failure of the cache. */
  private async request<T>(operation: Operation, key: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw this.failure(operation, key, error);
    }
  }

  private failure(operation: Operation, key: string, error: unknown): ConnectorError {
    const reason = error instanceof Error ? error.message : String(error);
    return new ConnectorError(`cache ${operation} '${key}' failed: ${reason}`, {
      scheme: 'nats-kv',
      host: natsServersLabel(this.options.nats),
      retryable: true,
      cause: error,
    });
  }

  private closedError(): ConnectorError {
    return new ConnectorError('the cache is closed', { scheme: 'nats-kv', host: natsServersLabel(this.options.nats), retryable: false });
  }
}
