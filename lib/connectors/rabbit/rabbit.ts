// rabbit://: RabbitMQ (AMQP 0-9-1) with amqplib. The source consumes a queue with manual acks and a prefetch that
// follows the credit window; nack requeues; deliveries are counted (the broker's x-delivery-count on quorum queues,
// per process by message id on classic ones) so that a poison message reaches the dead letter. The sink publishes on
// a confirm channel, mandatory, and acks a message only on the broker's confirm (an unroutable one fails).
import type { Channel, ConfirmChannel, ConsumeMessage, Message as AmqpMessage, Options } from 'amqplib';
import { registerScheme, EndpointUri, redactUri } from '../../registry';
import type { SourceContext, SourceDriver, SourceOptions } from '../../source';
import { DEFAULT_MAX_IN_FLIGHT } from '../../source';
import type { SinkDriver, SinkOptions, WriteResult } from '../../sink';
import type { Message } from '../../message';
import { ConfigError, PermanentError } from '../../errors';
import { parseBoolean, parseDuration, parseInteger } from '../../config';
import { rootLogger } from '../../logging/logger';
import { CreditBuffer } from '../../creditBuffer';
import { RabbitLink, DEFAULT_RABBIT_URL, AMQP_REPLY, amqpCode } from './link';

export const DEFAULT_CONNECT_TIMEOUT = '30s';
export const DEFAULT_CONFIRM_TIMEOUT = '30s';
/** Nacked message ids remembered to count redeliveries on classic queues. */
const MAX_TRACKED_REDELIVERIES = 100_000;

