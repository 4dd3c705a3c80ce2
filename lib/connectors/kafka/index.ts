// kafka://: consumer groups as sources (commit over the contiguous settled prefix per partition) and topics as sinks
// (acks=-1, batched), on kafkajs. This file reads the URIs and KAFKA_* variables and registers the scheme with its
// described parameters; the drivers are in source.ts and sink.ts, the client set-up in client.ts.
import { registerScheme, type EndpointUri, type ParamSpec } from '../../registry';
import { ConfigError } from '../../errors';
import { parseBoolean, parseDuration, parseSize } from '../../config';
import { clientConfig, envOf, read, type KafkaSinkConfig, type KafkaSourceConfig } from './client';
import { KafkaSource } from './source';
import { KafkaSink } from './sink';

export const DEFAULT_COMMIT_INTERVAL_MS = 1000;
export const DEFAULT_SESSION_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/** The parameters of a kafka:// source (`--help`, the unknown-parameter warning, docs/connectors/kafka.md). */
export const SOURCE_PARAMS: readonly ParamSpec[] = [
  {
    name: 'topic',
    description:
      'the topics the group reads (required): repeat it or list them comma-separated, for example topic=orders&topic=refunds or topic=orders,refunds',
  },
  {
    name: 'offset',
    description:
      'where a group with no committed offset starts: oldest (the start of each partition) or newest (only messages produced from now on); a group that committed goes on from its commit',
    default: 'oldest',
  },
];

/** The parameters of a kafka:// sink. */
export const SINK_PARAMS: readonly ParamSpec[] = [
  {
    name: 'key_name',
    description:
      'the metadata field (a source header, or one a transform set) whose value becomes the record key; without it the message key is the record key. Records of one key go to one partition',
    default: 'the message key',
  },
  {
    name: 'message_id',
    description:
      'false: do not send the message id in the x-message-id header (about 4 µs a record in kafkajs); keep the default when a later hop removes duplicates by id',
    default: 'true',
  },
];

/** Topic names as Kafka accepts them. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

function checkTopic(name: string, variable: string, example: string): string {
  if (!TOPIC_NAME.test(name)) {
    throw new ConfigError(`'${name}' is not a Kafka topic name (letters, digits, '.', '_' and '-', at most 249); for example ${example}`, {
      variable,
    });
  }
  return name;
}

export function sourceConfig(uri: EndpointUri, variables: NodeJS.ProcessEnv): KafkaSourceConfig {
  const groupId = decodeURIComponent(uri.url.host + uri.url.pathname).replace(/\/+$/, '');
  if (groupId === '') {
    throw new ConfigError('a kafka:// source needs a consumer group, for example kafka://my-group?topic=my-topic', {
      variable: uri.variable,
    });
  }
  const topics = uri.url.searchParams
    .getAll('topic')
    .flatMap((value) => value.split(','))
    .map((topic) => topic.trim())
    .filter((topic) => topic !== '');
  if (topics.length === 0) {
    throw new ConfigError(`a kafka:// source needs at least one topic, for example kafka://${groupId}?topic=my-topic`, {
      variable: uri.variable,
    });
  }
  for (const topic of topics) checkTopic(topic, uri.variable, `kafka://${groupId}?topic=my-topic`);
  const offset = (uri.params.get('offset') ?? 'oldest').toLowerCase();
  if (offset !== 'oldest' && offset !== 'newest') {
    throw new ConfigError(
      `offset='${uri.params.get('offset')}' is not a starting point; use offset=oldest (a new group reads the topic from its start) or offset=newest (only new messages)`,
      {
        variable: uri.variable,
      },
    );
  }
  const commitText = read(variables, 'KAFKA_COMMIT_INTERVAL');
  const sessionText = read(variables, 'KAFKA_SESSION_TIMEOUT');
  const commitIntervalMs = commitText === undefined ? DEFAULT_COMMIT_INTERVAL_MS : parseDuration(commitText, 'KAFKA_COMMIT_INTERVAL');
  if (commitIntervalMs < 1) {
    throw new ConfigError(`'${commitText}' is too short; use a value like 1s or 200ms`, { variable: 'KAFKA_COMMIT_INTERVAL' });
  }
  const sessionTimeoutMs = sessionText === undefined ? DEFAULT_SESSION_TIMEOUT_MS : parseDuration(sessionText, 'KAFKA_SESSION_TIMEOUT');
  if (sessionTimeoutMs < 1000) {
    throw new ConfigError(`'${sessionText}' is too short; the broker needs at least a few seconds, for example 10s`, {
      variable: 'KAFKA_SESSION_TIMEOUT',
    });
  }
  return {
    client: clientConfig(variables),
    groupId,
    topics: [...new Set(topics)],
    fromBeginning: offset === 'oldest',
    commitIntervalMs,
    sessionTimeoutMs,
  };
}

export function sinkConfig(uri: EndpointUri, variables: NodeJS.ProcessEnv): KafkaSinkConfig {
  const topic = decodeURIComponent(uri.url.host + uri.url.pathname).replace(/\/+$/, '');
  if (topic === '') {
    throw new ConfigError('a kafka:// sink needs a topic, for example kafka://my-topic', { variable: uri.variable });
  }
  checkTopic(topic, uri.variable, 'kafka://my-topic');
  const keyName = uri.params.get('key_name');
  if (keyName !== undefined && keyName.trim() === '') {
    throw new ConfigError('key_name is empty; name the metadata field that holds the key, for example kafka://my-topic?key_name=user', {
      variable: uri.variable,
    });
  }
  const sizeText = read(variables, 'KAFKA_MAX_MESSAGE_BYTES');
  const messageIdText = uri.params.get('message_id');
  return {
    client: clientConfig(variables),
    topic,
    keyName: keyName?.trim(),
    sendId: messageIdText === undefined ? true : parseBoolean(messageIdText, `${uri.variable} message_id`),
    maxMessageBytes: sizeText === undefined ? DEFAULT_MAX_MESSAGE_BYTES : parseSize(sizeText, 'KAFKA_MAX_MESSAGE_BYTES'),
  };
}

registerScheme({
  schemes: ['kafka'],
  description:
    'Kafka (kafkajs): as a source, a consumer group (kafka://group?topic=t; commits the contiguous settled prefix per partition); as a sink, a topic (acks=-1, batched)',
  sourceExample: 'kafka://my-group?topic=my-topic',
  sinkExample: 'kafka://my-topic',
  sourceParams: SOURCE_PARAMS,
  sinkParams: SINK_PARAMS,
  openSource: (uri, options) => new KafkaSource(sourceConfig(uri, envOf(options)), options),
  openSink: (uri, options) => new KafkaSink(sinkConfig(uri, envOf(options)), options),
  // one produce request per batch, 4 in flight: 4 x 256 fills the default credit window of 1 024, so requests overlap
  // (bigger batches leave one request in flight at a time: slower in KAFKA bench runs). Bytes stay under the
  // broker's default message.max.bytes (1 MiB), which bounds the records of one partition in one request.
  sinkDefaults: { concurrency: 4, batch: { count: 256, bytes: 512 * 1024, linger: '2ms' } },
});
