// azuresb://: Azure Service Bus on @azure/service-bus. The source is a peek-lock receiver whose concurrency is the
// credit window (ack = complete, nack = abandon, locks renewed while a message is in flight, Service Bus's own
// dead-letter queue after maxDeliveries when no dead letter is configured); the sink sends batches.
import {
  RetryMode,
  ServiceBusClient,
  isServiceBusError,
  type ServiceBusClientOptions,
  type ServiceBusMessage,
  type ServiceBusMessageBatch,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
  type ServiceBusReceiverOptions,
  type ServiceBusSender,
  type ProcessErrorArgs,
} from '@azure/service-bus';
import { registerScheme, type ParamSpec } from '../../registry';
import { DEFAULT_ACK_TIMEOUT_MS, DEFAULT_MAX_DELIVERIES, type ReceivedMessage, type SourceContext, type SourceDriver } from '../../source';
import type { SinkDriver, WriteResult } from '../../sink';
import type { Message } from '../../message';
import { ConfigError, ConnectorError, PermanentError } from '../../errors';
import { parseDuration } from '../../config';
import { rootLogger, type Logger } from '../../logging/logger';
import { equalJitter, exponentialBackoff } from '../../backoff';
import { noteFailure } from '../../deadLetter';
import {
  type Credentials,
  LONG_ID_PROPERTY,
  MAX_ID_LENGTH,
  READ_ONLY_METADATA,
  SCHEME,
  SYSTEM_METADATA,
  type SinkConfig,
  type SourceConfig,
  sinkConfig,
  sourceConfig,
} from './config';

// A settlement lost in a reconnection waits out the operation timeout before the SDK gives up (the message then
// comes back when its lock expires): keep that wait short, since the SDK holds the message's slot meanwhile. No
// retries: the SDK would retry on the same dead delivery; the driver retries lock renewals and probes itself.
// Exponential backoff: the SDK re-attaches a lost receive link forever, in its default fixed mode every 500 ms.
const SOURCE_CLIENT_OPTIONS: ServiceBusClientOptions = {
  retryOptions: { maxRetries: 0, retryDelayInMs: 500, maxRetryDelayInMs: 10_000, timeoutInMs: 10_000, mode: RetryMode.Exponential },
};

// A send lost in a reconnection also waits out the timeout before the SDK retries it.
const SINK_CLIENT_OPTIONS: ServiceBusClientOptions = {
  retryOptions: { maxRetries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 10_000, timeoutInMs: 10_000 },
};

/** While Service Bus cannot be reached, one warning now and then; the other failures are logged at debug. */
const WARN_EVERY_MS = 30_000;

/** Service Bus errors that retrying cannot fix. */
const PERMANENT_CODES = new Set(['MessagingEntityNotFound', 'UnauthorizedAccess', 'MessagingEntityDisabled']);

/** Retries of a failed lock renewal: soon (the lock is running out), backing off, never past the lock itself. */
const RENEW_RETRY_MS = 500;
const RENEW_RETRY_MAX_MS = 5_000;
/** Peeks after a receive failure, until Service Bus answers (for `ready`). */
const PROBE_DELAY_MS = 500;
const PROBE_DELAY_MAX_MS = 30_000;

/** How long close() waits for settlements already sent to Service Bus (a little more than their timeout). */
const SETTLE_GRACE_MS = 12_000;

function createClient(credentials: Credentials, options: ServiceBusClientOptions): ServiceBusClient {
  if (credentials.kind === 'connectionString') return new ServiceBusClient(credentials.connectionString, options);
  // loaded only when used: the identity library is large, and connection strings do not need it

  const identity = require('@azure/identity') as typeof import('@azure/identity');
  return new ServiceBusClient(credentials.host, new identity.DefaultAzureCredential(), options);
}

/**
 * Whether the client's AMQP connection is open. The SDK reconnects on its own and says nothing when it succeeds, so
 * `ready` reads the connection's state (an internal field, guarded: without it, the driver's own flag decides).
 */
