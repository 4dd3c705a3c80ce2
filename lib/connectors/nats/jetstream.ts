// JetStream (at least once): a durable pull consumer with explicit acks whose max_ack_pending follows the credit
// window, acked on settlement and nak'ed with a growing delay on nack; and a publisher that waits for each PubAck and
// sets Nats-Msg-Id, so that a redelivered message is stored once within the stream's duplicate window.
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy, JetStreamApiError } from '@nats-io/jetstream';
import { exponentialBackoff } from '../../backoff';
import type { ConsumerConfig, ConsumerInfo, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { SourceContext, SourceDriver } from '../../source';
import type { SinkDriver, WriteResult } from '../../sink';
import type { Message } from '../../message';
import { ConnectorError, PermanentError } from '../../errors';
import { CreditBuffer } from '../../creditBuffer';
import { NatsLink, decodeHeaders, encodeHeaders, isWildcard, oversizedBody } from './link';

const API_CONSUMER_NOT_FOUND = 10014;
const API_STREAM_NOT_FOUND = 10059;
/** Longest delay of a nak, however often a message failed. */
const MAX_NAK_DELAY_MS = 60_000;

export interface JetStreamSourceConfig {
  subject: string;
  /** The stream; found from the subject when not given. */
  stream?: string;
  consumer: string;
  maxInFlight: number;
  ackWaitMs: number;
  /** The consumer's max_deliver (-1 = no limit); undefined keeps an existing consumer's value. */
  maxDeliver?: number;
  /** Delay of the first nak; doubled at each further delivery, up to a minute. */
  nakDelayMs: number;
  deliverPolicy: 'all' | 'new' | 'last';
}

const DELIVER_POLICIES = { all: DeliverPolicy.All, new: DeliverPolicy.New, last: DeliverPolicy.Last } as const;

function apiCode(error: unknown): number | undefined {
  return error instanceof JetStreamApiError ? error.code : undefined;
}

/** The nak delay for a message delivered `deliveries` times. */
export function nakDelay(baseMs: number, deliveries: number): number {
  return exponentialBackoff(baseMs, deliveries, MAX_NAK_DELAY_MS);
}

export class JetStreamSource implements SourceDriver<JsMsg> {
  readonly scheme = 'nats';
  private context: SourceContext<JsMsg> | undefined;
  private messages: ConsumerMessages | undefined;
  private streamName = '';
  /** Messages the server sent beyond the local credit (only when max_ack_pending could not follow maxInFlight). */
  private readonly overflow = new CreditBuffer<JsMsg>((msg) => this.deliver(msg, this.context as SourceContext<JsMsg>));
  private stopping = false;
  private readonly wildcard: boolean;

  constructor(
    private readonly config: JetStreamSourceConfig,
    private readonly link: NatsLink,
  ) {
    this.wildcard = isWildcard(config.subject);
  }

  get ready(): boolean {
    return this.link.ready && this.messages !== undefined && !this.stopping;
  }

  async start(context: SourceContext<JsMsg>): Promise<void> {
    this.context = context;
    this.overflow.attach(context);
    const connection = await this.link.connect();
    let manager: JetStreamManager;
    try {
      manager = await jetstreamManager(connection);
    } catch (error) {
      throw this.link.error(`JetStream is not available (${(error as Error).message}); start the server with -js`, error, false);
    }
    this.streamName = await this.resolveStream(manager);
    const info = await this.ensureConsumer(manager);
    if (this.stopping) return;
    const consumer = await jetstream(connection).consumers.get(this.streamName, info.name);
    this.messages = await consumer.consume({
      max_messages: this.config.maxInFlight,
      callback: (msg) => this.arrived(msg),
    });
    void this.watch(this.messages);
    context.logger.info(
      { subject: this.config.subject, stream: this.streamName, consumer: info.name, maxAckPending: info.config.max_ack_pending },
      `nats: consuming '${this.config.subject}' from stream '${this.streamName}' with durable consumer '${info.name}' (JetStream, at least once)`,
    );
  }

  private async resolveStream(manager: JetStreamManager): Promise<string> {
    const { subject, stream } = this.config;
    if (stream !== undefined) {
      try {
        await manager.streams.info(stream);
      } catch (error) {
        if (apiCode(error) === API_STREAM_NOT_FOUND) {
          throw this.link.error(
            `stream '${stream}' does not exist; create it first, for example: nats stream add ${stream} --subjects '${subject}'`,
            error,
            false,
          );
        }
        throw this.link.error(`cannot read stream '${stream}': ${(error as Error).message}`, error);
      }
      return stream;
    }
    try {
      return await manager.streams.find(subject);
    } catch (error) {
      throw this.link.error(
        `no stream captures '${subject}' (${(error as Error).message}); create one or name it with ?stream=NAME`,
        error,
        false,
      );
    }
  }

  /** Creates the durable consumer, or checks an existing one and makes its limits follow this configuration. */
  private async ensureConsumer(manager: JetStreamManager): Promise<ConsumerInfo> {
    const { subject, consumer, maxInFlight, ackWaitMs, maxDeliver, deliverPolicy } = this.config;
    const stream = this.streamName;
    let info: ConsumerInfo | undefined;
    try {
      info = await manager.consumers.info(stream, consumer);
    } catch (error) {
      if (apiCode(error) !== API_CONSUMER_NOT_FOUND) {
        throw this.link.error(`cannot read consumer '${consumer}' of stream '${stream}': ${(error as Error).message}`, error);
      }
    }
    if (info === undefined) {
      const config: Partial<ConsumerConfig> = {
        durable_name: consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DELIVER_POLICIES[deliverPolicy],
        filter_subject: subject,
        max_ack_pending: maxInFlight,
        ack_wait: nanos(ackWaitMs),
        max_deliver: maxDeliver ?? -1,
      };
      try {
        return await manager.consumers.add(stream, config);
      } catch (error) {
        // another copy of this pipeline may have created it a moment ago
        try {
          info = await manager.consumers.info(stream, consumer);
        } catch {
          throw this.link.error(`cannot create consumer '${consumer}' on stream '${stream}': ${(error as Error).message}`, error, false);
        }
      }
    }
    const existing = info.config;
    if (existing.ack_policy !== AckPolicy.Explicit) {
      throw this.link.error(
        `consumer '${consumer}' of stream '${stream}' acks with policy '${existing.ack_policy}'; wasm-pipes needs explicit acks: choose another consumer name or delete it`,
        undefined,
        false,
      );
    }
    if (existing.deliver_subject) {
      throw this.link.error(`consumer '${consumer}' of stream '${stream}' is a push consumer; choose a pull consumer name`, undefined, false);
    }
    const filter = existing.filter_subject ?? '';
    if (filter !== subject && filter !== '') {
      throw this.link.error(
        `consumer '${consumer}' of stream '${stream}' takes '${filter}', not '${subject}'; use nats://${filter}?stream=${stream}&consumer=${consumer} or another consumer name`,
        undefined,
        false,
      );
    }
    const changes: { max_ack_pending?: number; ack_wait?: number; max_deliver?: number } = {};
    if (existing.max_ack_pending !== maxInFlight) changes.max_ack_pending = maxInFlight;
    if (existing.ack_wait !== nanos(ackWaitMs)) changes.ack_wait = nanos(ackWaitMs);
    if (maxDeliver !== undefined && existing.max_deliver !== maxDeliver) changes.max_deliver = maxDeliver;
    if (Object.keys(changes).length === 0) return info;
    try {
      return await manager.consumers.update(stream, consumer, { ...changes });
    } catch (error) {
      this.context?.logger.warn(
        { stream, consumer, changes, err: (error as Error).message },
        `nats: could not update consumer '${consumer}' (${(error as Error).message}); it keeps max_ack_pending ${existing.max_ack_pending}`,
      );
      return info;
    }
  }

  private async watch(messages: ConsumerMessages): Promise<void> {
    const logger = (this.context as SourceContext<JsMsg>).logger;
    try {
      for await (const status of messages.status()) {
        switch (status.type) {
          case 'consumer_deleted':
          case 'consumer_not_found':
          case 'stream_not_found':
            logger.error({ status }, `nats: ${status.type.replace(/_/g, ' ')} (stream '${this.streamName}', consumer '${this.config.consumer}'); waiting for it to come back`);
            break;
          case 'heartbeats_missed':
            logger.debug({ count: status.count }, 'nats: JetStream heartbeats missed');
            break;
          default:
            break;
        }
      }
    } catch {
      // the iterator ends when the consumer stops
    }
  }

  private arrived(msg: JsMsg): void {
    if (this.stopping) {
      // taken after intake stopped: give it back at once, for another copy of the pipeline or the next start
      msg.nak();
      return;
    }
    this.overflow.offer(msg);
  }

  private deliver(msg: JsMsg, context: SourceContext<JsMsg>): void {
    const { metadata, id, key } = decodeHeaders(msg.headers, this.wildcard ? msg.subject : undefined);
    context.receive(
      {
        // a message without Nats-Msg-Id keeps one id across redeliveries: its place in the stream
        id: id ?? `${this.streamName}:${msg.seq}`,
        key,
        metadata,
        body: msg.data, // taken as a Buffer over the same bytes (no copy)
        deliveryCount: msg.info.deliveryCount,
      },
      msg,
    );
  }

  ack(msg: JsMsg): void {
    msg.ack();
  }

  nack(msg: JsMsg, _error: Error): void {
    // on shutdown, hand it back at once; otherwise back off, so that a failing message does not spin
    msg.nak(this.stopping ? undefined : nakDelay(this.config.nakDelayMs, msg.info.deliveryCount));
  }

  stopIntake(): void {
    if (this.stopping) return;
    this.stopping = true;
    for (const msg of this.overflow.close()) msg.nak();
    this.messages?.stop();
  }

  async close(): Promise<void> {
    this.stopIntake();
    // drain sends the acks and naks still buffered before closing
    await this.link.close();
  }
}

function isNoResponders(error: unknown): boolean {
  const text = `${(error as Error)?.name} ${(error as Error)?.message}`.toLowerCase();
  return text.includes('no responders') || text.includes('jetstreamnotenabled') || text.includes('jetstream is not enabled');
}

/** The JetStream sink: publishes each message of a batch and settles each on its PubAck (or its failure). */
export class JetStreamSink implements SinkDriver {
  readonly scheme = 'nats';
  private client: JetStreamClient | undefined;

  constructor(
    private readonly subject: string,
    private readonly link: NatsLink,
    private readonly timeoutMs: number,
  ) {}

  get ready(): boolean {
    return this.link.probe();
  }

  async write(batch: readonly Message[]): Promise<WriteResult> {
    const connection = await this.link.connect();
    if (this.client === undefined || this.link.current !== connection) this.client = jetstream(connection, { timeout: this.timeoutMs });
    const client = this.client;
    const maxPayload = connection.info?.max_payload ?? Number.POSITIVE_INFINITY;
    return Promise.all(
      batch.map((message) => {
        const oversized = oversizedBody(message, maxPayload, this.link.host);
        if (oversized !== undefined) return oversized;
        return client
          .publish(this.subject, message.body, { msgID: message.id, headers: encodeHeaders(message), timeout: this.timeoutMs })
          .then(
            () => undefined,
            (error: unknown) => this.failure(error),
          );
      }),
    );
  }

  private failure(error: unknown): Error {
    const reason = (error as Error)?.message ?? String(error);
    if (isNoResponders(error)) {
      return this.link.error(
        `no JetStream stream captures '${this.subject}' (no responders); create one, for example: nats stream add OUT --subjects '${this.subject}'`,
        error,
      );
    }
    if (/maximum (message )?payload|message size exceeds|max_payload/i.test(reason)) {
      return new PermanentError(`nats (${this.link.host}): ${reason}`, { cause: error });
    }
    if (error instanceof ConnectorError) return error;
    return this.link.error(`publishing to '${this.subject}' was not confirmed: ${reason}`, error);
  }

  async close(): Promise<void> {
    await this.link.close();
  }
}
