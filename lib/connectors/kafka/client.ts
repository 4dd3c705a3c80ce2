// The kafkajs client as the Kafka connector configures it: brokers, TLS and SASL from the KAFKA_* variables, and
// kafkajs's own logs routed to debug. Shared by the source (source.ts) and the sink (sink.ts).
import net from 'node:net';
import tls from 'node:tls';
import { Kafka, type KafkaConfig, logLevel, type LogEntry, type SASLOptions, type ISocketFactory } from 'kafkajs';
import { ConfigError } from '../../errors';
import { parseBoolean } from '../../config';
import type { Logger } from '../../logging/logger';

const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** How to reach the cluster, from the KAFKA_* variables. */
export interface KafkaClientConfig {
  brokers: string[];
  clientId: string;
  ssl: boolean;
  sasl?: SASLOptions;
}

export interface KafkaSourceConfig {
  client: KafkaClientConfig;
  groupId: string;
  topics: string[];
  /** Where a group with no committed offset starts: the oldest message or only new ones. */
  fromBeginning: boolean;
  commitIntervalMs: number;
  sessionTimeoutMs: number;
}

export interface KafkaSinkConfig {
  client: KafkaClientConfig;
  topic: string;
  /** The metadata field whose value becomes the record key (else the message key). */
  keyName?: string;
  maxMessageBytes: number;
  /** The message id travels in the x-message-id header (false: it is left out). */
  sendId: boolean;
}

export function envOf(options: { env?: NodeJS.ProcessEnv }): NodeJS.ProcessEnv {
  return options.env ?? process.env;
}

export function read(variables: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = variables[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** KAFKA_BROKERS, KAFKA_CLIENT_ID, KAFKA_SSL and the SASL variables, validated. */
export function clientConfig(variables: NodeJS.ProcessEnv): KafkaClientConfig {
  const list = read(variables, 'KAFKA_BROKERS');
  if (list === undefined) {
    throw new ConfigError('not set; kafka:// needs the brokers, comma-separated, for example KAFKA_BROKERS=127.0.0.1:9092', {
      variable: 'KAFKA_BROKERS',
    });
  }
  const brokers = list
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker !== '');
  for (const broker of brokers) {
    const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):(\d{1,5})$/.exec(broker);
    if (match === null || Number(match[2]) < 1 || Number(match[2]) > 65535) {
      throw new ConfigError(`'${broker}' is not host:port; write the brokers like 127.0.0.1:9092,10.0.0.2:9092`, {
        variable: 'KAFKA_BROKERS',
      });
    }
  }
  if (brokers.length === 0) {
    throw new ConfigError('lists no broker; write them like 127.0.0.1:9092,10.0.0.2:9092', { variable: 'KAFKA_BROKERS' });
  }
  const sslText = read(variables, 'KAFKA_SSL');
  const config: KafkaClientConfig = {
    brokers,
    clientId: read(variables, 'KAFKA_CLIENT_ID') ?? 'wasm-pipes',
    ssl: sslText === undefined ? false : parseBoolean(sslText, 'KAFKA_SSL'),
  };
  const mechanismText = read(variables, 'KAFKA_SASL_MECHANISM');
  const username = read(variables, 'KAFKA_USERNAME');
  const password = variables.KAFKA_PASSWORD;
  if (mechanismText !== undefined) {
    const mechanism = mechanismText.toLowerCase();
    if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
      throw new ConfigError(`'${mechanismText}' is not a supported mechanism; use one of ${SASL_MECHANISMS.join(', ')}`, {
        variable: 'KAFKA_SASL_MECHANISM',
      });
    }
    if (username === undefined || password === undefined || password === '') {
      throw new ConfigError(`SASL ${mechanism} needs KAFKA_USERNAME and KAFKA_PASSWORD`, {
        variable: username === undefined ? 'KAFKA_USERNAME' : 'KAFKA_PASSWORD',
      });
    }
    config.sasl = { mechanism: mechanism as (typeof SASL_MECHANISMS)[number], username, password };
  } else if (username !== undefined) {
    throw new ConfigError('KAFKA_USERNAME is set but KAFKA_SASL_MECHANISM is not; set it to plain, scram-sha-256 or scram-sha-512', {
      variable: 'KAFKA_SASL_MECHANISM',
    });
  }
  return config;
}

/** The brokers as error messages name them. */
export function brokersText(config: KafkaClientConfig): string {
  return config.brokers.join(',');
}

/** The Kafka protocol's API key of JoinGroup requests. */
const JOIN_GROUP_API_KEY = 11;
const KEEP_ALIVE_DELAY_MS = 60_000;