function connectionOpen(client: ServiceBusClient | undefined): boolean {
  const connection = (client as unknown as { _connectionContext?: { connection?: { isOpen?(): boolean } } } | undefined)?._connectionContext
    ?.connection;
  return typeof connection?.isOpen === 'function' ? connection.isOpen() : client !== undefined;
}

/** The SDK retries, then throws an AggregateError of its attempts: the last attempt says what went wrong. */
function lastError(error: unknown): unknown {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors[error.errors.length - 1];
  return error;
}

/** The error a failed Service Bus operation becomes: permanent for what retrying cannot fix, else retryable. */
function toConnectorError(thrown: unknown, host: string, what: string): Error {
  const error = lastError(thrown);
  const message = error instanceof Error ? error.message : String(error);
  if (isServiceBusError(error)) {
    if (error.code === 'MessageSizeExceeded') return new PermanentError(`${SCHEME} (${host}): ${what}: ${message}`, { cause: error });
    const retryable = !PERMANENT_CODES.has(error.code) && error.retryable !== false;
    return new ConnectorError(`${what}: ${message}`, { scheme: SCHEME, host, cause: error, retryable });
  }
  return new ConnectorError(`${what}: ${message}`, { scheme: SCHEME, host, cause: error });
}

function isPermanentServiceError(thrown: unknown): boolean {
  const error = lastError(thrown);
  return isServiceBusError(error) && PERMANENT_CODES.has(error.code);
}

function propertyText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return JSON.stringify(value);
}

function bodyBuffer(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body === undefined || body === null) return Buffer.alloc(0);
  // an AMQP value or sequence body from another producer
  return Buffer.from(JSON.stringify(body), 'utf8');
}

function idText(id: unknown): string | undefined {
  if (id === undefined || id === null) return undefined;
  if (Buffer.isBuffer(id)) return id.toString('hex');
  if (typeof id === 'string') return id;
  if (typeof id === 'number' || typeof id === 'bigint') return String(id);
  return JSON.stringify(id);
}

/** A received Service Bus message as a wasm-pipes message: application properties and system properties as metadata. */
export function fromServiceBusMessage(message: ServiceBusReceivedMessage, deliveryCount: number | undefined): ReceivedMessage {
  const metadata: Record<string, string> = {};
  let longId: string | undefined;
  const properties = message.applicationProperties ?? {};
  for (const name of Object.keys(properties)) {
    const text = propertyText(properties[name]);
    if (text === undefined) continue;
    if (name === LONG_ID_PROPERTY) longId = text;
    else metadata[name] = text;
  }
  if (message.contentType !== undefined) metadata['content-type'] = message.contentType;
  if (message.subject !== undefined) metadata[SYSTEM_METADATA.subject] = message.subject;
  const correlationId = idText(message.correlationId);
  if (correlationId !== undefined) metadata[SYSTEM_METADATA.correlationId] = correlationId;
  if (message.replyTo !== undefined) metadata[SYSTEM_METADATA.replyTo] = message.replyTo;
  if (message.to !== undefined) metadata[SYSTEM_METADATA.to] = message.to;
  if (message.replyToSessionId !== undefined) metadata[SYSTEM_METADATA.replyToSessionId] = message.replyToSessionId;
  if (message.sequenceNumber !== undefined) metadata[READ_ONLY_METADATA.sequenceNumber] = message.sequenceNumber.toString();
  if (message.enqueuedTimeUtc !== undefined) metadata[READ_ONLY_METADATA.enqueuedTime] = new Date(message.enqueuedTimeUtc).toISOString();
  if (message.deliveryCount !== undefined) metadata[READ_ONLY_METADATA.deliveryCount] = String(message.deliveryCount + 1);
  if (message.deadLetterSource !== undefined) metadata[READ_ONLY_METADATA.deadLetterSource] = message.deadLetterSource;
  const received: ReceivedMessage = {
    id: longId ?? idText(message.messageId) ?? `${SCHEME}-${message.sequenceNumber?.toString() ?? message.lockToken ?? ''}`,
    body: bodyBuffer(message.body),
    metadata,
    deliveryCount,
  };
  const key = message.sessionId ?? message.partitionKey;
  if (key !== undefined) received.key = key;
  return received;
}

