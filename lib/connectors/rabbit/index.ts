// The rabbit family: rabbit:// (RabbitMQ, AMQP 0-9-1) on amqplib. This file reads the URI and the environment, declares
// the parameters, and registers the scheme; the drivers are in source.ts (a queue, manual acks, nack requeues) and
// sink.ts (an exchange, publisher confirms).
import { registerScheme, type EndpointUri, type ParamSpec, redactUri } from '../../registry';
import type { SourceOptions } from '../../source';
import { DEFAULT_MAX_IN_FLIGHT } from '../../source';
import type { SinkOptions } from '../../sink';
import { ConfigError } from '../../errors';
import { parseBoolean, parseDuration, parseInteger } from '../../config';
import { rootLogger } from '../../logging/logger';
import { DEFAULT_RABBIT_URL } from './link';
import { RabbitSource } from './source';
import { RabbitSink } from './sink';

export const DEFAULT_CONNECT_TIMEOUT = '30s';
export const DEFAULT_CONFIRM_TIMEOUT = '30s';
/** The most unacknowledged deliveries AMQP lets a channel's prefetch allow. */
const MAX_PREFETCH = 65_535;

/** The source's URI parameters: `wasm-pipes help rabbit`, the unknown-parameter warning and docs/connectors/rabbit.md. */
export const SOURCE_PARAMS: readonly ParamSpec[] = [
  {
    name: 'prefetch_count',
    description: `unacknowledged deliveries the broker may send ahead (1 to ${MAX_PREFETCH}; by default MAX_IN_FLIGHT, capped there); those beyond the window wait in the source's buffer`,
    default: 'MAX_IN_FLIGHT',
  },
];
/** The sink's URI parameters. */
export const SINK_PARAMS: readonly ParamSpec[] = [
  {
    name: 'routing_key',
    description: 'a fixed routing key for every message; with the default exchange (rabbit://?routing_key=QUEUE), the queue to publish to',
  },
  {
    name: 'key_name',
    description: 'take the routing key from this metadata field (a message without it fails at once); excludes ?routing_key',
  },
  {
    name: 'persistent',
    description: 'true: delivery mode 2, the broker writes the message to disk on durable queues; false: transient',
    default: 'true',
  },
  {
    name: 'timeout',
    description: "how long to wait for the broker's publisher confirm before the write fails and is retried",
    default: DEFAULT_CONFIRM_TIMEOUT,
  },
];

function connectTimeout(env: NodeJS.ProcessEnv): number {
  return parseDuration(env.RABBIT_CONNECT_TIMEOUT?.trim() || DEFAULT_CONNECT_TIMEOUT, 'RABBIT_CONNECT_TIMEOUT');
}

/** RABBIT_SERVER_URL, checked: amqp:// or amqps://. */
export function rabbitUrl(env: NodeJS.ProcessEnv): string {
  const url = env.RABBIT_SERVER_URL?.trim() || DEFAULT_RABBIT_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new ConfigError(`'${redactUri(url)}' is not a URL; for example amqp://guest:guest@localhost:5672/`, {
      variable: 'RABBIT_SERVER_URL',
      cause: error,
    });
  }
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
    throw new ConfigError(`'${redactUri(url)}' is not an AMQP URL; use amqp://user:password@host:5672/vhost (or amqps://)`, {
      variable: 'RABBIT_SERVER_URL',
    });
  }
  return url;
}

function nameOf(uri: EndpointUri): string {
  try {
    return decodeURIComponent(uri.url.host + uri.url.pathname).replace(/\/+$/, '');
  } catch (error) {
    throw new ConfigError(`'${uri.raw}' has a badly encoded name`, { variable: uri.variable, cause: error });
  }
}

function openRabbitSource(uri: EndpointUri, options: SourceOptions): RabbitSource {
  const env = options.env ?? process.env;
  const queue = nameOf(uri);
  if (queue === '') throw new ConfigError('a RabbitMQ source needs a queue, for example rabbit://orders', { variable: uri.variable });
  const prefetchText = uri.params.get('prefetch_count');
  const prefetch =
    prefetchText === undefined
      ? Math.min(options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, MAX_PREFETCH)
      : parseInteger(prefetchText, `${uri.variable} prefetch_count`, 1, MAX_PREFETCH);
  return new RabbitSource(
    { url: rabbitUrl(env), queue, prefetch, connectTimeoutMs: connectTimeout(env) },
    (options.logger ?? rootLogger()).child({ source: redactUri(uri.raw) }),
  );
}

function openRabbitSink(uri: EndpointUri, options: SinkOptions): RabbitSink {
  const env = options.env ?? process.env;
  const exchange = nameOf(uri);
  const routingKey = uri.params.get('routing_key');
  const keyName = uri.params.get('key_name');
  if (routingKey !== undefined && keyName !== undefined) {
    throw new ConfigError('?routing_key (a fixed key) and ?key_name (the key from a metadata field) exclude each other; keep one', {
      variable: uri.variable,
    });
  }
  if (exchange === '' && (routingKey === undefined || routingKey === '')) {
    throw new ConfigError('the default exchange routes by queue name: give one, for example rabbit://?routing_key=orders', {
      variable: uri.variable,
    });
  }
  if (keyName === '') throw new ConfigError('?key_name needs a metadata field, for example ?key_name=region', { variable: uri.variable });
  const persistentText = uri.params.get('persistent');
  return new RabbitSink(
    {
      url: rabbitUrl(env),
      exchange,
      routingKey,
      keyName,
      persistent: persistentText === undefined ? true : parseBoolean(persistentText, `${uri.variable} persistent`),
      confirmTimeoutMs: parseDuration(uri.params.get('timeout') ?? DEFAULT_CONFIRM_TIMEOUT, `${uri.variable} timeout`),
      connectTimeoutMs: connectTimeout(env),
    },
    (options.logger ?? rootLogger()).child({ sink: redactUri(uri.raw) }),
  );
}

registerScheme({
  schemes: ['rabbit'],
  description:
    'RabbitMQ: a queue as a source (manual ack, prefetch = MAX_IN_FLIGHT, nack requeues); an exchange as a sink (publisher confirms; rabbit://?routing_key=QUEUE for a queue)',
  sourceExample: 'rabbit://orders?prefetch_count=100',
  sinkExample: 'rabbit://events?key_name=region',
  sourceParams: SOURCE_PARAMS,
  sinkParams: SINK_PARAMS,
  openSource: openRabbitSource,
  openSink: openRabbitSink,
  sinkDefaults: { concurrency: 8, batch: { count: 256, linger: 0 } },
});
