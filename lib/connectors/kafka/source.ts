// The kafka:// source: a kafkajs consumer group behind a pull driver. kafkajs hands each fetched batch to eachBatch,
// which offers its records and waits (heartbeating) until receiveBatch has taken them all; kafkajs fetches again only
// once its batches were taken, so the runtime's credit window decides how fast Kafka is read. Kafka has no per-message ack, so each
// partition keeps the list of its unsettled offsets and commits only the contiguous settled prefix (the lowest
// unsettled offset), on an interval, at revocation and at close. A nacked message is redelivered in-process after a
// backoff, and keeps its place in the window meanwhile (receiveBatch hands out that many fewer new records); the
// runtime dead-letters it after maxDeliveries when a dead letter is configured, and otherwise the partition keeps
// retrying it and never commits past it.
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import type { Delivery, ReceivedMessage, SourceContext, SourceDriver, SourceOptions } from '../../source';
import { Fifo } from '../../fifo';
import { ConnectorError } from '../../errors';
import { rootLogger, type Logger } from '../../logging/logger';
import { exponentialBackoff } from '../../backoff';
import {
  brokersText,
  createKafka,
  isAuthFailure,
  type KafkaSourceConfig,
  KAFKA_OFFSET,
  KAFKA_PARTITION,
  KAFKA_TIMESTAMP,
  KAFKA_TOPIC,
  MESSAGE_ID_HEADER,
  rootCause,
  causeText,
} from './client';
import { wakeableWait } from '../../wakeableWait';

/** First in-process retry of a nacked message after this long, doubling up to 30 s. */
const RETRY_BASE_MS = 100;
/** The longest the source waits for in-flight messages of revoked partitions before letting a rebalance go on. */
const MAX_REVOKE_WAIT_MS = 10_000;
/** Fetch long-poll time, and the pause between fetches while every partition is paused. */
const FETCH_MAX_WAIT_MS = 250;
/**
 * The longest receiveBatch waits for records before answering empty, so that the runtime asks again with the room it
 * has then (room freed while a retry kept its slot is used within this long).
 */
const RECEIVE_WAIT_MS = 250;
/** Reconnection backoff: 1 s doubling up to 30 s. */
const RECONNECT_BASE_MS = 1000;
const RECONNECT_MAX_MS = 30_000;

/** Errors that mean the group is changing: the member must give its partitions back and join again. */
const GROUP_CHANGE_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR_FOR_GROUP']);

function isGroupChange(error: unknown): boolean {
  const type = (error as { type?: string } | undefined)?.type ?? rootCause(error).type;
  return type !== undefined && GROUP_CHANGE_TYPES.has(type);
}

/** One received record while it is unsettled: the driver's token, and a node of its partition's list. */
export class PendingRecord {
  prev: PendingRecord | undefined = undefined;
  next: PendingRecord | undefined = undefined;
  /** Deliveries so far (1 after the first). */
  deliveries = 1;
  /** Still in its partition's list (false once settled for good). */
  linked = true;

  constructor(
    readonly tracker: PartitionTracker,
    readonly offset: number,
    /** Kept for in-process retries. */
    readonly init: ReceivedMessage,
  ) {}
}

/**
 * The unsettled offsets of one assigned partition, oldest first. The offset that may be committed is the lowest
 * unsettled one, or the one after the last received when nothing is unsettled: a later message settled before an
 * earlier one never moves the commit past the earlier one.
 */
export class PartitionTracker {
  head: PendingRecord | undefined = undefined;
  tail: PendingRecord | undefined = undefined;
  /** Unsettled records (including those waiting for a retry). */
  count = 0;
  /** The offset after the last received record; -1 before the first. */
  nextOffset = -1;
  /** The last offset committed for this partition by this member; -1 before the first commit. */
  committed = -1;
  /** Given to another member: its records settle without moving any commit. */
  revoked = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  add(record: PendingRecord): void {
    if (this.tail === undefined) {
      this.head = this.tail = record;
    } else {
      record.prev = this.tail;
      this.tail.next = record;
      this.tail = record;
    }
    this.count++;
    this.nextOffset = record.offset + 1;
  }

  remove(record: PendingRecord): void {
    if (!record.linked) return;
    record.linked = false;
    const { prev, next } = record;
    if (prev === undefined) this.head = next;
    else prev.next = next;
    if (next === undefined) this.tail = prev;
    else next.prev = prev;
    record.prev = record.next = undefined;
    this.count--;
  }