const READ_ONLY_NAMES = new Set<string>(Object.values(READ_ONLY_METADATA));
/** The metadata a sent message carries as a system property of Service Bus, and which property. */
const SYSTEM_PROPERTIES = new Map<string, 'contentType' | 'subject' | 'correlationId' | 'replyTo' | 'to' | 'replyToSessionId'>([
  ['content-type', 'contentType'],
  [SYSTEM_METADATA.subject, 'subject'],
  [SYSTEM_METADATA.correlationId, 'correlationId'],
  [SYSTEM_METADATA.replyTo, 'replyTo'],
  [SYSTEM_METADATA.to, 'to'],
  [SYSTEM_METADATA.replyToSessionId, 'replyToSessionId'],
]);

/** A wasm-pipes message as a Service Bus message; throws PermanentError for what Service Bus cannot carry. */
export function toServiceBusMessage(message: Message, keyAs: SinkConfig['keyAs']): ServiceBusMessage {
  const applicationProperties: Record<string, string> = {};
  const out: ServiceBusMessage = { body: message.body, applicationProperties };
  if (message.id.length <= MAX_ID_LENGTH) out.messageId = message.id;
  else applicationProperties[LONG_ID_PROPERTY] = message.id;
  const metadata = message.metadata;
  for (const name of Object.keys(metadata)) {
    const value = metadata[name];
    const property = SYSTEM_PROPERTIES.get(name);
    if (property !== undefined) out[property] = value;
    else if (!READ_ONLY_NAMES.has(name)) applicationProperties[name] = value;
  }
  if (message.key !== undefined) {
    if (message.key.length > MAX_ID_LENGTH) {
      throw new PermanentError(
        `message ${message.id}: its key is ${message.key.length} characters, and a Service Bus ${keyAs} holds at most ${MAX_ID_LENGTH}`,
      );
    }
    out[keyAs] = message.key;
  }
  return out;
}

/** What the source hands the runtime for each message: the SDK's message, and how to tell the SDK it is done. */
interface Delivery {
  readonly message: ServiceBusReceivedMessage;
  /** Resolves the SDK's processMessage call, which gives the SDK its credit back. */
  done: () => void;
  /** The lock is renewed until the message is settled, but not past this time (max_lock_renewal after receipt). */
  readonly renewUntil: number;
  renewTimer: NodeJS.Timeout | undefined;
  /** Lock renewals that failed in a row (their retries back off). */
  renewFailures: number;
  settling: boolean;
}

type Outcome = 'complete' | 'abandon' | 'deadLetter';

/** A settlement waiting for its turn: its kind of outcome, and how to send it. */
interface Settlement {
  readonly kind: string;
  readonly issue: () => Promise<void>;
}

/** Peek-lock receiver: credit window = maxConcurrentCalls, settlement = complete/abandon/dead-letter. */
export class AzureSbSource implements SourceDriver<Delivery> {
  readonly scheme = SCHEME;
  private client: ServiceBusClient | undefined;
  private receiver: ServiceBusReceiver | undefined;
  private subscription: { close(): Promise<void> } | undefined;
  private context: SourceContext<Delivery> | undefined;
  private connected = false;
  private closed = false;
  private probing = false;
  /** Receive failures since Service Bus last answered, and when the last warning about them was logged. */
  private failures = 0;
  private lastWarnedAt = 0;
  /** Settlements sent or waiting to be, for close(). */
  private readonly pending = new Set<Promise<void>>();
  /** The kind of outcome of the settlements sent and not yet answered, and how many they are; see settle(). */
  private readonly inFlight = { kind: '', count: 0 };
  /** Settlements waiting for those in flight, in order. */
  private readonly waiting: Settlement[] = [];
  /** Messages received and not yet settled, for their lock renewal timers. */
  private readonly deliveries = new Set<Delivery>();

