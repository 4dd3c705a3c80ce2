// Core NATS (at most once): a subscription, optionally in a queue group, and a publisher that confirms a batch with
// a PING/PONG flush (the server has it; whether anyone was subscribed, core NATS cannot say).
import type { Msg, Subscription } from '@nats-io/transport-node';
import { errors, headers as natsHeaders } from '@nats-io/transport-node';
import type { SourceContext, SourceDriver } from '../../source';
import type { WriteResult } from '../../sink';
import type { Message } from '../../message';
import type { Logger } from '../../logging/logger';
import { ConnectorError, PermanentError, ShutdownError } from '../../errors';
import { type NatsLink, NatsSinkDriver, decodeHeaders, encodeHeaders, isWildcard, oversizedBody, withTimeout } from './link';

/** Header of the answer to a request whose message was nacked: the requester knows to send it again. */
export const NACK_ERROR_HEADER = 'Wasm-Pipes-Error';
const DROP_WARNING_INTERVAL_MS = 10_000;

export interface NatsCoreSourceConfig {
  subject: string;
  queue?: string;
  /** Messages held while the credit window is full; more are dropped (counted and logged). */
  maxPending: number;
}

/**
 * The core NATS source, a push driver. NATS pushes whatever is published, with no way to pause it: while the credit
 * window is full, arriving messages wait in the runtime's buffer up to `max_pending`, and beyond that they are dropped,
 * counted and logged, so that a slow sink never grows memory without bound. A message with a reply subject (a
 * request) is answered once settled: empty for an ack, with a `Wasm-Pipes-Error` header for a nack, so a requester can
 * retry.
 */
export class NatsCoreSource implements SourceDriver<Msg> {
  readonly scheme = 'nats';
  readonly atMostOnce =
    'Core NATS does not redeliver; for at least once, publish into a JetStream stream and read it with nats://SUBJECT?stream=STREAM&consumer=NAME';
  private context: SourceContext<Msg> | undefined;
  private subscription: Subscription | undefined;
  private stopped = false;
  private dropped = 0;
  private droppedSinceWarning = 0;
  private lastDropWarning = 0;
  /** Buffered messages the runtime gave back when intake stopped: they never entered the pipeline and are lost. */
  private givenBack = 0;
  private readonly wildcard: boolean;

  constructor(
    private readonly config: NatsCoreSourceConfig,
    private readonly link: NatsLink,
  ) {
    this.wildcard = isWildcard(config.subject);
  }

  get ready(): boolean {
    return this.link.ready && this.subscription !== undefined && !this.stopped;
  }

  async start(context: SourceContext<Msg>): Promise<void> {
    this.context = context;
    const connection = await this.link.connect();
    if (this.stopped) return;
    const { subject, queue } = this.config;
    this.subscription = connection.subscribe(subject, {
      queue,
      callback: (error, msg) => {
        if (error !== null) {
          context.error(this.link.error(`the subscription to '${subject}' failed: ${error.message}`, error, false));
          return;
        }
        this.arrived(msg, context);
      },
    });
    // the server has the subscription once it answers a PING: messages published from now on arrive
    await connection.flush();
    context.logger.info(
      { subject, queue, maxPending: this.config.maxPending },
      `nats: subscribed to '${subject}'${queue ? ` in queue group '${queue}'` : ''} (core NATS, at most once)`,
    );
  }

  private arrived(msg: Msg, context: SourceContext<Msg>): void {
    if (this.stopped) return;
    // a message waits in the runtime's buffer when the window is full or others wait before it: at most max_pending
    const waits = context.buffered > 0 || context.credit <= 0;
    if (waits && context.buffered >= this.config.maxPending) {
      this.drop(context.logger);
      if (msg.reply) this.answer(msg, 'dropped: the relay is saturated (core NATS max_pending reached)');
      return;
    }
    const { metadata, id, key } = decodeHeaders(msg.headers, this.wildcard ? msg.subject : undefined);
    // the message takes the payload as a Buffer over the same bytes (no copy)
    context.push({ id, key, metadata, body: msg.data }, msg);
  }

