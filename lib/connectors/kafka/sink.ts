// The kafka:// sink: each batch the sink runtime hands over is one kafkajs send with acks=-1, so a write resolves only
// once every in-sync replica has the records. Metadata becomes headers, the message id travels in `x-message-id`
// (unless ?message_id=false), and the record key comes from the `key_name` metadata field or the message key.
import type { Kafka, Message as KafkaRecord, Producer, IHeaders } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import type { SinkDriver, SinkOptions, WriteResult } from '../../sink';
import type { Message } from '../../message';
import { ConnectorError, PermanentError } from '../../errors';
import { rootLogger, type Logger } from '../../logging/logger';
import {
  brokersText,
  createKafka,
  isAuthFailure,
  type KafkaSinkConfig,
  MESSAGE_ID_HEADER,
  rootCause,
  causeText,
  SOURCE_METADATA,
} from './client';

/** Broker answers that say the records themselves are wrong: sending them again cannot help. */
const PERMANENT_TYPES = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_TIMESTAMP']);

/** How long the broker may take to get the acks of every in-sync replica. */
const PRODUCE_TIMEOUT_MS = 30_000;

export class KafkaSink implements SinkDriver {
  readonly scheme = 'kafka';
  /**
   * Kafka keeps the records of one key in order (one key, one partition with the default partitioner), so the runtime
   * keeps a key's messages in order through retries. It orders by the message key: with `key_name` the record key
   * comes from a metadata field the runtime does not know, so no order is promised then.
   */
  readonly ordered: boolean;
  private readonly kafka: Kafka;
  private readonly logger: Logger;
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;
  private connected = false;
  /** The last connection attempt or write failed on the service side. */
  private failing = false;
  private closed = false;

  constructor(
    private readonly config: KafkaSinkConfig,
    options: SinkOptions,
  ) {
    this.logger = (options.logger ?? rootLogger()).child({ sink: `kafka://${config.topic}` });
    this.kafka = createKafka(config.client, this.logger);
    this.ordered = config.keyName === undefined;
  }

  /** Connected, or not yet used (it connects on the first write) and not failing. */
  get ready(): boolean {
    if (this.closed) return false;
    return this.connected ? !this.failing : this.connecting === undefined && !this.failing;
  }

  private host(): string {
    return brokersText(this.config.client);
  }

  /** Connects on first use, and again after a failed attempt. */
  private connect(): Promise<Producer> {
    if (this.connecting !== undefined) return this.connecting;
    const producer = this.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: true,
      retry: { initialRetryTime: 250, maxRetryTime: 5000, retries: 3 },
    });
    producer.on(producer.events.CONNECT, () => {
      this.connected = true;
    });
    producer.on(producer.events.DISCONNECT, () => {
      this.connected = false;
    });
    this.connecting = producer.connect().then(
      () => {
        this.producer = producer;
        this.logger.info({ brokers: this.host(), topic: this.config.topic }, `connected to Kafka at ${this.host()}`);
        return producer;
      },
      (error: unknown) => {
        this.connecting = undefined;
        this.failing = true;
        void producer.disconnect().catch(() => undefined);
        throw new ConnectorError(`cannot connect to the brokers in KAFKA_BROKERS (${this.host()}): ${causeText(error)}`, {
          scheme: 'kafka',
          host: this.host(),
          cause: error,
          retryable: !isAuthFailure(error),
        });
      },
    );
    return this.connecting;
  }

  async write(batch: readonly Message[]): Promise<WriteResult> {
    if (this.closed) throw new ConnectorError('the sink is closed', { scheme: 'kafka', host: this.host(), retryable: false });
    const producer = this.producer ?? (await this.connect());
    const results = new Array<Error | undefined>(batch.length);
    const records: KafkaRecord[] = [];
    const sentIndexes: number[] = [];
    for (let i = 0; i < batch.length; i++) {
      const message = batch[i];
      const record = this.toRecord(message);
      const size = message.body.length + recordOverhead(record);
      if (size > this.config.maxMessageBytes) {
        results[i] = new PermanentError(
          `kafka (${this.host()}): message ${message.id} is ${size} bytes, more than KAFKA_MAX_MESSAGE_BYTES (${this.config.maxMessageBytes})`,
        );
        continue;
      }
      records.push(record);
      sentIndexes.push(i);
    }
    if (records.length > 0) {
      try {
        await producer.send({ topic: this.config.topic, acks: -1, timeout: PRODUCE_TIMEOUT_MS, messages: records });
        this.failing = false;
        this.logger.debug({ count: records.length }, 'records acknowledged');
      } catch (error) {
        const failure = this.toError(error);
        if (!(failure instanceof PermanentError)) this.failing = true;
        for (const index of sentIndexes) results[index] = failure;
      }
    }
    return results;
  }

  private toRecord(message: Message): KafkaRecord {
    const headers: IHeaders = {};
    if (this.config.sendId) headers[MESSAGE_ID_HEADER] = message.id;
    const metadata = message.metadata;
    for (const name in metadata) {
      if (name === MESSAGE_ID_HEADER || SOURCE_METADATA.has(name)) continue;
      headers[name] = metadata[name];
    }
    const keyName = this.config.keyName;
    const key = (keyName !== undefined ? metadata[keyName] : undefined) ?? message.key;
    return { key: key ?? null, value: message.body, headers };
  }

  private toError(error: unknown): Error {
    const root = rootCause(error);
    if (root.type !== undefined && PERMANENT_TYPES.has(root.type)) {
      return new PermanentError(`kafka (${this.host()}): the broker refused the records: ${causeText(error)}`, { cause: error });
    }
    return new ConnectorError(`producing to topic '${this.config.topic}' failed: ${causeText(error)}`, {
      scheme: 'kafka',
      host: this.host(),
      cause: error,
      retryable: !isAuthFailure(error),
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const connecting = this.connecting;
    this.connecting = undefined;
    if (connecting === undefined) return;
    const producer = await connecting.catch(() => undefined);
    await producer?.disconnect().catch((error: unknown) => this.logger.warn({ err: error }, 'disconnecting the producer failed'));
    this.connected = false;
  }
}

/** Bytes a record adds beyond its body: key and headers. */
function recordOverhead(record: KafkaRecord): number {
  let size = typeof record.key === 'string' ? Buffer.byteLength(record.key) : 0;
  const headers = record.headers as Record<string, string>;
  for (const name in headers) size += name.length + Buffer.byteLength(headers[name]);
  return size;
}