/**
 * A socket factory (kafkajs's own, plus one thing) that holds back JoinGroup requests while `gate()` returns a
 * pending promise. kafkajs has no hook between "the group is rebalancing" and joining again; this is that hook: the
 * source finishes its revocation (in-flight messages settled, offsets committed with the old generation) before
 * its JoinGroup reaches the coordinator, as a Java consumer does in onPartitionsRevoked. Each kafkajs request is one
 * write of one framed buffer: int32 size, int16 api key, int16 version, int32 correlation id, ...
 */
export function gatedSocketFactory(gate: () => Promise<void> | undefined): ISocketFactory {
  return ({ host, port, ssl, onConnect }) => {
    const socket = ssl
      ? tls.connect({ host, port, ...(!net.isIP(host) ? { servername: host } : {}), ...ssl }, onConnect)
      : net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS);
    const write = socket.write.bind(socket) as (chunk: Buffer, encoding?: BufferEncoding) => boolean;
    const gatedWrite = (chunk: Buffer, encoding?: BufferEncoding): boolean => {
      const pending = gate();
      if (
        pending !== undefined &&
        Buffer.isBuffer(chunk) &&
        chunk.length >= 12 &&
        chunk.readInt32BE(0) === chunk.length - 4 &&
        chunk.readInt16BE(4) === JOIN_GROUP_API_KEY
      ) {
        void pending.then(() => {
          if (!socket.destroyed) write(chunk, encoding);
        });
        return true;
      }
      return write(chunk, encoding);
    };
    socket.write = gatedWrite as typeof socket.write;
    return socket;
  };
}

/**
 * A kafkajs client whose own logs go to `logger` at debug level: the connector reports what matters (connection
 * failures, rebalances, commits that fail) itself, so kafkajs stays quiet at info. `joinGate` holds back JoinGroup
 * requests while it returns a pending promise (see gatedSocketFactory).
 */
export function createKafka(config: KafkaClientConfig, logger: Logger, joinGate?: () => Promise<void> | undefined): Kafka {
  const verbose = logger.isLevelEnabled('debug');
  const kafkaConfig: KafkaConfig = {
    brokers: config.brokers,
    clientId: config.clientId,
    ssl: config.ssl,
    // the connector retries connections itself, with its own backoff and error reports
    retry: { initialRetryTime: 250, maxRetryTime: 5000, retries: 3 },
    logLevel: verbose ? logLevel.INFO : logLevel.NOTHING,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...fields } = entry.log;
      logger.debug({ kafkajs: entry.namespace, kafkajsLevel: logLevel[entry.level], ...fields }, `kafkajs: ${message}`);
    },
  };
  if (config.sasl !== undefined) kafkaConfig.sasl = config.sasl;
  if (joinGate !== undefined) kafkaConfig.socketFactory = gatedSocketFactory(joinGate);
  return new Kafka(kafkaConfig);
}

/** The error a client library gave, followed through `cause`/`originalError` to the root. */
export function rootCause(error: unknown): Error & { type?: string; retriable?: boolean } {
  let current = error as Error & { cause?: unknown; originalError?: unknown };
  for (let depth = 0; depth < 10; depth++) {
    const next = current?.originalError ?? current?.cause;
    if (!(next instanceof Error)) break;
    current = next;
  }
  return current;
}

/**
 * What went wrong, in one short phrase: the deepest message of the chain, without the repetitions kafkajs adds when
 * it wraps an error in a retry error ("Connection error: x: Connection error: x" -> "Connection error: x").
 */
export function causeText(error: unknown): string {
  const message = rootCause(error).message ?? String(error);
  const parts = message.split(': ');
  for (let length = 1; length <= parts.length / 2; length++) {
    const head = parts.slice(0, length).join(': ');
    let repeated = true;
    for (let start = length; start < parts.length; start += length) {
      if (parts.slice(start, start + length).join(': ') !== head) {
        repeated = false;
        break;
      }
    }
    if (repeated && parts.length % length === 0) return head;
  }
  return message;
}

/** Failures that retrying cannot fix: bad credentials, missing rights. */
export function isAuthFailure(error: unknown): boolean {
  const root = rootCause(error);
  const name = (error as Error | undefined)?.name ?? '';
  return (
    name === 'KafkaJSSASLAuthenticationError' ||
    root.name === 'KafkaJSSASLAuthenticationError' ||
    /AUTHORIZATION_FAILED|SASL_AUTHENTICATION_FAILED/.test(root.type ?? '')
  );
}

/** The header that carries the message id across Kafka (Kafka records have no id of their own). */
export const MESSAGE_ID_HEADER = 'x-message-id';

/** Metadata the source adds from the record itself; the sink does not write them back as headers. */
export const KAFKA_TOPIC = 'kafka-topic';
export const KAFKA_PARTITION = 'kafka-partition';
export const KAFKA_OFFSET = 'kafka-offset';
export const KAFKA_TIMESTAMP = 'kafka-timestamp';
export const SOURCE_METADATA: ReadonlySet<string> = new Set([KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET, KAFKA_TIMESTAMP]);
