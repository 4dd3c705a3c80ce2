// The rabbit:// source, a push driver: it consumes a queue with manual acks and a prefetch that follows the credit
// window, hands each delivery to the runtime (context.push), and requeues on nack. Deliveries are counted (the
// broker's x-delivery-count on quorum queues, per process by message id on classic ones) so that a poison message
// reaches the dead letter.
import type { Channel, ConsumeMessage } from 'amqplib';
import type { SourceContext, SourceDriver, SourceOptions } from '../../source';
import { ShutdownError } from '../../errors';
import { RabbitLink, AMQP_REPLY, amqpCode } from './link';
import { propertiesToMetadata } from './properties';

/** Nacked message ids remembered to count redeliveries on classic queues. */
const MAX_TRACKED_REDELIVERIES = 100_000;

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
      context.logger.error(
        { queue: this.config.queue },
        `rabbit: the broker cancelled the consumer of '${this.config.queue}' (queue deleted?)`,
      );
      return;
    }
    if (this.stopping) {
      channel.nack(message, false, true);
      return;
    }
    this.deliver(this.count(channel, message), context);
  }

  private count(channel: Channel, message: ConsumeMessage): RabbitDelivery {
    const id = typeof message.properties.messageId === 'string' ? message.properties.messageId : undefined;
    const brokerCount = Number(message.properties.headers?.['x-delivery-count']);
    let deliveries = 1;
    if (Number.isInteger(brokerCount) && brokerCount >= 0) deliveries = brokerCount + 1;
    else if (message.fields.redelivered) deliveries = (id !== undefined ? (this.redeliveries.get(id) ?? 1) : 1) + 1;
    return { channel, message, id, deliveries };
  }

  /** Hands a delivery to the runtime, which keeps it in its buffer while the window is full (prefetch bounds those). */
  private deliver(delivery: RabbitDelivery, context: SourceContext<RabbitDelivery>): void {
    const { message } = delivery;
    context.push(
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

  nack(delivery: RabbitDelivery, error: Error): void {
    // a delivery the runtime gives back at shutdown (it waited in its buffer) or the drain nacks is no failure of the
    // message: not counted towards MAX_DELIVERIES
    if (delivery.id !== undefined && !this.stopping && !(error instanceof ShutdownError)) {
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