  constructor(
    private readonly config: SourceConfig,
    private readonly maxDeliveries: number,
    /** No dead-letter sink is configured: past maxDeliveries, use Service Bus's own dead-letter queue. */
    private readonly useServiceDeadLetter: boolean,
  ) {}

  get ready(): boolean {
    return this.connected && !this.closed && connectionOpen(this.client);
  }

  /** The entity as Service Bus names it, for logs and errors. */
  get entityPath(): string {
    const { entity, subscription, subQueue } = this.config;
    const path = subscription === undefined ? entity : `${entity}/Subscriptions/${subscription}`;
    return subQueue === undefined ? path : `${path}/$${subQueue === 'deadLetter' ? 'DeadLetterQueue' : 'Transfer/$DeadLetterQueue'}`;
  }

  private get host(): string {
    return this.config.credentials.host;
  }

  async start(context: SourceContext<Delivery>): Promise<void> {
    this.context = context;
    const client = createClient(this.config.credentials, SOURCE_CLIENT_OPTIONS);
    this.client = client;
    const options: ServiceBusReceiverOptions = {
      receiveMode: 'peekLock',
      skipParsingBodyAsJson: true,
      skipConvertingDate: true,
      // the driver renews locks itself (see renewLater)
      maxAutoLockRenewalDurationInMs: 0,
    };
    if (this.config.subQueue !== undefined) options.subQueueType = this.config.subQueue;
    const { entity, subscription } = this.config;
    this.receiver =
      subscription === undefined ? client.createReceiver(entity, options) : client.createReceiver(entity, subscription, options);
    // one round trip before subscribing: a missing entity or a wrong key is a start-up failure, not an endless retry
    try {
      await this.receiver.peekMessages(1);
      this.connected = true;
    } catch (error) {
      if (isPermanentServiceError(error)) {
        await this.close();
        throw toConnectorError(error, this.host, `cannot receive from '${this.entityPath}'`);
      }
      context.logger.warn({ err: error, entity: this.entityPath }, `${SCHEME}: cannot reach ${this.host} yet; retrying in the background`);
      this.probeUntilConnected();
    }
    this.subscription = this.receiver.subscribe(
      { processMessage: (message) => this.process(message), processError: async (args) => this.onError(args) },
      { autoCompleteMessages: false, maxConcurrentCalls: context.maxInFlight },
    );
    context.logger.info(
      { entity: this.entityPath, host: this.host, maxInFlight: context.maxInFlight },
      `receiving from ${SCHEME}://${this.entityPath} on ${this.host} (peek-lock, up to ${context.maxInFlight} in flight)`,
    );
  }

  /**
   * Called by the SDK for each message; resolves once the message is settled, which gives the SDK its credit back.
   * The SDK asks for maxInFlight messages, but after a reconnection it may briefly have more out (the settlements
   * of the old link still give credit back to the new one): those wait in the runtime's buffer for room in the
   * window, with their locks renewed, rather than being abandoned (which would come straight back, again and again).
   */
  private async process(message: ServiceBusReceivedMessage): Promise<void> {
    const context = this.context as SourceContext<Delivery>;
    this.connected = true;
    const delivery: Delivery = {
      message,
      done: () => undefined,
      renewUntil: Date.now() + this.config.maxLockRenewalMs,
      renewTimer: undefined,
      renewFailures: 0,
      settling: false,
    };
    const finished = new Promise<void>((resolve) => (delivery.done = resolve));
    this.deliveries.add(delivery);
    this.renewLater(delivery);
    // a dead-letter queue's messages carry the count that sent them there: counting again would loop
    const deliveryCount = this.config.subQueue === undefined ? (message.deliveryCount ?? 0) + 1 : undefined;
    if (this.useServiceDeadLetter && deliveryCount !== undefined && deliveryCount > this.maxDeliveries) {
      context.logger.debug({ id: message.messageId, deliveryCount }, 'moving a message to the Service Bus dead-letter queue');
      this.settle(delivery, 'deadLetter', `delivered ${deliveryCount} times, more than maxDeliveries (${this.maxDeliveries})`);
      return finished;
    }
    // while draining, the runtime gives it straight back (nack -> abandon) for another consumer
    context.push(fromServiceBusMessage(message, deliveryCount), delivery);
    return finished;
  }

