// JetStream (at least once): a durable pull consumer with explicit acks whose max_ack_pending follows the credit
// window, acked on settlement, nak'ed with a growing delay on nack, and kept from redelivering what the pipeline still
// holds by in-progress acks; its readiness turns false when the consumer stalls. And a publisher that waits for each
// PubAck and sets Nats-Msg-Id per subject, so that a redelivered message is stored once within the stream's duplicate
// window while copies on other subjects are all stored.
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { exponentialBackoff } from '../../backoff';
import type { ConsumerConfig, ConsumerInfo, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { errors, millis, nanos } from '@nats-io/transport-node';
import type { SourceContext, SourceDriver } from '../../source';
import type { SinkDriver, WriteResult } from '../../sink';
import type { Message } from '../../message';
import { ConnectorError, PermanentError } from '../../errors';
import { CreditBuffer } from '../../creditBuffer';
import { NatsLink, decodeHeaders, encodeHeaders, isWildcard, oversizedBody } from './link';

/** Longest delay of a nak, however often a message failed. */
const MAX_NAK_DELAY_MS = 60_000;
/**
 * JetStream API error codes (nats-server's errors.json) beyond those nats.js names in JetStreamApiCodes: a message
 * larger than the stream's max_msg_size, which no retry will store.
 */
const API_MESSAGE_TOO_LARGE = 10054;

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
  /** How long the consumer may have work for this source without anything moving before `ready` turns false. */
  stallAfterMs: number;
}

const DELIVER_POLICIES = { all: DeliverPolicy.All, new: DeliverPolicy.New, last: DeliverPolicy.Last } as const;

function apiCode(error: unknown): number | undefined {
  return error instanceof JetStreamApiError ? error.code : undefined;
}

/** The nak delay for a message delivered `deliveries` times. */
export function nakDelay(baseMs: number, deliveries: number): number {
  return exponentialBackoff(baseMs, deliveries, MAX_NAK_DELAY_MS);
}

/**
 * The ack waits of the JetStream sources of this process, while they run: a JetStream sink checks its stream's
 * duplicate window against them at start-up (a redelivery after a crash comes one ack wait later).
 */
const runningAckWaits = new Set<JetStreamSourceConfig>();

function longestRunningAckWait(): number | undefined {
  let longest: number | undefined;
  for (const config of runningAckWaits) longest = Math.max(longest ?? 0, config.ackWaitMs);
  return longest;
}

export class JetStreamSource implements SourceDriver<JsMsg> {
  readonly scheme = 'nats';
  private context: SourceContext<JsMsg> | undefined;
  private manager: JetStreamManager | undefined;
  private messages: ConsumerMessages | undefined;
  private streamName = '';
  /** Messages the server sent beyond the local credit (only when max_ack_pending could not follow maxInFlight). */
  private readonly overflow = new CreditBuffer<JsMsg>((msg) => this.deliver(msg, this.context as SourceContext<JsMsg>));
  /**
   * Every message taken from the server and not yet settled, with when its ack timer last started (delivery or the
   * last in-progress ack), oldest first: the ones held past half the ack wait get an in-progress ack.
   */
  private readonly held = new Map<JsMsg, number>();
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  /** When something last moved: a message arrived here, or the consumer's delivered or ack floor sequence moved. */
  private lastProgress = Date.now();
  private arrivedSinceCheck = false;
  /** A consumer info request is on its way (a slow server must not pile them up). */
  private checking = false;
  private progressMark = '';
  private stalled = false;
  /** The consumer's ack wait as the server has it (an existing consumer that could not be updated keeps its own). */
  private ackWaitMs: number;
  private stopping = false;
  private readonly wildcard: boolean;

  constructor(
    private readonly config: JetStreamSourceConfig,
    private readonly link: NatsLink,
  ) {
    this.wildcard = isWildcard(config.subject);
    this.ackWaitMs = config.ackWaitMs;
  }

  /** Connected, consuming, and not stalled (see checkStall). */
  get ready(): boolean {
    return this.link.ready && this.messages !== undefined && !this.stopping && !this.stalled;
  }