/** AMQP basic properties <-> metadata names (lower-case, HTTP style). */
const PROPERTY_METADATA = {
  contentType: 'content-type',
  contentEncoding: 'content-encoding',
  correlationId: 'correlation-id',
  replyTo: 'reply-to',
  expiration: 'expiration',
  type: 'type',
  appId: 'app-id',
  userId: 'user-id',
  priority: 'priority',
  timestamp: 'timestamp',
} as const;
type MappedProperty = keyof typeof PROPERTY_METADATA;
const METADATA_PROPERTY = new Map<string, MappedProperty>(
  Object.entries(PROPERTY_METADATA).map(([property, name]) => [name, property as MappedProperty]),
);
/** Broker-managed headers that are not the message's own. */
const BROKER_HEADERS = new Set(['x-death', 'x-delivery-count', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason', 'x-last-death-exchange', 'x-last-death-queue', 'x-last-death-reason']);

function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

/** Metadata from a delivery's properties and headers. */
export function propertiesToMetadata(message: AmqpMessage): Record<string, string> {
  const metadata: Record<string, string> = {};
  const properties = message.properties;
  const headers = properties.headers;
  if (headers !== undefined) {
    for (const name in headers) {
      if (BROKER_HEADERS.has(name.toLowerCase())) continue;
      const text = headerText(headers[name]);
      if (text !== undefined) metadata[name] = text;
    }
  }
  for (const property of Object.keys(PROPERTY_METADATA) as MappedProperty[]) {
    const text = headerText(properties[property]);
    if (text !== undefined) metadata[PROPERTY_METADATA[property]] = text;
  }
  return metadata;
}

/** Publish options from a message: mapped properties, the rest as headers, the id as message-id. */
export function metadataToProperties(message: Message, persistent: boolean): Options.Publish {
  const options: Options.Publish = { messageId: message.id, persistent, mandatory: true };
  const headers: Record<string, string> = {};
  const metadata = message.metadata;
  for (const name in metadata) {
    const value = metadata[name];
    const property = METADATA_PROPERTY.get(name.toLowerCase());
    if (property === undefined) {
      headers[name] = value;
      continue;
    }
    switch (property) {
      case 'userId':
        // the broker rejects a user-id that is not the publishing connection's own
        break;
      case 'priority':
      case 'timestamp': {
        const number = Number(value);
        if (Number.isInteger(number) && number >= 0) options[property] = number;
        break;
      }
      default:
        options[property] = value;
    }
  }
  options.headers = headers;
  return options;
}

export interface RabbitDelivery {
  readonly channel: Channel;
  readonly message: ConsumeMessage;
  readonly id: string | undefined;
  readonly deliveries: number;
}

export interface RabbitSourceConfig {
  url: string;
  queue: string;
  prefetch: number;
  connectTimeoutMs: number;
}

export class RabbitSource implements SourceDriver<RabbitDelivery> {
  readonly scheme = 'rabbit';
  private context: SourceContext<RabbitDelivery> | undefined;
  private link: RabbitLink<Channel> | undefined;
  private consumerTag: string | undefined;
  private readonly overflow = new CreditBuffer<RabbitDelivery>((delivery) =>
    this.deliver(delivery, this.context as SourceContext<RabbitDelivery>),
  );
  /** message id -> deliveries so far, for nacked messages of queues that do not count them (classic queues). */
  private readonly redeliveries = new Map<string, number>();
  private stopping = false;

  constructor(
    private readonly config: RabbitSourceConfig,
    private readonly logger: SourceOptions['logger'],
  ) {}

  get ready(): boolean {
    return this.link?.ready === true && this.consumerTag !== undefined && !this.stopping;
  }

  async start(context: SourceContext<RabbitDelivery>): Promise<void> {
    this.context = context;
    this.overflow.attach(context);
    this.link = new RabbitLink<Channel>({
      url: this.config.url,
      role: 'source',
      logger: this.logger ?? context.logger,
      connectTimeoutMs: this.config.connectTimeoutMs,
      confirm: false,
      reconnectInBackground: true,
      setup: (channel) => this.setup(channel),
    });
    await this.link.connect();
  }

  private async setup(channel: Channel): Promise<void> {
    const { queue, prefetch } = this.config;
    const link = this.link as RabbitLink<Channel>;
    try {
      await channel.checkQueue(queue);
    } catch (error) {
      if (amqpCode(error) === AMQP_REPLY.NOT_FOUND) {
        throw link.error(
          `queue '${queue}' does not exist; declare it first (for example: rabbitmqadmin declare queue name=${queue} durable=true)`,
          error,
          false,
        );
      }
      throw error;
    }
    if (this.stopping) return;
    await channel.prefetch(prefetch);
    const reply = await channel.consume(queue, (message) => this.arrived(channel, message), { noAck: false });
    this.consumerTag = reply.consumerTag;
    (this.context as SourceContext<RabbitDelivery>).logger.info(
      { queue, prefetch },
      `rabbit: consuming queue '${queue}' with prefetch ${prefetch} (manual ack, at least once)`,
    );
  }

  private arrived(channel: Channel, message: ConsumeMessage | null): void {
    const context = this.context as SourceContext<RabbitDelivery>;
    if (message === null) {
      // the broker cancelled the consumer: the queue was deleted
      this.consumerTag = undefined;
      context.logger.error({ queue: this.config.queue }, `rabbit: the broker cancelled the consumer of '${this.config.queue}' (queue deleted?)`);
      return;
    }
    if (this.stopping) {
      channel.nack(message, false, true);
      return;
    }
    this.overflow.offer(this.count(channel, message));
  }

  private count(channel: Channel, message: ConsumeMessage): RabbitDelivery {
    const id = typeof message.properties.messageId === 'string' ? message.properties.messageId : undefined;
    const brokerCount = Number(message.properties.headers?.['x-delivery-count']);
    let deliveries = 1;
    if (Number.isInteger(brokerCount) && brokerCount >= 0) deliveries = brokerCount + 1;
    else if (message.fields.redelivered) deliveries = (id !== undefined ? (this.redeliveries.get(id) ?? 1) : 1) + 1;
    return { channel, message, id, deliveries };
  }

  private deliver(delivery: RabbitDelivery, context: SourceContext<RabbitDelivery>): void {
    const { message } = delivery;
    context.receive(
      {
        id: delivery.id,
        key: message.fields.routingKey,
        metadata: propertiesToMetadata(message),
        body: message.content,
        deliveryCount: delivery.deliveries,
      },
      delivery,
    );
  }

  /** Whether the delivery's channel is still the live one: tags of a lost channel were requeued by the broker. */
  private live(delivery: RabbitDelivery): boolean {
    return this.link?.owns(delivery.channel) === true;
  }

  ack(delivery: RabbitDelivery): void {
    if (delivery.id !== undefined && this.redeliveries.size > 0) this.redeliveries.delete(delivery.id);
    if (this.live(delivery)) delivery.channel.ack(delivery.message);
  }

  nack(delivery: RabbitDelivery, _error: Error): void {
    if (delivery.id !== undefined && !this.stopping) {
      this.redeliveries.delete(delivery.id);
      if (this.redeliveries.size >= MAX_TRACKED_REDELIVERIES) {
        this.redeliveries.delete(this.redeliveries.keys().next().value as string);
      }
      this.redeliveries.set(delivery.id, delivery.deliveries);
    }
    if (this.live(delivery)) delivery.channel.nack(delivery.message, false, true);
  }

  async stopIntake(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const delivery of this.overflow.close()) if (this.live(delivery)) delivery.channel.nack(delivery.message, false, true);
    const channel = this.link?.current;
    if (channel !== undefined && this.consumerTag !== undefined) {
      await channel.cancel(this.consumerTag).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.stopIntake();
    await this.link?.close();
  }
}

export interface RabbitSinkConfig {
  url: string;
  exchange: string;
  routingKey?: string;
  keyName?: string;
  persistent: boolean;
  confirmTimeoutMs: number;
  connectTimeoutMs: number;
}

interface PendingPublish {
  returned?: string;
}

export class RabbitSink implements SinkDriver {
  readonly scheme = 'rabbit';
  private readonly link: RabbitLink<ConfirmChannel>;
  /** Publishes awaiting their confirm, by message id: a basic.return (unroutable) arrives before the confirm. */
  private readonly awaiting = new Map<string, PendingPublish[]>();

  constructor(
    private readonly config: RabbitSinkConfig,
    logger: NonNullable<SinkOptions['logger']>,
  ) {
    this.link = new RabbitLink<ConfirmChannel>({
      url: config.url,
      role: 'sink',
      logger,
      connectTimeoutMs: config.connectTimeoutMs,
      confirm: true,
      reconnectInBackground: false,
      setup: (channel) => this.setup(channel),
    });
  }

  get ready(): boolean {
    return this.link.probe();
  }

  /**
   * Connects at start-up and checks the exchange, so that a broker out of reach (after RABBIT_CONNECT_TIMEOUT),
   * refused credentials or a missing exchange stop the start, as for a source.
   */
  async start(): Promise<void> {
    await this.link.connect();
  }

  private async setup(channel: ConfirmChannel): Promise<void> {
    const { exchange } = this.config;
    if (exchange !== '') {
      try {
        await channel.checkExchange(exchange);
      } catch (error) {
        if (amqpCode(error) === AMQP_REPLY.NOT_FOUND) {
          throw this.link.error(
            `exchange '${exchange}' does not exist; declare it (for example: rabbitmqadmin declare exchange name=${exchange} type=topic), or publish straight to a queue with rabbit://?routing_key=QUEUE`,
            error,
          );
        }
        throw error;
      }
    }
    channel.on('return', (returned: AmqpMessage) => {
      const id = returned.properties.messageId as string | undefined;
      const waiting = id === undefined ? undefined : this.awaiting.get(id);
      const pending = waiting?.find((entry) => entry.returned === undefined);
      if (pending !== undefined) pending.returned = returned.fields.routingKey;
    });
  }

  private routingKey(message: Message): string | Error {
    const { routingKey, keyName } = this.config;
    if (routingKey !== undefined) return routingKey;
    if (keyName !== undefined) {
      const value = message.metadata[keyName];
      if (value === undefined) {
        return new PermanentError(`rabbit: the message has no metadata '${keyName}' to take the routing key from (?key_name=${keyName})`);
      }
      return value;
    }
    return message.key ?? '';
  }

  async write(batch: readonly Message[]): Promise<WriteResult> {
    const channel = await this.link.connect();
    const { exchange, persistent, confirmTimeoutMs } = this.config;
    const outcomes = batch.map((message) => {
      const key = this.routingKey(message);
      if (key instanceof Error) return Promise.resolve<Error | undefined>(key);
      const pending: PendingPublish = {};
      let list = this.awaiting.get(message.id);
      if (list === undefined) this.awaiting.set(message.id, (list = []));
      list.push(pending);
      const forget = (): void => {
        const index = (list as PendingPublish[]).indexOf(pending);
        if (index >= 0) (list as PendingPublish[]).splice(index, 1);
        if ((list as PendingPublish[]).length === 0 && this.awaiting.get(message.id) === list) this.awaiting.delete(message.id);
      };
      return new Promise<Error | undefined>((resolve) => {
        const timer = setTimeout(() => {
          forget();
          resolve(this.link.error(`the broker did not confirm a publish within ${confirmTimeoutMs} ms (blocked or disconnected?)`));
        }, confirmTimeoutMs);
        const settle = (error: Error | undefined): void => {
          clearTimeout(timer);
          forget();
          resolve(error);
        };
        try {
          channel.publish(exchange, key, message.body, metadataToProperties(message, persistent), (error: unknown) => {
            if (error) settle(this.link.error(`the broker refused the message (${(error as Error)?.message ?? 'nack'})`, error));
            else if (pending.returned !== undefined) {
              settle(
                this.link.error(
                  `no queue is bound to exchange '${exchange || '(default)'}' for routing key '${pending.returned}'; the message was returned`,
                ),
              );
            } else settle(undefined);
          });
        } catch (error) {
          // a table that does not fit (RangeError) will not fit next time either; a closed channel will reconnect
          settle(
            error instanceof RangeError
              ? new PermanentError(`rabbit: ${error.message}`, { cause: error })
              : this.link.error(`publishing failed: ${(error as Error).message}`, error),
          );
        }
      });
    });
    return Promise.all(outcomes);
  }

  async close(): Promise<void> {
    await this.link.close();
  }
}

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
    throw new ConfigError(`'${redactUri(url)}' is not a URL; for example amqp://guest:guest@localhost:5672/`, { variable: 'RABBIT_SERVER_URL', cause: error });
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
      ? Math.min(options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, 65_535)
      : parseInteger(prefetchText, `${uri.variable} prefetch_count`, 1, 65_535);
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
  sourceParams: ['prefetch_count'],
  sinkParams: ['routing_key', 'key_name', 'persistent', 'timeout'],
  openSource: openRabbitSource,
  openSink: openRabbitSink,
  sinkDefaults: { concurrency: 8, batch: { count: 256, linger: 0 } },
});
