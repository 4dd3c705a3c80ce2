// JetStream (at least once): a durable pull consumer with explicit acks whose max_ack_pending follows the credit
// window, read by a pull driver (receiveBatch asks for what fits in the window), acked on settlement, nak'ed with a growing delay on nack, and kept from redelivering what the pipeline still
// holds by in-progress acks; its readiness turns false when the consumer stalls. And a publisher that waits for each
// PubAck and sets Nats-Msg-Id per subject, so that a redelivered message is stored once within the stream's duplicate
// window while copies on other subjects are all stored.
import {
  jetstream,
  jetstreamManager,
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  JetStreamError,
} from '@nats-io/jetstream';
import { exponentialBackoff } from '../../backoff';
import type {
  ConsumeCallback,
  Consumer,
  ConsumerConfig,
  ConsumerInfo,
  ConsumerMessages,
  FetchMessages,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
} from '@nats-io/jetstream';
import { errors, millis, nanos } from '@nats-io/transport-node';
import type { Delivery, SourceContext, SourceDriver } from '../../source';
import type { WriteResult } from '../../sink';
import type { Message } from '../../message';
import { ConnectorError, PermanentError, ShutdownError } from '../../errors';
import { Fifo } from '../../fifo';
import { type NatsLink, NatsSinkDriver, decodeHeaders, encodeHeaders, isWildcard, oversizedBody } from './link';
import { wakeableWait } from '../../wakeableWait';

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

