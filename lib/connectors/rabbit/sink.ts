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

export class RabbitSink implements SinkDriver {
  readonly scheme = 'rabbit';
  private readonly link: RabbitLink<ConfirmChannel>;
  /**
   * Message ids the live channel returned (unroutable), with how many times, not yet matched to a confirm. The broker
   * sends a mandatory message's basic.return before its confirm, on the same channel, so a confirm callback finds its
   * return here; every publish gets its callback (amqplib fails the pending ones when the channel closes), so what is
   * put here is taken out. A new channel gets a new map.
   */
  private returned = new Map<string, number>();

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
    const returned = new Map<string, number>();
    this.returned = returned;
    channel.on('return', (message: AmqpMessage) => {
      const id = message.properties.messageId as string | undefined;
      if (id !== undefined) returned.set(id, (returned.get(id) ?? 0) + 1);
    });
  }

  /** Whether the message of `id` was returned: takes one return of that id, if any. */
  private static takeReturn(returned: Map<string, number>, id: string): boolean {
    if (returned.size === 0) return false;
    const count = returned.get(id);
    if (count === undefined) return false;
    if (count === 1) returned.delete(id);
    else returned.set(id, count - 1);
    return true;
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

  /**
   * Publishes the batch and resolves once every message is confirmed, refused, returned or timed out. One timer for the
   * batch: a message still unconfirmed `timeout` after the batch went out fails, naming the timeout.
   */
  async write(batch: readonly Message[]): Promise<WriteResult> {
    const channel = await this.link.connect();
    const returned = this.returned;
    const { exchange, persistent, confirmTimeoutMs } = this.config;
    const results: (Error | undefined)[] = new Array(batch.length);
    const done: boolean[] = new Array(batch.length).fill(false);
    let unsettled = batch.length;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const settle = (index: number, error: Error | undefined): void => {
      if (done[index]) return;
      done[index] = true;
      results[index] = error;
      if (--unsettled === 0) finish();
    };
    for (let i = 0; i < batch.length; i++) {
      const message = batch[i];
      const key = this.routingKey(message);
      if (key instanceof Error) {
        settle(i, key);
        continue;
      }
      const id = message.id;
      try {
        channel.publish(exchange, key, message.body, metadataToProperties(message, persistent), (error: unknown) => {
          const wasReturned = RabbitSink.takeReturn(returned, id);
          if (error) settle(i, this.link.error(`the broker refused the message (${(error as Error)?.message ?? 'nack'})`, error));
          else if (wasReturned) {
            settle(
              i,
              this.link.error(
                `no queue is bound to exchange '${exchange || '(default)'}' for routing key '${key}'; the message was returned`,
              ),
            );
          } else settle(i, undefined);
        });
      } catch (error) {
        // a table that does not fit (Node's ERR_OUT_OF_RANGE) will not fit next time either; a closed channel will
        // reconnect. By its code, not its class: a RangeError made in another realm (a test runner's) fails instanceof
        settle(
          i,
          (error as { code?: unknown }).code === 'ERR_OUT_OF_RANGE' || error instanceof RangeError
            ? new PermanentError(`rabbit: ${(error as Error).message}`, { cause: error })
            : this.link.error(`publishing failed: ${(error as Error).message}`, error),
        );
      }
    }
    if (unsettled === 0) return results;
    const timer = setTimeout(() => {
      for (let i = 0; i < batch.length; i++) {
        if (!done[i])
          settle(i, this.link.error(`the broker did not confirm a publish within ${confirmTimeoutMs} ms (blocked or disconnected?)`));
      }
    }, confirmTimeoutMs);
    await finished;
    clearTimeout(timer);
    return results;
  }

  async close(): Promise<void> {
    await this.link.close();
  }
}
