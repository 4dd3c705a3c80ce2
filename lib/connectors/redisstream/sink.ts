// redis-stream:// as a sink: one XADD per message (optionally MAXLEN ~ N), a batch sent as one pipeline, each
// message acked on its own reply (the entry id). With ?create=false the stream must exist (NOMKSTREAM).
import type { Redis } from 'ioredis';
import type { SinkDriver, WriteResult } from '../../sink';
import type { Message } from '../../message';
import { ConfigError, ConnectorError, PermanentError, MissingResourceError } from '../../errors';
import type { Logger } from '../../logging/logger';
import { connectRedis, newRedisClient, redisErrorCode, type RedisServer, SCHEME } from './connection';
import { messageFields } from './fields';

export interface RedisStreamSinkConfig {
  server: RedisServer;
  stream: string;
  /** Trim the stream to about this many entries on each XADD (MAXLEN ~). */
  maxLength?: number;
  /** XADD creates a missing stream (Redis's default); false: the stream must exist. */
  create: boolean;
}

export class RedisStreamSink implements SinkDriver {
  readonly scheme = SCHEME;
  private readonly client: Redis;
  /** The XADD arguments before the field list, the same for every message. */
  private readonly head: string[];

  constructor(
    private readonly config: RedisStreamSinkConfig,
    private readonly logger: Logger,
  ) {
    this.client = newRedisClient(config.server, `wasm-pipes-sink-${config.stream}`.replace(/\s+/g, '-'), { commandTimeout: 30_000 });
    this.client.on('error', (error: Error) => this.logger.debug({ err: error }, `${SCHEME}: connection error: ${error.message}`));
    this.head = [config.stream];
    if (!config.create) this.head.push('NOMKSTREAM');
    if (config.maxLength !== undefined) this.head.push('MAXLEN', '~', String(config.maxLength));
    this.head.push('*');
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  private get host(): string {
    return this.config.server.address;
  }

  /** Connects and checks the target at start-up: a key of another type, or a missing stream with ?create=false. */
  async start(): Promise<void> {
    await connectRedis(this.client, this.config.server, this.logger, 'sink');
    const { stream, create } = this.config;
    let type: string;
    try {
      type = await this.client.type(stream);
    } catch (error) {
      throw new ConnectorError(`TYPE ${stream} failed: ${(error as Error).message}`, { scheme: SCHEME, host: this.host, cause: error });
    }
    if (type !== 'none' && type !== 'stream') {
      throw new ConfigError(`${SCHEME} (${this.host}): the key '${stream}' holds a ${type}, not a stream; choose another stream name`, {
        variable: 'SINK_URI',
      });
    }
    if (type === 'none' && !create) {
      throw new MissingResourceError(
        `stream '${stream}' does not exist and ?create=false; create it (redis-cli XGROUP CREATE ${stream} GROUP $ MKSTREAM), or drop ?create=false`,
        { scheme: SCHEME, host: this.host },
      );
    }
  }

  async write(batch: readonly Message[]): Promise<WriteResult> {
    if (this.client.status === 'wait') await connectRedis(this.client, this.config.server, this.logger, 'sink');
    const pipeline = this.client.pipeline();
    for (const message of batch) pipeline.call('XADD', ...this.head, ...messageFields(message));
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (error) {
      throw new ConnectorError(`XADD to '${this.config.stream}' failed: ${(error as Error).message}`, {
        scheme: SCHEME,
        host: this.host,
        cause: error,
      });
    }
    if (results === null) throw new ConnectorError(`XADD to '${this.config.stream}' got no reply`, { scheme: SCHEME, host: this.host });
    return batch.map((_, index) => {
      const [error, entryId] = results[index] ?? [new Error('no reply'), null];
      if (error !== null) return this.classify(error);
      // NOMKSTREAM on a missing stream answers nil: nothing was written
      if (entryId === null) {
        return new ConnectorError(`stream '${this.config.stream}' does not exist (?create=false): the entry was not added`, {
          scheme: SCHEME,
          host: this.host,
        });
      }
      return undefined;
    });
  }

  private classify(error: Error): Error {
    const code = redisErrorCode(error);
    // a key of another type, a value the server refuses: trying again gives the same answer
    if (code === 'WRONGTYPE')
      return new PermanentError(`${SCHEME} (${this.host}): the key '${this.config.stream}' is not a stream (${error.message})`, {
        cause: error,
      });
    if (code === 'NOPERM')
      return new PermanentError(`${SCHEME} (${this.host}): XADD to '${this.config.stream}' is not permitted (${error.message})`, {
        cause: error,
      });
    return new ConnectorError(`XADD to '${this.config.stream}' failed: ${error.message}`, {
      scheme: SCHEME,
      host: this.host,
      cause: error,
    });
  }

  async close(): Promise<void> {
    if (this.client.status === 'ready') await this.client.quit().catch(() => undefined);
    this.client.disconnect();
  }
}