  /** The offset to commit: the lowest unsettled, else the next to read; undefined before the first record. */
  commitOffset(): number | undefined {
    if (this.head !== undefined) return this.head.offset;
    return this.nextOffset >= 0 ? this.nextOffset : undefined;
  }
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function headerText(value: Buffer | string | (Buffer | string)[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.map((part) => part.toString()).join(', ');
  return value.toString();
}

/** The records of the batch eachBatch is offering, from `next` on: receiveBatch takes them in order. */
interface Offer {
  readonly payload: EachBatchPayload;
  readonly tracker: PartitionTracker;
  readonly records: readonly KafkaMessage[];
  readonly topic: string;
  readonly partition: string;
  next: number;
  /** Resolves once every record was taken. */
  readonly taken: Promise<void>;
  readonly allTaken: () => void;
}

export class KafkaSource implements SourceDriver<PendingRecord> {
  readonly scheme = 'kafka';
  private readonly kafka: Kafka;
  private readonly logger: Logger;
  private readonly hasDeadLetter: boolean;
  private readonly maxDeliveries: number;
  private readonly heartbeatInterval: number;
  private readonly revokeWait: number;
  private context: SourceContext<PendingRecord> | undefined;
  private consumer: Consumer | undefined;
  private trackers = new Map<string, PartitionTracker>();
  /** Unsettled records of the partitions this member owns. */
  private unsettled = 0;
  private joined = false;
  private rebalancing = false;
  private stopping = false;
  private closed = false;
  private connectLoop: Promise<void> | undefined;
  private revoking: Promise<void> | undefined;
  /** The partitions were given back (and committed) since the last join: a second notice changes nothing. */
  private revokedSinceJoin = false;
  private commitTimer: NodeJS.Timeout | undefined;
  private commitChain: Promise<void> = Promise.resolve();
  private queuedCommit: Promise<void> | undefined;
  /** Nacked records waiting for their backoff: each keeps a place in the window (see receiveBatch). */
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  /** Nacked records whose backoff is over, oldest first: receiveBatch hands them out before new records. */
  private readonly dueRetries = new Fifo<PendingRecord>();
  /** The batch eachBatch is offering, while some of its records are not taken. */
  private offer: Offer | undefined;
  /** Wakes a receiveBatch that waits for records. */
  private receiver: (() => void) | undefined;
  private wakers: (() => void)[] = [];
  private settleWaiters: (() => void)[] = [];

  constructor(
    private readonly config: KafkaSourceConfig,
    options: SourceOptions,
  ) {
    this.logger = (options.logger ?? rootLogger()).child({ source: `kafka://${config.groupId}` });
    this.kafka = createKafka(config.client, this.logger, () => this.revoking);
    this.hasDeadLetter = options.deadLetter !== undefined;
    this.maxDeliveries = options.maxDeliveries ?? 5;
    this.heartbeatInterval = Math.max(100, Math.min(3000, Math.floor(config.sessionTimeoutMs / 10)));
    this.revokeWait = Math.min(MAX_REVOKE_WAIT_MS, Math.floor(config.sessionTimeoutMs / 2));
  }

  /** Connected and a member of the group with an assignment. */
  get ready(): boolean {
    return this.joined && !this.closed;
  }

  private get host(): string {
    return brokersText(this.config.client);
  }

  start(context: SourceContext<PendingRecord>): void {
    this.context = context;
    this.commitTimer = setInterval(() => void this.commit(), this.config.commitIntervalMs);
    this.commitTimer.unref();
    // connecting happens in the background: an unreachable cluster is reported and retried, not a start-up failure
    this.connectLoop = this.connect();
  }

  private async connect(): Promise<void> {
    for (let attempt = 1; !this.closed && !this.stopping; attempt++) {
      const consumer = this.kafka.consumer({
        groupId: this.config.groupId,
        sessionTimeout: this.config.sessionTimeoutMs,
        heartbeatInterval: this.heartbeatInterval,
        maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
        allowAutoTopicCreation: true,
        retry: { initialRetryTime: 250, maxRetryTime: 5000, retries: 3 },
      });
      this.consumer = consumer;
      this.watch(consumer);
      // close() may run while any of these awaits: whatever connected after it must be let go here
      const abandoned = async (): Promise<boolean> => {
        if (!this.closed && !this.stopping) return false;
        await consumer.disconnect().catch(() => undefined);
        return true;
      };
      try {
        await consumer.connect();
        if (await abandoned()) return;
        await consumer.subscribe({ topics: this.config.topics, fromBeginning: this.config.fromBeginning });
        if (await abandoned()) return;
        this.logger.info(
          { brokers: this.host, group: this.config.groupId, topics: this.config.topics },
          `connected to Kafka at ${this.host}; joining group '${this.config.groupId}' for ${this.config.topics.join(', ')}`,
        );
        // resolves once the group is joined (or the first join crashed, which kafkajs retries itself)
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          eachBatch: (payload) => this.eachBatch(payload),
        });
        await abandoned();
        return;
      } catch (error) {
        this.joined = false;
        await consumer.disconnect().catch(() => undefined);
        if (this.closed || this.stopping) return;
        if (isAuthFailure(error)) {
          this.fail(error);
          return;
        }
        const delay = exponentialBackoff(RECONNECT_BASE_MS, attempt, RECONNECT_MAX_MS);
        const failure = new ConnectorError(
          `cannot reach the brokers in KAFKA_BROKERS (${this.host}): ${causeText(error)}; retrying in ${delay} ms`,
          { scheme: 'kafka', host: this.host, cause: error },
        );
        this.logger.error({ err: failure, attempt, retryInMs: delay }, failure.message);
        await this.sleep(delay);
      }
    }
  }