/** The status code of a failed pull request (nats.js's JetStreamStatusError, a JetStreamError with the code). */
function statusCode(error: unknown): number | undefined {
  if (!(error instanceof JetStreamError)) return undefined;
  const code = (error as JetStreamError & { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
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

/**
 * How long one pull request waits on the server for messages, and so how long a receiveBatch with nothing to take waits
 * before it comes back empty: nats.js's own default (a short one stresses the server).
 */
const PULL_EXPIRES_MS = 30_000;

/**
 * A JetStream source, a pull driver: receiveBatch(max) asks the consumer for at most `max` messages (the room in the
 * credit window) with one pull request, and returns what has arrived as soon as something has, without waiting for
 * the request to fill: a message published into an idle stream is not held back for the pull's 30 s expiry. The
 * request stays open on the server until it is filled or expires, and what it brings later waits here for the next
 * receiveBatch; a new request is made only once it is over. So the server is never asked for more than fits in the
 * window, and the consumer's max_ack_pending (= maxInFlight) bounds what it may send.
 */
export class JetStreamSource implements SourceDriver<JsMsg> {
  readonly scheme = 'nats';
  /** The consumer's max_batch when it has one (an existing consumer): a larger pull request would be refused. */
  maxBatch: number | undefined;
  private context: SourceContext<JsMsg> | undefined;
  private manager: JetStreamManager | undefined;
  private consumer: Consumer | undefined;
  private streamName = '';
  /** Runs for the life of one pull request (undefined between requests); `pull` is nats.js's handle on it, once made. */
  private pulling: Promise<void> | undefined;
  private pull: ConsumerMessages | undefined;
  private pullExpiresMs = PULL_EXPIRES_MS;
  /** Why the last pull request failed, for the next receiveBatch to throw (the runtime then backs off). */
  private pullFailure: unknown;
  /** A pull request failed: check that the consumer exists before the next one. */
  private checkConsumer = false;
  /** Taken from the server, not yet returned by receiveBatch, oldest first. */
  private readonly taken = new Fifo<JsMsg>();
  /** Wakes a receiveBatch waiting for messages (an arrival, the end of a pull request, intake stopped). */
  private wakeReceiver: (() => void) | undefined;
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

  /** Connected, its consumer found, and not stalled (see checkStall). */
  get ready(): boolean {
    return this.link.ready && this.consumer !== undefined && !this.stopping && !this.stalled;
  }

  async start(context: SourceContext<JsMsg>): Promise<void> {
    this.context = context;
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
    const consumerConfig = info.config;
    if (consumerConfig.ack_wait !== undefined) this.ackWaitMs = millis(consumerConfig.ack_wait);
    // limits an existing consumer may have, which a pull request must keep within or be refused (409)
    if (consumerConfig.max_batch !== undefined && consumerConfig.max_batch > 0) this.maxBatch = consumerConfig.max_batch;
    if (consumerConfig.max_expires !== undefined && consumerConfig.max_expires > 0) {
      this.pullExpiresMs = Math.max(1000, Math.min(PULL_EXPIRES_MS, millis(consumerConfig.max_expires)));
    }
    this.consumer = await jetstream(connection).consumers.get(this.streamName, info.name);
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
        maxAckPending: consumerConfig.max_ack_pending,
        ackWaitMs,
      },
      `nats: consuming '${this.config.subject}' from stream '${this.streamName}' with durable consumer '${info.name}' (JetStream, at least once)`,
    );
  }

  async receiveBatch(max: number, signal: AbortSignal): Promise<Delivery<JsMsg>[]> {
    if (this.stopping || signal.aborted) return [];
    if (this.taken.length === 0) {
      if (this.pulling === undefined) {
        // after a failure, make sure the consumer is there first: a pull request for a deleted consumer gets no
        // answer at all (it would wait out two missed heartbeats), while its info says at once that it is gone
        if (this.checkConsumer) {
          await this.consumerExists();
          this.checkConsumer = false;
        }
        if (this.stopping || signal.aborted) return [];
        this.openPull(max);
      }
      await this.nextArrival(signal);
    }
    if (this.taken.length === 0) {
      const failure = this.pullFailure;
      this.pullFailure = undefined;
      if (failure !== undefined && !this.stopping) {
        this.checkConsumer = true;
        throw this.pullError(failure);
      }
      // the pull request expired with nothing to take (an idle stream): the runtime asks again
      return [];
    }
    const batch: Delivery<JsMsg>[] = [];
    while (batch.length < max && this.taken.length > 0) batch.push(this.delivery(this.taken.shift() as JsMsg));
    return batch;
  }

  /** Throws a retryable ConnectorError naming the consumer when it (or its stream) is not there. */
  private async consumerExists(): Promise<void> {
    const { consumer } = this.config;
    try {
      await (this.manager as JetStreamManager).consumers.info(this.streamName, consumer);
    } catch (error) {
      const code = apiCode(error);
      if (code === JetStreamApiCodes.ConsumerNotFound || code === JetStreamApiCodes.StreamNotFound) {
        const missing =
          code === JetStreamApiCodes.StreamNotFound
            ? `stream '${this.streamName}'`
            : `consumer '${consumer}' of stream '${this.streamName}'`;
        throw this.link.error(`${missing} does not exist (deleted?); trying again until it is back`, error);
      }
      throw this.link.error(`cannot read consumer '${consumer}' of stream '${this.streamName}': ${(error as Error).message}`, error);
    }
  }

  /** Opens one pull request for up to `max` messages; they arrive through `arrived`, and its end wakes the receiver. */
  private openPull(max: number): void {
    const consumer = this.consumer as Consumer;
    this.pulling = (async () => {
      try {
        // a callback rather than the iterator: a burst of messages is handed over in one go, not one per microtask.
        // nats.js honours it for fetch as for consume (its options type lists it only for consume)
        const options: FetchMessages & ConsumeCallback = {
          max_messages: max,
          expires: this.pullExpiresMs,
          callback: (msg) => this.arrived(msg),
        };
        const pull = await consumer.fetch(options);
        this.pull = pull;
        if (this.stopping) pull.stop();
        const failure = await pull.closed();
        if (failure) this.pullFailure = failure;
      } catch (error) {
        this.pullFailure = error;
      } finally {
        this.pull = undefined;
        this.pulling = undefined;
        this.wake();
      }
    })();
  }

  /** Resolves once a message was taken, the pull request is over, or `signal` aborted (intake stopped). */
  private nextArrival(signal: AbortSignal): Promise<void> {
    if (this.taken.length > 0 || this.pulling === undefined) return Promise.resolve();
    return wakeableWait(signal, { wake: (end) => (this.wakeReceiver = end), ended: () => (this.wakeReceiver = undefined) });
  }

  private wake(): void {
    this.wakeReceiver?.();
  }

  /** A failed pull request, classified by nats.js's error classes and the JetStream status code. */
  private pullError(error: unknown): ConnectorError {
    const { consumer } = this.config;
    const where = `consumer '${consumer}' of stream '${this.streamName}'`;
    const text = (error as Error)?.message ?? String(error);
    // the status code of the server's answer to the pull request: 400, the request itself is bad, and will be again;
    // 409 (consumer deleted, a limit) and 503 (no responders: the consumer or its stream is away) are retried, so that
    // the source resumes once they are back
    const status = statusCode(error);
    if (status === 400) return this.link.error(`pulling from ${where} was refused: ${text}`, error, false);
    if (status === 503) {
      return this.link.error(
        `nothing answers for ${where} (${text}): deleted, or the server restarting? Trying again until it is back`,
        error,
      );
    }
    return this.link.error(`pulling from ${where} failed: ${text}`, error);
  }

  private arrived(msg: JsMsg): void {
    if (this.stopping) {
      // taken after intake stopped: give it back at once, for another copy of the pipeline or the next start
      msg.nak();
      return;
    }
    this.held.set(msg, Date.now());
    this.arrivedSinceCheck = true;
    this.taken.push(msg);
    this.wake();
  }

  private delivery(msg: JsMsg): Delivery<JsMsg> {
    const { metadata, id, key } = decodeHeaders(msg.headers, this.wildcard ? msg.subject : undefined);
    return {
      message: {
        // a message without an id keeps one id across redeliveries: its place in the stream
        id: id ?? `${this.streamName}:${msg.seq}`,
        key,
        metadata,
        body: msg.data, // taken as a Buffer over the same bytes (no copy)
        deliveryCount: msg.info.deliveryCount,
      },
      token: msg,
    };
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
      throw this.link.error(
        `consumer '${consumer}' of stream '${stream}' is a push consumer; choose a pull consumer name`,
        undefined,
        false,
      );
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
      const full =
        info.config.max_ack_pending !== undefined && info.config.max_ack_pending > 0 && this.held.size >= info.config.max_ack_pending;
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
      this.context?.logger.info(
        { stream: this.streamName, consumer: this.config.consumer },
        `nats: consumer '${this.config.consumer}' moves again`,
      );
    }
  }

  ack(msg: JsMsg): void {
    this.held.delete(msg);
    msg.ack();
  }

  nack(msg: JsMsg, error: Error): void {
    this.held.delete(msg);
    // on shutdown (a message the runtime gives back, or one the drain nacks), hand it back at once; otherwise back
    // off, so that a failing message does not spin
    const now = this.stopping || error instanceof ShutdownError;
    msg.nak(now ? undefined : nakDelay(this.config.nakDelayMs, msg.info.deliveryCount));
  }

  stopIntake(): void {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.stallTimer);
    // the server stops sending once the request's inbox is gone; what it brought and nobody took goes back at once
    this.pull?.stop();
    for (const msg of this.taken.drain()) {
      this.held.delete(msg);
      msg.nak();
    }
    this.wake();
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
  return (
    error instanceof errors.InvalidArgumentError || error instanceof errors.InvalidSubjectError || apiCode(error) === API_MESSAGE_TOO_LARGE
  );
}

/** The JetStream sink: publishes each message of a batch and settles each on its PubAck (or its failure). */
export class JetStreamSink extends NatsSinkDriver {
  private client: JetStreamClient | undefined;

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
      if (isNoResponders(error))
        throw this.link.error(`JetStream is not available (${(error as Error).message}); start the server with -js`, error, false);
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
        if (oversized !== undefined) return Promise.resolve(oversized);
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
}
