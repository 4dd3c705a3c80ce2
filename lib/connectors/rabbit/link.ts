// One AMQP connection and channel of a rabbit:// source or sink, with reconnection: the first connection is retried
// with backoff for up to RABBIT_CONNECT_TIMEOUT; after a loss, a source reconnects in the background with backoff
// (and sets up its consumer again), a sink on its next write. Delivery tags belong to a channel, so callers keep the
// channel a delivery came on and never ack it on another.
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import type { Logger } from '../../logging/logger';
import { ConnectorError } from '../../errors';
import { equalJitter, exponentialBackoff } from '../../backoff';
import { DistinctReasonLog, WakeableSleep, connectWithRetry } from '../connectRetry';

export const DEFAULT_RABBIT_URL = 'amqp://guest:guest@127.0.0.1:5672/';
/** Background reconnection: 200 ms, doubling after each failure, up to 10 s (with jitter). */
const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 10_000;

/** The host of an AMQP URL, for messages (no credentials). */
export function rabbitHost(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || (parsed.protocol === 'amqps:' ? '5671' : '5672')}${parsed.pathname.length > 1 ? parsed.pathname : ''}`;
  } catch {
    return 'rabbitmq';
  }
}

/** AMQP 0-9-1 reply codes (the spec's constants, which amqplib puts on `error.code`) that this connector acts on. */
export const AMQP_REPLY = { ACCESS_REFUSED: 403, NOT_FOUND: 404, PRECONDITION_FAILED: 406 } as const;

/**
 * The AMQP reply code of a failed operation (404 not found, 403 access refused, ...): amqplib's `code` on a closed
 * channel or connection; a close during the opening handshake (refused credentials) carries it only in the text
 * amqplib builds from the server's connection.close, `Handshake terminated by server: <code> (<name>) ...`.
 */
export function amqpCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'number') return code;
  const handshake = /^Handshake terminated by server: (\d{3}) /.exec((error as Error)?.message ?? '');
  return handshake === null ? undefined : Number(handshake[1]);
}

export interface RabbitLinkOptions<C extends Channel> {
  url: string;
  role: 'source' | 'sink';
  logger: Logger;
  connectTimeoutMs: number;
  confirm: C extends ConfirmChannel ? true : boolean;
  /** Prepares a new channel (check the queue, prefetch, consume); a ConnectorError it throws is not retried here. */
  setup(channel: C): Promise<void>;
  /** Reconnect in the background after a loss (sources), rather than on the next use (sinks). */
  reconnectInBackground: boolean;
}

export class RabbitLink<C extends Channel> {
  readonly host: string;
  private connection: ChannelModel | undefined;
  private channel: C | undefined;
  /** The channel being set up: deliveries may arrive on it (and be settled) before setup() returns. */
  private settingUp: C | undefined;
  private opening: Promise<C> | undefined;
  private closed = false;
  private readonly sleeper = new WakeableSleep();
  private backgroundAttempts = 0;
  private readonly failures: DistinctReasonLog;

  constructor(private readonly options: RabbitLinkOptions<C>) {
    this.host = rabbitHost(options.url);
    this.failures = new DistinctReasonLog(options.logger);
  }

  get ready(): boolean {
    return this.channel !== undefined;
  }

  /** The channel now, if connected. */
  get current(): C | undefined {
    return this.channel;
  }

  /** Whether `channel` is the live one (or the one being set up): only then may its delivery tags be settled. */
  owns(channel: Channel): boolean {
    return channel === this.channel || (channel === this.settingUp && channel !== undefined);
  }

  error(message: string, cause?: unknown, retryable = true): ConnectorError {
    return new ConnectorError(message, { scheme: 'rabbit', host: this.host, cause, retryable });
  }

  /** Starts a first connection in the background (a readiness probe of a lazy sink), and says whether connected. */
  probe(): boolean {
    if (this.channel === undefined && this.opening === undefined && !this.closed) this.connect().catch(() => undefined);
    return this.channel !== undefined;
  }

  /** The channel, connecting first when needed (retrying until RABBIT_CONNECT_TIMEOUT). */
  connect(): Promise<C> {
    if (this.channel !== undefined) return Promise.resolve(this.channel);
    this.opening ??= this.open(Date.now() + this.options.connectTimeoutMs)
      .catch((error: unknown) => {
        // why it cannot connect, at error once per reason: a sink tries again on each write, a source in the background
        if (!this.closed) this.failures.error(error as Error, { host: this.host, role: this.options.role });
        throw error;
      })
      .finally(() => {
        this.opening = undefined;
      });
    return this.opening;
  }

  private open(deadline: number): Promise<C> {
    return connectWithRetry({
      deadline,
      sleeper: this.sleeper,
      attempt: async (timeoutMs) => {
        let connection: ChannelModel | undefined;
        try {
          connection = await amqp.connect(this.options.url, { timeout: timeoutMs });
          connection.on('error', (error: Error) =>
            this.options.logger.debug({ err: error }, `rabbit ${this.options.role}: connection error`),
          );
          const channel = (this.options.confirm ? await connection.createConfirmChannel() : await connection.createChannel()) as C;
          channel.on('error', (error: Error) => this.options.logger.debug({ err: error }, `rabbit ${this.options.role}: channel error`));
          this.settingUp = channel;
          try {
            await this.options.setup(channel);
          } finally {
            this.settingUp = undefined;
          }
          if (this.closed) {
            await connection.close().catch(() => undefined);
            throw this.error('closed before it connected', undefined, false);
          }
          this.watch(connection, channel);
          return channel;
        } catch (error) {
          await connection?.close().catch(() => undefined);
          throw error;
        }
      },
      closed: () => this.closed,
      closedError: () => this.error('closed before it connected', undefined, false),
      refused: (error, reason) =>
        amqpCode(error) === AMQP_REPLY.ACCESS_REFUSED
          ? this.error(`the broker refused the credentials (${reason}); check the user and password in RABBIT_SERVER_URL`, error, false)
          : undefined,
      gaveUp: (error, reason) =>
        this.error(
          `cannot connect (${reason}) within RABBIT_CONNECT_TIMEOUT (${this.options.connectTimeoutMs} ms); is RABBIT_SERVER_URL right and the broker running?`,
          error,
        ),
      warn: (reason) =>
        this.options.logger.warn(
          { host: this.host, err: reason },
          `rabbit ${this.options.role}: cannot connect to ${this.host} yet (${reason}); retrying`,
        ),
    });
  }

  private watch(connection: ChannelModel, channel: C): void {
    this.connection = connection;
    this.channel = channel;
    this.backgroundAttempts = 0;
    this.options.logger.info({ host: this.host }, `rabbit ${this.options.role}: connected to ${this.host}`);
    const lost = (error?: Error): void => {
      if (this.channel !== channel) return;
      this.channel = undefined;
      this.connection = undefined;
      connection.close().catch(() => undefined);
      if (this.closed) return;
      this.options.logger.warn(
        { host: this.host, err: error?.message },
        `rabbit ${this.options.role}: lost the connection to ${this.host}${error ? ` (${error.message})` : ''}; reconnecting`,
      );
      if (this.options.reconnectInBackground) void this.reconnect();
    };
    connection.on('close', lost);
    channel.on('close', () => lost(new Error('channel closed')));
  }

  private async reconnect(): Promise<void> {
    while (!this.closed && this.channel === undefined) {
      const attempt = ++this.backgroundAttempts;
      await this.sleeper.sleep(equalJitter(exponentialBackoff(FIRST_BACKOFF_MS, attempt, MAX_BACKOFF_MS)));
      if (this.closed || this.channel !== undefined) return;
      try {
        await this.connect();
      } catch (error) {
        // connect() logged a new reason at error; say that it goes on, now and then
        if (attempt % 10 === 0) {
          this.options.logger.warn(
            { host: this.host, attempt, err: (error as Error).message },
            `rabbit ${this.options.role}: still reconnecting (${(error as Error).message})`,
          );
        }
      }
    }
  }

  /** Closes the channel (unacked deliveries go back to the queue) and the connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.sleeper.wake();
    await this.opening?.catch(() => undefined);
    const { connection, channel } = this;
    this.channel = undefined;
    this.connection = undefined;
    if (connection === undefined) return;
    // amqplib's close() of a channel or a connection whose socket has just died, before amqplib noticed, never settles:
    // it waits for the broker's close-ok, and the connection's own 'close' event does not end that wait. The close is
    // over when either comes, and gives up after RABBIT_CONNECT_TIMEOUT (a broker that takes frames and answers none).
    const gone = new Promise<void>((resolve) => connection.once('close', () => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.options.logger.warn(
          { host: this.host },
          `rabbit ${this.options.role}: the broker did not answer the close within ${this.options.connectTimeoutMs} ms; leaving the connection`,
        );
        resolve();
      }, this.options.connectTimeoutMs);
      timer.unref();
    });
    try {
      const closing = (async () => {
        if (channel !== undefined) await channel.close().catch(() => undefined);
        await connection.close().catch(() => undefined);
      })();
      await Promise.race([closing, gone, limit]);
    } finally {
      clearTimeout(timer);
    }
  }
}