  /**
   * Renews the message's lock shortly before it expires, until the message is settled. The driver does this itself
   * rather than with the SDK's auto-renewal: the SDK keys renewals by message id (duplicates clash) and, after a
   * reconnection, keeps renewing messages whose settlement was lost, which would hide them until the renewal limit.
   */
  private renewLater(delivery: Delivery, retryAfterMs = 0): void {
    const lockedUntil = delivery.message.lockedUntilUtc?.getTime();
    if (lockedUntil === undefined || delivery.settling || this.closed) return;
    const remaining = lockedUntil - Date.now();
    if (lockedUntil > delivery.renewUntil || remaining <= 0) return;
    const wait = Math.max(retryAfterMs, remaining - Math.min(remaining / 2, 10_000));
    delivery.renewTimer = setTimeout(() => {
      delivery.renewTimer = undefined;
      if (delivery.settling || this.closed) return;
      (this.receiver as ServiceBusReceiver).renewMessageLock(delivery.message).then(
        () => {
          delivery.renewFailures = 0;
          this.renewLater(delivery);
        },
        (error: unknown) => {
          if (delivery.settling || this.closed) return;
          delivery.renewFailures++;
          noteFailure(
            this.context?.logger ?? rootLogger(),
            'lock_renewal_failed',
            { err: error, id: delivery.message.messageId, entity: this.entityPath, attempt: delivery.renewFailures },
            `${SCHEME}: could not renew the lock of a message in flight; trying again while it holds (else Service Bus delivers it again)`,
          );
          this.renewLater(delivery, equalJitter(exponentialBackoff(RENEW_RETRY_MS, delivery.renewFailures, RENEW_RETRY_MAX_MS)));
        },
      );
    }, wait);
    delivery.renewTimer.unref();
  }

  /**
   * Settles a message, never sharing an AMQP disposition frame with a settlement of another outcome. rhea (3.0.5)
   * writes the dispositions of one tick as ranges of consecutive delivery ids with the first member's outcome, and
   * never compares the second member's outcome with the first's (`write_dispositions` in rhea/lib/session.js): a
   * complete and an abandon of neighbouring deliveries went out as one "accepted" range, and the abandoned message
   * was completed, so lost. Hence one kind of outcome at a time: a settlement of another kind waits until the
   * service has answered every one in flight (an answer comes after the frame was written), then all waiting of the
   * first waiting kind go out together. Acks alone never wait; a mix costs a round trip per change of kind. While a
   * settlement waits, its lock is still renewed.
   */
  private settle(delivery: Delivery, outcome: Outcome, reason?: string): void {
    // a dead-letter frame carries its description: two dead letters are the same outcome only with the same text
    const kind = outcome === 'deadLetter' ? `deadLetter: ${reason ?? ''}` : outcome;
    const settled = new Promise<void>((resolve) => {
      const settlement: Settlement = { kind, issue: () => this.issue(delivery, outcome, reason).then(resolve) };
      if (this.waiting.length === 0 && (this.inFlight.count === 0 || this.inFlight.kind === kind)) this.dispatch(settlement);
      else this.waiting.push(settlement);
    });
    this.pending.add(settled);
    void settled.finally(() => this.pending.delete(settled));
  }

