// The rabbit:// sink: publishes on a confirm channel, mandatory, and acks a message only on the broker's confirm (an
// unroutable one is returned and fails).
import type { ConfirmChannel, Message as AmqpMessage } from 'amqplib';
import type { SinkDriver, SinkOptions, WriteResult } from '../../sink';
import type { Message } from '../../message';
import { PermanentError } from '../../errors';
import { RabbitLink, AMQP_REPLY, amqpCode } from './link';
import { metadataToProperties } from './properties';

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
        const index = list.indexOf(pending);
        if (index >= 0) list.splice(index, 1);
        if (list.length === 0 && this.awaiting.get(message.id) === list) this.awaiting.delete(message.id);
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
          // a table that does not fit (Node's ERR_OUT_OF_RANGE) will not fit next time either; a closed channel will
          // reconnect. By its code, not its class: a RangeError made in another realm (a test runner's) fails instanceof
          settle(
            (error as { code?: unknown }).code === 'ERR_OUT_OF_RANGE' || error instanceof RangeError
              ? new PermanentError(`rabbit: ${(error as Error).message}`, { cause: error })
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