  async start(context: SourceContext<JsMsg>): Promise<void> {
    this.context = context;
    this.overflow.attach(context);
    runningAckWaits.add(this.config);
    const connection = await this.link.connect();
    let manager: JetStreamManager;
    try {
      manager = await jetstreamManager(connection);
    } catch (error) {
      throw this.link.error(`JetStream is not available (${(error as Error).message}); start the server with -js`, error, false);
    }
    this.manager = manager;
    this.streamName = await this.resolveStream(manager);
    const info = await this.ensureConsumer(manager);
    if (this.stopping) return;
    const consumer = await jetstream(connection).consumers.get(this.streamName, info.name);
    this.messages = await consumer.consume({
      max_messages: this.config.maxInFlight,
      callback: (msg) => this.arrived(msg),
    });
    if (this.stopping) {
      // stopped while the consumer was being set up: take nothing
      this.messages.stop();
      return;
    }
    void this.watch(this.messages);
    if (info.config.ack_wait !== undefined) this.ackWaitMs = millis(info.config.ack_wait);
    const ackWaitMs = this.ackWaitMs;
    // an in-progress ack restarts the server's ack timer: sent for messages held past half the ack wait, checked
    // four times per ack wait, so that none is redelivered while this process still holds it
    this.keepAliveTimer = setInterval(() => this.keepAlive(), Math.max(250, Math.floor(ackWaitMs / 4)));
    this.keepAliveTimer.unref();
    this.lastProgress = Date.now();
    this.stallTimer = setInterval(() => void this.checkStall(), Math.max(250, Math.min(5000, Math.floor(this.config.stallAfterMs / 2))));
    this.stallTimer.unref();
    context.logger.info(
      {
        subject: this.config.subject,
        stream: this.streamName,
        consumer: info.name,
        maxAckPending: info.config.max_ack_pending,
        ackWaitMs,
      },
      `nats: consuming '${this.config.subject}' from stream '${this.streamName}' with durable consumer '${info.name}' (JetStream, at least once)`,
    );
  }