  private dispatch(settlement: Settlement): void {
    this.inFlight.kind = settlement.kind;
    this.inFlight.count++;
    void settlement.issue().finally(() => {
      this.inFlight.count--;
      if (this.inFlight.count === 0) this.startWaiting();
    });
  }

  /** Nothing in flight: every waiting settlement of the first waiting kind goes out; the others wait for them. */
  private startWaiting(): void {
    if (this.waiting.length === 0) return;
    const { kind } = this.waiting[0];
    const now = this.waiting.filter((settlement) => settlement.kind === kind);
    const later = this.waiting.filter((settlement) => settlement.kind !== kind);
    this.waiting.splice(0, this.waiting.length, ...later);
    for (const settlement of now) this.dispatch(settlement);
  }

  /** Tells Service Bus; resolves once it answered (or the settlement failed: the message then comes back). */
  private issue(delivery: Delivery, outcome: Outcome, reason?: string): Promise<void> {
    const receiver = this.receiver as ServiceBusReceiver;
    const { message } = delivery;
    delivery.settling = true;
    clearTimeout(delivery.renewTimer);
    let operation: Promise<void>;
    try {
      operation =
        outcome === 'complete'
          ? receiver.completeMessage(message)
          : outcome === 'abandon'
            ? receiver.abandonMessage(message)
            : receiver.deadLetterMessage(message, {
                deadLetterReason: 'MaxDeliveriesExceeded',
                deadLetterErrorDescription: reason ?? 'too many deliveries',
              });
    } catch (error) {
      operation = Promise.reject(error);
    }
    return operation
      .catch((error: unknown) => {
        // no more renewals: the lock expires and Service Bus delivers the message again (at least once)
        this.context?.logger.warn(
          { err: error, id: message.messageId, entity: this.entityPath },
          `${SCHEME}: could not ${outcome} a message; Service Bus will deliver it again when its lock expires`,
        );
      })
      .finally(() => {
        this.deliveries.delete(delivery);
        delivery.done();
      });
  }

  ack(delivery: Delivery): void {
    this.settle(delivery, 'complete');
  }

  nack(delivery: Delivery, error: Error): void {
    this.context?.logger.debug({ id: delivery.message.messageId, err: error }, 'abandoning a message');
    this.settle(delivery, 'abandon');
  }

  private onError(args: ProcessErrorArgs): void {
    const logger = this.context?.logger ?? rootLogger();
    if (this.closed) return;
    if (args.errorSource === 'receive') {
      this.connected = false;
      this.failures++;
      const now = Date.now();
      if (now - this.lastWarnedAt >= WARN_EVERY_MS) {
        this.lastWarnedAt = now;
        logger.warn(
          { err: args.error, entity: this.entityPath, attempts: this.failures },
          `${SCHEME}: receiving from ${this.host} failed; reconnecting with backoff (ready is false until it answers)`,
        );
      } else {
        logger.debug({ err: args.error, entity: this.entityPath, attempts: this.failures }, `${SCHEME}: reconnecting failed again`);
      }
      this.probeUntilConnected();
    } else {
      logger.warn({ err: args.error, entity: this.entityPath, source: args.errorSource }, `${SCHEME}: ${args.errorSource} failed`);
    }
  }

  /** After a failure, peeks now and then until Service Bus answers, so that `ready` turns true again. */
  private probeUntilConnected(): void {
    if (this.probing || this.closed) return;
    this.probing = true;
    void (async () => {
      let attempt = 0;
      while (!this.closed && !this.connected) {
        try {
          await (this.receiver as ServiceBusReceiver).peekMessages(1);
          this.connected = true;
          if (this.failures > 0) {
            this.context?.logger.info({ entity: this.entityPath, attempts: this.failures }, `${SCHEME}: ${this.host} answers again`);
          }
          this.failures = 0;
          this.lastWarnedAt = 0;
        } catch {
          attempt++;
          await new Promise((resolve) =>
            setTimeout(resolve, equalJitter(exponentialBackoff(PROBE_DELAY_MS, attempt, PROBE_DELAY_MAX_MS))).unref(),
          );
        }
      }
      this.probing = false;
    })();
  }