  /** A failure that retrying cannot fix (bad credentials, missing rights): the source errors. */
  private fail(error: unknown): void {
    const failure = new ConnectorError(
      `${causeText(error)}; check KAFKA_SASL_MECHANISM, KAFKA_USERNAME, KAFKA_PASSWORD and the group's and topics' ACLs`,
      { scheme: 'kafka', host: this.host, cause: error, retryable: false },
    );
    this.logger.error({ err: failure }, failure.message);
    this.context?.error(failure);
  }

  private watch(consumer: Consumer): void {
    const { GROUP_JOIN, REBALANCING, CRASH, DISCONNECT } = consumer.events;
    consumer.on(GROUP_JOIN, (event) => {
      if (consumer === this.consumer) this.onJoin(consumer, event.payload.memberAssignment);
    });
    consumer.on(REBALANCING, () => {
      if (consumer !== this.consumer) return;
      // kafkajs noticed the rebalance itself (an idle fetch's heartbeat): its JoinGroup waits for the revocation
      void this.revoke();
    });
    consumer.on(DISCONNECT, () => {
      if (consumer === this.consumer) this.joined = false;
    });
    consumer.on(CRASH, (event) => {
      if (consumer !== this.consumer) return;
      this.joined = false;
      const { error, restart } = event.payload;
      if (this.closed || this.stopping) return;
      if (isAuthFailure(error)) {
        this.fail(error);
        return;
      }
      const failure = new ConnectorError(`the consumer failed: ${causeText(error)}`, {
        scheme: 'kafka',
        host: this.host,
        cause: error,
      });
      this.logger.error({ err: failure, restartedBy: restart ? 'kafkajs' : 'source' }, `${failure.message}; reconnecting`);
      if (!restart) {
        // kafkajs gives up on errors it deems fatal; the source starts a new consumer instead
        this.connectLoop = this.connectLoop?.then(() => this.connect()) ?? this.connect();
      }
    });
  }

  /**
   * A new assignment. Partitions kept go on from where this member was (a seek to the offset after its last received
   * record, so nothing in flight is fetched twice); partitions lost stop committing; new ones start from the group's
   * committed offset.
   */
  private onJoin(consumer: Consumer, assignment: Record<string, number[]>): void {
    const trackers = new Map<string, PartitionTracker>();
    const described: string[] = [];
    for (const topic of Object.keys(assignment)) {
      const partitions = assignment[topic];
      described.push(`${topic}[${partitions.join(',')}]`);
      for (const partition of partitions) {
        const key = partitionKey(topic, partition);
        const kept = this.trackers.get(key);
        if (kept !== undefined) {
          trackers.set(key, kept);
          if (kept.nextOffset >= 0) consumer.seek({ topic, partition, offset: String(kept.nextOffset) });
        } else {
          trackers.set(key, new PartitionTracker(topic, partition));
        }
      }
    }
    for (const [key, tracker] of this.trackers) {
      if (trackers.has(key)) continue;
      tracker.revoked = true;
      this.unsettled -= tracker.count;
    }
    this.trackers = trackers;
    this.rebalancing = false;
    this.revokedSinceJoin = false;
    this.joined = true;
    this.wakeSettled();
    this.logger.info(
      { group: this.config.groupId, assignment },
      `joined group '${this.config.groupId}': ${described.length > 0 ? described.join(' ') : 'no partitions assigned'}`,
    );
    if (this.stopping) this.pauseAll();
  }