  private drop(logger: Logger): void {
    this.dropped++;
    this.droppedSinceWarning++;
    const now = Date.now();
    if (now - this.lastDropWarning >= DROP_WARNING_INTERVAL_MS) {
      logger.warn(
        { subject: this.config.subject, dropped: this.droppedSinceWarning, droppedTotal: this.dropped, maxPending: this.config.maxPending },
        `nats: dropped ${this.droppedSinceWarning} message(s) on '${this.config.subject}': the credit window and the max_pending ` +
          `buffer (${this.config.maxPending}) are full because the sink is slower than the publishers. Core NATS is at most once; ` +
          'use JetStream (?stream=STREAM&consumer=NAME) to keep every message, or scale out with ?queue=GROUP',
      );
      this.lastDropWarning = now;
      this.droppedSinceWarning = 0;
    }
  }

  private answer(msg: Msg, error?: string): void {
    try {
      if (error === undefined) msg.respond();
      else {
        const headers = natsHeaders();
        headers.set(NACK_ERROR_HEADER, error.replace(/[\r\n]+/g, ' '));
        msg.respond(undefined, { headers });
      }
    } catch {
      // the connection is gone: the requester times out and may retry
    }
  }

  ack(msg: Msg): void {
    if (msg.reply) this.answer(msg);
  }

  nack(msg: Msg, error: Error): void {
    // the runtime gives back what still waited in its buffer when intake stopped, before it stops this driver
    if (error instanceof ShutdownError && !this.stopped) this.givenBack++;
    if (msg.reply) this.answer(msg, error.message || 'nacked');
    else
      this.context?.logger.debug(
        { subject: msg.subject, err: error },
        'nats: a nacked core NATS message is not redelivered (at most once)',
      );
  }

  stopIntake(): void {
    if (this.stopped) return;
    this.stopped = true;
    // leave the queue group at once, so that its other members take what is published from now on
    this.subscription?.unsubscribe();
    if (this.givenBack > 0) {
      this.context?.logger.warn(
        { subject: this.config.subject, dropped: this.givenBack },
        `nats: ${this.givenBack} buffered core NATS message(s) were not taken before shutdown and are lost (at most once)`,
      );
    }
  }

  async close(): Promise<void> {
    this.stopIntake();
    if (this.dropped > 0) {
      this.context?.logger.warn(
        { subject: this.config.subject, droppedTotal: this.dropped },
        `nats: ${this.dropped} message(s) on '${this.config.subject}' were dropped in all because the pipeline was saturated (core NATS, at most once)`,
      );
    }
    await this.link.close();
  }
}

function isEmpty(record: Readonly<Record<string, string>>): boolean {
  for (const _name in record) return false;
  return true;
}

/** The core NATS sink: publishes a batch, then confirms it with one flush (the server received all of it). */
export class NatsCoreSink extends NatsSinkDriver {
  /** Connects at start-up, so that a server out of reach stops the start after NATS_CONNECT_TIMEOUT. */
  async start(): Promise<void> {
    await this.link.connect();
  }

  async write(batch: readonly Message[]): Promise<WriteResult> {
    const connection = await this.link.connect();
    const maxPayload = connection.info?.max_payload ?? Number.POSITIVE_INFINITY;
    const results: (Error | undefined)[] = new Array(batch.length);
    let published = 0;
    for (let i = 0; i < batch.length; i++) {
      const message = batch[i];
      const oversized = oversizedBody(message, maxPayload, this.link.host);
      if (oversized !== undefined) {
        results[i] = oversized;
        continue;
      }
      try {
        // a message with no metadata and no key goes out plain: what plain NATS subscribers expect, and header
        // encoding is a large share of the per-message cost at 100k messages a second
        if (message.key === undefined && isEmpty(message.metadata)) connection.publish(this.subject, message.body);
        else connection.publish(this.subject, message.body, { headers: encodeHeaders(message, this.subject) });
        published++;
      } catch (error) {
        // nats.js checks the size (headers included) before sending: an invalid argument will not become valid
        results[i] =
          error instanceof errors.InvalidArgumentError
            ? new PermanentError(
                `nats (${this.link.host}): the message and its headers are larger than the server's max_payload (${maxPayload} bytes)`,
                { cause: error },
              )
            : this.link.error(`publishing to '${this.subject}' failed: ${(error as Error).message}`, error);
      }
    }
    if (published > 0) {
      try {
        await withTimeout(connection.flush(), this.timeoutMs, () =>
          this.link.error(`the server did not confirm a flush within ${this.timeoutMs} ms (disconnected?)`),
        );
      } catch (error) {
        const failure = error instanceof ConnectorError ? error : this.link.error(`flush failed: ${(error as Error).message}`, error);
        for (let i = 0; i < batch.length; i++) results[i] ??= failure;
      }
    }
    return results;
  }
}