  async stopIntake(): Promise<void> {
    // stops the flow of messages (drains the link's credit) but keeps the link, so in-flight messages still settle
    await this.subscription?.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    for (const delivery of this.deliveries) clearTimeout(delivery.renewTimer);
    if (this.pending.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.pending]), new Promise((resolve) => (timer = setTimeout(resolve, SETTLE_GRACE_MS)))]);
      clearTimeout(timer);
    }
    await this.receiver?.close().catch(() => undefined);
    await this.client?.close();
  }
}

/** Batched sender: each write packs the messages into as few Service Bus batches as their size allows. */
export class AzureSbSink implements SinkDriver {
  readonly scheme = SCHEME;
  /**
   * With key_as=sessionId each key is a session, which Service Bus delivers in order: the runtime then keeps a key's
   * messages in order through retries too. A partition key only picks a partition and promises no order.
   */
  readonly ordered: boolean;
  private client: ServiceBusClient | undefined;
  private sender: ServiceBusSender | undefined;
  private connecting: Promise<void> | undefined;
  private connected = false;
  private closed = false;

  constructor(
    private readonly config: SinkConfig,
    private readonly logger: Logger,
  ) {
    this.ordered = config.keyAs === 'sessionId';
  }

  /**
   * Connected or not. Asking (re)starts the connection when there is none: sinks connect lazily, and a readiness
   * probe must neither wait for the first message (which may itself wait for readiness) nor stay false after the
   * SDK lost an idle connection (it reconnects only when used).
   */
  get ready(): boolean {
    if (this.closed) return false;
    this.open();
    const up = this.connected && connectionOpen(this.client);
    if (!up && this.connecting === undefined) this.connect();
    return up;
  }

  private get host(): string {
    return this.config.credentials.host;
  }

  private open(): ServiceBusSender {
    if (this.sender === undefined) {
      this.client = createClient(this.config.credentials, SINK_CLIENT_OPTIONS);
      this.sender = this.client.createSender(this.config.entity);
      this.connect();
    }
    return this.sender;
  }

  /** Opens the link now, so that `ready` and a wrong entity show before the first write. */
  private connect(): void {
    const sender = this.sender as ServiceBusSender;
    this.connecting = sender
      .createMessageBatch()
      .then(
        () => {
          if (!this.connected) {
            this.logger.info(
              { entity: this.config.entity, host: this.host },
              `sending to ${SCHEME}://${this.config.entity} on ${this.host}`,
            );
          }
          this.connected = true;
        },
        (error: unknown) => {
          this.connected = false;
          this.logger.warn(
            { err: toConnectorError(error, this.host, `cannot send to '${this.config.entity}'`) },
            `${SCHEME}: cannot send to '${this.config.entity}' yet`,
          );
        },
      )
      .finally(() => {
        this.connecting = undefined;
      });
  }

  async write(batch: readonly Message[]): Promise<WriteResult> {
    const sender = this.open();
    const results: (Error | undefined)[] = new Array(batch.length).fill(undefined);
    let current = await this.newBatch(sender);
    let members: number[] = [];
    const flush = async (): Promise<void> => {
      if (members.length === 0) return;
      const sent = members;
      members = [];
      try {
        await sender.sendMessages(current);
        this.connected = true;
      } catch (error) {
        this.connected = !(isServiceBusError(error) && error.code === 'ServiceCommunicationProblem');
        const failure = toConnectorError(error, this.host, `sending ${sent.length} message(s) to '${this.config.entity}' failed`);
        for (const index of sent) results[index] = failure;
      }
      current = await this.newBatch(sender);
    };
    for (let index = 0; index < batch.length; index++) {
      const message = batch[index];
      let outgoing: ServiceBusMessage;
      try {
        outgoing = toServiceBusMessage(message, this.config.keyAs);
        if (current.tryAddMessage(outgoing)) {
          members.push(index);
          continue;
        }
        await flush();
        if (current.tryAddMessage(outgoing)) {
          members.push(index);
          continue;
        }
        results[index] = new PermanentError(
          `${SCHEME} (${this.host}): message ${message.id} (${message.body.length} bytes of body) is larger than the ${current.maxSizeInBytes} bytes '${this.config.entity}' accepts`,
        );
      } catch (error) {
        // the SDK refuses what it cannot encode (an id or key too long): retrying will not help
        results[index] =
          error instanceof PermanentError
            ? error
            : new PermanentError(`${SCHEME}: message ${message.id}: ${(error as Error).message}`, { cause: error });
      }
    }
    await flush();
    return results;
  }