  /**
   * Offers the records of one fetched batch to receiveBatch and waits, heartbeating so that the group keeps this member
   * and a rebalance is noticed, until all are taken. Leaves early when intake stops, the group rebalances, the partition
   * is revoked or sought: the offsets it did not resolve are fetched again later.
   */
  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const tracker = this.trackers.get(partitionKey(batch.topic, batch.partition));
    if (tracker === undefined || batch.messages.length === 0) return;
    let allTaken!: () => void;
    const offer: Offer = {
      payload,
      tracker,
      records: batch.messages,
      topic: batch.topic,
      partition: String(batch.partition),
      next: 0,
      taken: new Promise<void>((resolve) => (allTaken = resolve)),
      allTaken: () => allTaken(),
    };
    this.offer = offer;
    this.wakeReceiver();
    try {
      while (offer.next < offer.records.length) {
        if (!this.offering(offer)) return;
        await this.sleep(this.heartbeatInterval, offer.taken);
        if (offer.next >= offer.records.length || !this.offering(offer)) break;
        await this.heartbeat(payload);
      }
    } finally {
      if (this.offer === offer) this.offer = undefined;
    }
    if (this.offering(offer)) await this.heartbeat(payload);
  }

  /** Whether records of `offer` may still be taken. */
  private offering(offer: Offer): boolean {
    return !this.halted(offer.tracker) && offer.payload.isRunning() && !offer.payload.isStale();
  }

  /**
   * The pull driver: up to `max` records, redeliveries whose backoff is over first. Records waiting for a redelivery
   * keep their places in the window, so that retries never let more than maxInFlight records in: this many fewer new
   * ones are handed out. Waits up to RECEIVE_WAIT_MS for something to hand out.
   */
  async receiveBatch(max: number, signal: AbortSignal): Promise<Delivery<PendingRecord>[]> {
    let deliveries = this.take(max);
    if (deliveries.length > 0 || signal.aborted || this.closed || this.stopping) return deliveries;
    await wakeableWait(signal, {
      ms: RECEIVE_WAIT_MS,
      wake: (end) => (this.receiver = end),
      ended: (end) => {
        if (this.receiver === end) this.receiver = undefined;
      },
    });
    if (signal.aborted || this.closed || this.stopping) return [];
    deliveries = this.take(max);
    return deliveries;
  }

  private wakeReceiver(): void {
    this.receiver?.();
  }

  /** Up to `max` deliveries: due redeliveries, then new records of the offered batch (tracked before they leave). */
  private take(max: number): Delivery<PendingRecord>[] {
    const deliveries: Delivery<PendingRecord>[] = [];
    // during a rebalance too: they are in flight already, and the revocation waits for them to settle
    while (deliveries.length < max && this.dueRetries.length > 0) {
      const pending = this.dueRetries.shift() as PendingRecord;
      if (pending.tracker.revoked) {
        // the partition's new owner reads it again from the last commit
        pending.tracker.remove(pending);
        continue;
      }
      pending.deliveries++;
      this.logger.debug({ id: pending.init.id, deliveries: pending.deliveries }, 'redelivering a nacked message');
      deliveries.push({ message: { ...pending.init, deliveryCount: pending.deliveries }, token: pending });
    }
    const offer = this.offer;
    const room = max - deliveries.length - this.retryTimers.size;
    if (offer === undefined || room <= 0 || !this.offering(offer)) return deliveries;
    const { records, tracker, topic, partition } = offer;
    const end = Math.min(records.length, offer.next + room);
    for (let i = offer.next; i < end; i++) {
      const record = records[i];
      const init = this.toMessage(record, topic, partition);
      const pending = new PendingRecord(tracker, Number(record.offset), init);
      tracker.add(pending);
      deliveries.push({ message: init, token: pending });
    }
    this.unsettled += end - offer.next;
    offer.next = end;
    offer.payload.resolveOffset(records[end - 1].offset);
    if (end === records.length) {
      this.offer = undefined;
      offer.allTaken();
    }
    return deliveries;
  }

  private toMessage(record: KafkaMessage, topic: string, partition: string): ReceivedMessage {
    const metadata: Record<string, string> = {
      [KAFKA_TOPIC]: topic,
      [KAFKA_PARTITION]: partition,
      [KAFKA_OFFSET]: record.offset,
      [KAFKA_TIMESTAMP]: record.timestamp,
    };
    let id: string | undefined;
    const headers: IHeaders | undefined = record.headers;
    if (headers !== undefined) {
      for (const name in headers) {
        const value = headerText(headers[name]);
        if (value === undefined) continue;
        if (name === MESSAGE_ID_HEADER) id = value;
        else metadata[name] = value;
      }
    }
    const init: ReceivedMessage = {
      id: id ?? `${topic}/${partition}/${record.offset}`,
      body: record.value ?? Buffer.alloc(0),
      metadata,
      deliveryCount: 1,
    };
    if (record.key !== null && record.key !== undefined) init.key = record.key.toString();
    return init;
  }

  /** No more new records from this batch: intake stopped, the group is rebalancing, or the partition was revoked. */
  private halted(tracker: PartitionTracker): boolean {
    return this.closed || this.stopping || this.rebalancing || tracker.revoked;
  }

  /** Stops fetching every assigned partition (intake stopped). */
  private pauseAll(): void {
    const byTopic = new Map<string, number[]>();
    for (const tracker of this.trackers.values()) {
      const partitions = byTopic.get(tracker.topic);
      if (partitions === undefined) byTopic.set(tracker.topic, [tracker.partition]);
      else partitions.push(tracker.partition);
    }
    const topicPartitions = [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
    if (topicPartitions.length > 0) {
      try {
        this.consumer?.pause(topicPartitions);
      } catch {
        // not running (between a crash and its restart): nothing is being fetched anyway
      }
    }
  }

  /** Heartbeats through kafkajs; when the group is changing, gives the partitions back properly first. */
  private async heartbeat(payload: EachBatchPayload): Promise<void> {
    try {
      await payload.heartbeat();
    } catch (error) {
      if (isGroupChange(error)) await this.revoke();
      throw error;
    }
  }

  /**
   * Revocation (kafkajs rebalances eagerly: every partition is given back): take nothing more, wait (bounded) for
   * the in-flight messages to settle, commit, and only then let kafkajs join again.
   */
  private revoke(): Promise<void> {
    this.rebalancing = true;
    this.wake();
    if (this.revoking !== undefined) return this.revoking;
    if (this.revokedSinceJoin) return Promise.resolve();
    this.revoking = (async () => {
      const group = this.config.groupId;
      if (this.unsettled > 0) {
        this.logger.info(
          { group, inFlight: this.unsettled, waitMs: this.revokeWait },
          `group '${group}' is rebalancing: waiting up to ${this.revokeWait} ms for ${this.unsettled} in-flight message(s) before giving the partitions back`,
        );
        await this.whenSettled(this.revokeWait);
        if (this.unsettled > 0) {
          this.logger.warn(
            { group, inFlight: this.unsettled },
            `group '${group}': ${this.unsettled} message(s) still in flight after ${this.revokeWait} ms; their partitions may be read again by their next owner`,
          );
        }
      } else {
        this.logger.info({ group }, `group '${group}' is rebalancing: giving the partitions back`);
      }
      await this.commit();
      this.revokedSinceJoin = true;
    })().finally(() => {
      this.revoking = undefined;
    });
    return this.revoking;
  }

  ack(pending: PendingRecord): void {
    const tracker = pending.tracker;
    tracker.remove(pending);
    if (tracker.revoked) return;
    this.unsettled--;
    if (this.unsettled === 0) this.wakeSettled();
  }

  nack(pending: PendingRecord, error: Error): void {
    const tracker = pending.tracker;
    if (tracker.revoked) {
      // the partition's new owner reads it again from the last commit
      tracker.remove(pending);
      return;
    }
    if (this.closed || this.stopping) return; // stays unsettled: never committed past, so it is read again later
    const deliveries = pending.deliveries;
    if (!this.hasDeadLetter && deliveries >= this.maxDeliveries && (deliveries === this.maxDeliveries || deliveries % 10 === 0)) {
      this.logger.warn(
        { id: pending.init.id, topic: tracker.topic, partition: tracker.partition, offset: pending.offset, deliveries, err: error },
        `message ${pending.init.id} (${tracker.topic}/${tracker.partition} offset ${pending.offset}) failed ${deliveries} times; ` +
          'with no dead letter (DEAD_LETTER_URI) it is retried until it succeeds, and its partition commits no further meanwhile',
      );
    }
    const delay = exponentialBackoff(RETRY_BASE_MS, deliveries, 30_000);
    // counted in retryTimers meanwhile, so that receiveBatch keeps the record's place in the window
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      if (tracker.revoked) {
        tracker.remove(pending);
        return;
      }
      this.dueRetries.push(pending);
      this.wakeReceiver();
    }, delay);
    this.retryTimers.add(timer);
  }

  /** Commits the settled prefix of every owned partition that moved; one commit at a time. */
  commit(final = false): Promise<void> {
    if (this.queuedCommit !== undefined && !final) return this.queuedCommit;
    const next = this.commitChain.then(() => {
      this.queuedCommit = undefined;
      return this.commitOnce(final);
    });
    this.queuedCommit = next;
    this.commitChain = next.catch(() => undefined);
    return next;
  }

  private async commitOnce(final: boolean): Promise<void> {
    const consumer = this.consumer;
    // between a crash and the next join there is no generation to commit with; the final commit tries anyway
    if (consumer === undefined || (!this.joined && !final)) return;
    const offsets: { topic: string; partition: number; offset: string }[] = [];
    const moved: [PartitionTracker, number][] = [];
    for (const tracker of this.trackers.values()) {
      const offset = tracker.commitOffset();
      if (offset === undefined || offset === tracker.committed) continue;
      offsets.push({ topic: tracker.topic, partition: tracker.partition, offset: String(offset) });
      moved.push([tracker, offset]);
    }
    if (offsets.length === 0) return;
    try {
      await consumer.commitOffsets(offsets);
      for (const [tracker, offset] of moved) tracker.committed = offset;
      this.logger.debug({ offsets }, 'committed offsets');
    } catch (error) {
      if (isGroupChange(error)) {
        this.logger.debug(
          { err: error, offsets },
          'the broker refused a commit during a rebalance; the next owner may read those messages again',
        );
      } else {
        this.logger.warn(
          { err: new ConnectorError(`committing offsets failed: ${causeText(error)}`, { scheme: 'kafka', host: this.host, cause: error }) },
          `kafka (${this.host}): committing offsets failed (${causeText(error)}); trying again at the next interval`,
        );
      }
    }
  }

  stopIntake(): void {
    this.stopping = true;
    this.pauseAll();
    this.wake();
    this.wakeReceiver();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.joined = false;
    clearInterval(this.commitTimer);
    // records waiting for a redelivery stay unsettled: never committed past, so they are read again after a restart
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    this.dueRetries.drain();
    this.wake();
    this.wakeReceiver();
    const consumer = this.consumer;
    if (consumer !== undefined) {
      // the last commit needs the consumer still running (kafkajs drops commits once it stopped)
      await this.commit(true);
      await consumer.disconnect().catch((error: unknown) => this.logger.warn({ err: error }, 'disconnecting the consumer failed'));
    }
    await this.connectLoop?.catch(() => undefined);
    this.consumer = undefined;
    this.logger.info({ group: this.config.groupId }, `left group '${this.config.groupId}'`);
  }

  /** Sleeps up to `ms`, waking early on stop, close or rebalance, or when `until` settles. */
  private sleep(ms: number, until?: Promise<void>): Promise<void> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const index = this.wakers.indexOf(finish);
        if (index >= 0) this.wakers.splice(index, 1);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.wakers.push(finish);
      void until?.then(finish);
    });
  }

  private wake(): void {
    for (const wake of this.wakers.splice(0)) wake();
  }

  /** Resolves when no owned record is unsettled, or after `ms`. */
  private whenSettled(ms: number): Promise<void> {
    if (this.unsettled <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.settleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wakeSettled(): void {
    if (this.unsettled > 0) return;
    const waiters = this.settleWaiters;
    this.settleWaiters = [];
    for (const wake of waiters) wake();
  }
}