  private async resolveStream(manager: JetStreamManager): Promise<string> {
    const { subject, stream } = this.config;
    if (stream !== undefined) {
      try {
        await manager.streams.info(stream);
      } catch (error) {
        if (apiCode(error) === JetStreamApiCodes.StreamNotFound) {
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
      if (apiCode(error) !== JetStreamApiCodes.ConsumerNotFound) {
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
    this.held.set(msg, Date.now());
    this.arrivedSinceCheck = true;
    this.overflow.offer(msg);
  }

  private deliver(msg: JsMsg, context: SourceContext<JsMsg>): void {
    const { metadata, id, key } = decodeHeaders(msg.headers, this.wildcard ? msg.subject : undefined);
    context.receive(
      {
        // a message without an id keeps one id across redeliveries: its place in the stream
        id: id ?? `${this.streamName}:${msg.seq}`,
        key,
        metadata,
        body: msg.data, // taken as a Buffer over the same bytes (no copy)
        deliveryCount: msg.info.deliveryCount,
      },
      msg,
    );
  }

  /** Sends an in-progress ack for each message held past half the ack wait (the oldest come first in `held`). */
  private keepAlive(): void {
    const now = Date.now();
    const due = now - this.ackWaitMs / 2;
    for (const [msg, since] of this.held) {
      if (since > due) break;
      try {
        msg.working();
      } catch {
        // the connection is closed: the server redelivers it after the ack wait, as after a crash
      }
      // to the end of the map, which stays ordered by when each ack timer started
      this.held.delete(msg);
      this.held.set(msg, now);
    }
  }

  /**
   * The consumer is stalled when, for stallAfterMs, it has work for this source while nothing moves: this source has
   * room for more messages; the consumer has messages not yet delivered, or more delivered and unacknowledged than this
   * source holds (a crashed copy's, which come back only after the ack wait); and nothing arrived here while the
   * consumer's delivered and ack floor sequences stood still (so copies sharing the consumer that make progress keep
   * it unstalled). Asked of the server only when nothing arrived since the last check.
   */
  private async checkStall(): Promise<void> {
    const manager = this.manager;
    if (manager === undefined || this.stopping || this.checking) return;
    const now = Date.now();
    if (this.arrivedSinceCheck || this.held.size >= this.config.maxInFlight) {
      this.arrivedSinceCheck = false;
      this.progressed(now);
      return;
    }
    this.checking = true;
    try {
      const info = await manager.consumers.info(this.streamName, this.config.consumer);
      const mark = `${info.delivered.consumer_seq}/${info.ack_floor.consumer_seq}`;
      const waiting = info.num_pending > 0 || info.num_ack_pending > this.held.size;
      // a consumer whose max_ack_pending could not follow maxInFlight gives no more than that: a full window, not a stall
      const full = info.config.max_ack_pending !== undefined && info.config.max_ack_pending > 0 && this.held.size >= info.config.max_ack_pending;
      if (mark !== this.progressMark || !waiting || full) {
        this.progressMark = mark;
        this.progressed(now);
        return;
      }
    } catch {
      // no answer (server away, consumer deleted): nothing moves either
    } finally {
      this.checking = false;
    }
    if (this.arrivedSinceCheck || this.stopping) return;
    if (!this.stalled && now - this.lastProgress >= this.config.stallAfterMs) {
      this.stalled = true;
      this.context?.logger.warn(
        { stream: this.streamName, consumer: this.config.consumer, stalledForMs: now - this.lastProgress, ackWaitMs: this.ackWaitMs },
        `nats: consumer '${this.config.consumer}' of stream '${this.streamName}' has messages waiting but delivered nothing for ` +
          `${Math.round((now - this.lastProgress) / 1000)} s; not ready until it moves (messages a stopped copy held come back after the ack wait, ` +
          `${this.ackWaitMs} ms)`,
      );
    }
  }

  private progressed(now: number): void {
    this.lastProgress = now;
    if (this.stalled) {
      this.stalled = false;
      this.context?.logger.info({ stream: this.streamName, consumer: this.config.consumer }, `nats: consumer '${this.config.consumer}' moves again`);
    }
  }

  ack(msg: JsMsg): void {
    this.held.delete(msg);
    msg.ack();
  }

  nack(msg: JsMsg, _error: Error): void {
    this.held.delete(msg);
    // on shutdown, hand it back at once; otherwise back off, so that a failing message does not spin
    msg.nak(this.stopping ? undefined : nakDelay(this.config.nakDelayMs, msg.info.deliveryCount));
  }

  stopIntake(): void {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.stallTimer);
    for (const msg of this.overflow.close()) {
      this.held.delete(msg);
      msg.nak();
    }
    this.messages?.stop();
  }

  async close(): Promise<void> {
    this.stopIntake();
    clearInterval(this.stallTimer);
    clearInterval(this.keepAliveTimer);
    runningAckWaits.delete(this.config);
    // drain sends the acks and naks still buffered before closing
    await this.link.close();
  }
}

/** Whether a publish failed because nothing answers on the subject: no stream captures it (or no JetStream). */
function isNoResponders(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof errors.NoRespondersError) return true;
    if (cause instanceof errors.RequestError && cause.isNoResponders()) return true;
  }
  return false;
}

/** A publish that cannot succeed however often it is tried: too large for the server or the stream, a bad subject. */
function isUnpublishable(error: unknown): boolean {
  return error instanceof errors.InvalidArgumentError || error instanceof errors.InvalidSubjectError || apiCode(error) === API_MESSAGE_TOO_LARGE;
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

  /**
   * At start-up: connects (within NATS_CONNECT_TIMEOUT), finds the stream that captures the subject (none is a
   * start-up failure), and warns when its duplicate window cannot cover a redelivery by a JetStream source of this
   * process (one ack wait after the first copy was written, plus the restart).
   */
  async start(): Promise<void> {
    const connection = await this.link.connect();
    let stream: string;
    let duplicateWindowMs: number;
    try {
      const manager = await jetstreamManager(connection);
      stream = await manager.streams.find(this.subject);
      duplicateWindowMs = millis((await manager.streams.info(stream)).config.duplicate_window ?? 0);
    } catch (error) {
      if (isNoResponders(error)) throw this.link.error(`JetStream is not available (${(error as Error).message}); start the server with -js`, error, false);
      if (apiCode(error) === JetStreamApiCodes.StreamNotFound) throw this.noStream(error, false);
      throw this.link.error(`cannot find the stream of '${this.subject}': ${(error as Error).message}`, error, false);
    }
    const ackWaitMs = longestRunningAckWait();
    if (ackWaitMs !== undefined && duplicateWindowMs < 2 * ackWaitMs) {
      this.link.logger.warn(
        { stream, subject: this.subject, duplicateWindowMs, ackWaitMs },
        `nats: stream '${stream}' remembers message ids for ${duplicateWindowMs} ms, less than twice the JetStream source's ack wait ` +
          `(${ackWaitMs} ms): a message redelivered after a crash may be stored twice. Lengthen the window ` +
          `(nats stream edit ${stream} --dupe-window ${Math.ceil((2 * ackWaitMs) / 60_000)}m) or shorten ?ack_wait`,
      );
    }
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
        // Nats-Msg-Id comes from encodeHeaders (scoped by the subject), not from the client's msgID option
        return client.publish(this.subject, message.body, { headers: encodeHeaders(message, this.subject), timeout: this.timeoutMs }).then(
          () => undefined,
          (error: unknown) => this.failure(error),
        );
      }),
    );
  }

  private noStream(error: unknown, retryable: boolean): ConnectorError {
    return this.link.error(
      `no JetStream stream captures '${this.subject}'; create one, for example: nats stream add OUT --subjects '${this.subject}'`,
      error,
      retryable,
    );
  }

  private failure(error: unknown): Error {
    // a stream may be created (or come back) meanwhile: retried, then dead-lettered or nacked
    if (isNoResponders(error)) return this.noStream(error, true);
    if (isUnpublishable(error)) return new PermanentError(`nats (${this.link.host}): ${(error as Error).message}`, { cause: error });
    if (error instanceof ConnectorError) return error;
    return this.link.error(`publishing to '${this.subject}' was not confirmed: ${(error as Error)?.message ?? String(error)}`, error);
  }

  async close(): Promise<void> {
    await this.link.close();
  }
}