  private async newBatch(sender: ServiceBusSender): Promise<ServiceBusMessageBatch> {
    try {
      return await sender.createMessageBatch();
    } catch (error) {
      this.connected = false;
      throw toConnectorError(error, this.host, `cannot send to '${this.config.entity}'`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.connected = false;
    await this.connecting;
    await this.sender?.close().catch(() => undefined);
    await this.client?.close();
  }
}

/** The parameters of azuresb://, described for --help, the unknown-parameter warning and docs/connectors/azuresb.md. */
export const SERVICE_BUS_SOURCE_PARAMS: readonly ParamSpec[] = [
  {
    name: 'subscription',
    description: 'the subscription to read when the URI names a topic, for example azuresb://events?subscription=audit',
    default: 'none: the URI names a queue',
  },
  {
    name: 'subqueue',
    description: "deadletter reads the entity's dead-letter queue, transferdeadletter its transfer dead-letter queue",
    default: 'none: the entity itself',
  },
  {
    name: 'max_lock_renewal',
    description: 'how long the lock of a message in flight is renewed, a duration such as 10m',
    default: 'ACK_TIMEOUT plus 1m (30 days with ACK_TIMEOUT=0)',
  },
];

export const SERVICE_BUS_SINK_PARAMS: readonly ParamSpec[] = [
  {
    name: 'key_as',
    description: 'where the message key goes: partitionKey, or sessionId (each key a session, kept in order through retries)',
    default: 'partitionKey',
  },
];

function ackTimeoutMs(value: number | string | undefined): number {
  return parseDuration(value ?? DEFAULT_ACK_TIMEOUT_MS, 'ackTimeout');
}

registerScheme({
  schemes: [SCHEME],
  description:
    'Azure Service Bus: as a source, a queue (azuresb://queue) or a topic subscription (azuresb://topic?subscription=s), peek-lock; as a sink, a queue or topic, batched',
  sourceExample: 'azuresb://mytopic?subscription=mysubscription',
  sinkExample: 'azuresb://mytopic',
  sourceParams: SERVICE_BUS_SOURCE_PARAMS,
  sinkParams: SERVICE_BUS_SINK_PARAMS,
  openSource: (uri, options) => {
    const env = options.env ?? process.env;
    const maxDeliveries = options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES;
    if (!Number.isInteger(maxDeliveries) || maxDeliveries < 1) {
      throw new ConfigError(`maxDeliveries must be a whole number of at least 1, for example 5`, { variable: 'MAX_DELIVERIES' });
    }
    return new AzureSbSource(sourceConfig(uri, env, ackTimeoutMs(options.ackTimeout)), maxDeliveries, options.deadLetter === undefined);
  },
  openSink: (uri, options) => {
    const env = options.env ?? process.env;
    const logger = (options.logger ?? rootLogger()).child({ connector: SCHEME });
    return new AzureSbSink(sinkConfig(uri, env), logger);
  },
  // Service Bus batches up to the entity's message size (256 KiB on Standard); a few writes in flight keep the link busy
  sinkDefaults: { concurrency: 4, batch: { count: 100, bytes: 192 * 1024 } },
});
