// awssqs://: the SQS source (long-polling receives sized to the credit window, batched deletes, nack as a visibility
// backoff, visibility extension for slow messages, SNS envelope unwrapping) and the SQS sink (SendMessageBatch with
// per-entry results, FIFO groups and deduplication ids).
import {
  SQSClient,
  ReceiveMessageCommand,
  DeleteMessageBatchCommand,
  ChangeMessageVisibilityBatchCommand,
  SendMessageBatchCommand,
  GetQueueUrlCommand,
  type Message as SqsMessage,
  type SendMessageBatchRequestEntry,
  type BatchResultErrorEntry,
} from '@aws-sdk/client-sqs';
import type { EndpointUri } from '../../registry';
import type { Delivery, SourceContext, SourceDriver } from '../../source';
import type { SinkDriver } from '../../sink';
import type { Message, MessageInit } from '../../message';
import { ConfigError, ShutdownError } from '../../errors';
import { parseBoolean, parseInteger } from '../../config';
import { equalJitter, exponentialBackoff } from '../../backoff';
import { noteFailure } from '../../deadLetter';
import {
  type AwsClientSettings,
  DEFAULT_MAX_MESSAGE_SIZE,
  MAX_SQS_MESSAGE_SIZE,
  GroupSequencer,
  type AwsResource,
  checkRegion,
  clientConfig,
  clientSettings,
  connectorError,
  decodeMessage,
  describeHost,
  isAbort,
  isDefinitive,
  isMissing,
  missingResourceError,
  parseSnsEnvelope,
  resourceError,
  secondsParam,
  sizeParam,
  unwrapSnsEnvelope,
  writeBatch,
} from './common';
import { wakeableWait } from '../../wakeableWait';

const SCHEME = 'awssqs';
/** The most messages one ReceiveMessage, DeleteMessageBatch or SendMessageBatch handles. */
const MAX_BATCH = 10;

/** A queue named by an awssqs:// URI: `https://` + host + path is its URL (like gocloud). */
export interface SqsQueueAddress {
  queueUrl: string;
  host: string;
  account: string;
  name: string;
  fifo: boolean;
}

export function parseQueueUri(uri: EndpointUri): SqsQueueAddress {
  const example = 'awssqs://sqs.us-east-2.amazonaws.com/123456789012/myqueue?region=us-east-2';
  const host = uri.url.host;
  const segments = uri.url.pathname.split('/').filter((segment) => segment !== '');
  if (host === '' || segments.length !== 2) {
    throw new ConfigError(`'${uri.raw}' does not name a queue: write awssqs://<host>/<account id>/<queue name>, for example ${example}`, {
      variable: uri.variable,
    });
  }
  const [account, name] = segments.map((segment) => decodeURIComponent(segment));
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(name.replace(/\.fifo$/, ''))) {
    throw new ConfigError(
      `'${name}' is not a queue name: at most 80 letters, digits, '-' or '_' (FIFO queues end in .fifo), for example ${example}`,
      { variable: uri.variable },
    );
  }
  return { queueUrl: `https://${host}${uri.url.pathname}`, host, account, name, fifo: name.endsWith('.fifo') };
}

/** The region in an SQS host name: sqs.<region>.amazonaws.com, or the legacy <region>.queue.amazonaws.com. */
function regionOfHost(host: string): string | undefined {
  return /^sqs[.-]([a-z0-9-]+)\.amazonaws\.com/.exec(host)?.[1] ?? /^([a-z0-9-]+)\.queue\.amazonaws\.com/.exec(host)?.[1];
}

export function sqsSettings(uri: EndpointUri, env: NodeJS.ProcessEnv, address: SqsQueueAddress): AwsClientSettings {
  return clientSettings(uri, env, 'SQS', regionOfHost(address.host));
}

function createClient(settings: AwsClientSettings, requestTimeoutMs: number): SQSClient {
  return new SQSClient(clientConfig(settings, requestTimeoutMs));
}

/**
 * The queue URL to send requests with. With an endpoint override (an emulator, a VPC endpoint) the URL is asked of
 * the endpoint with GetQueueUrl, since emulators name their queues their own way; otherwise it is the URI's.
 */
async function resolveQueueUrl(
  client: SQSClient,
  address: SqsQueueAddress,
  settings: AwsClientSettings,
  abortSignal?: AbortSignal,
): Promise<string> {
  if (settings.endpoint === undefined) return address.queueUrl;
  return askQueueUrl(client, address, abortSignal);
}

/** GetQueueUrl by the queue's name and account: fails with QueueDoesNotExist when there is no such queue. */
async function askQueueUrl(client: SQSClient, address: SqsQueueAddress, abortSignal?: AbortSignal): Promise<string> {
  const output = await client.send(
    new GetQueueUrlCommand({
      QueueName: address.name,
      ...(/^\d{12}$/.test(address.account) ? { QueueOwnerAWSAccountId: address.account } : {}),
    }),
    abortSignal ? { abortSignal } : undefined,
  );
  return output.QueueUrl ?? address.queueUrl;
}

/** Collects settlement requests (deletes, visibility changes) into batch calls of up to 10, sent on the next turn. */
class SettlementBatcher<E> {
  private pending: E[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly send: (entries: E[]) => Promise<void>) {}

  add(entry: E): void {
    this.pending.push(entry);
    if (this.pending.length >= MAX_BATCH) this.flush();
    else this.scheduled ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    while (this.pending.length > 0) {
      const entries = this.pending.splice(0, MAX_BATCH);
      const sending: Promise<void> = this.send(entries).finally(() => this.running.delete(sending));
      this.running.add(sending);
    }
  }

  /** Sends what is pending and waits for every call in progress. */
  async drain(): Promise<void> {
    this.flush();
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}

/**
 * Retries a settlement call a few times beyond the SDK's own retries: a lost delete only means a duplicate later.
 * Settlements are not messages the runtime retries (ack/nack return nothing), so the driver does it, with the
 * backoff of lib/backoff.ts.
 */
async function withRetries<T>(call: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= attempts || isDefinitive(error) || isAbort(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, equalJitter(exponentialBackoff(200, attempt, 2000))));
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return wakeableWait(signal, { ms });
}

export interface SqsSourceConfig {
  address: SqsQueueAddress;
  settings: AwsClientSettings;
  /** Long-poll wait, seconds (0-20). */
  waitTime: number;
  /** Visibility timeout given to each receive and renewed for slow messages, seconds. */
  visibility: number;
  /** Take SNS envelopes as they are instead of unwrapping them. */
  raw: boolean;
  /** Receives in progress at once. */
  pollers: number;
  /** Visibility after a nack, seconds, doubled per delivery up to nackDelayMax; 0 = visible again at once. */
  nackDelay: number;
  nackDelayMax: number;
  /** The URI for logs. */
  name: string;
}

/** One received message, as the runtime hands it back in ack/nack. */
export interface SqsDelivery {
  readonly receiptHandle: string;
  readonly deliveryCount: number;
  /** When its visibility runs out (ms), renewed by the extender. */
  deadline: number;
}

interface VisibilityChange {
  receiptHandle: string;
  seconds: number;
  reason: 'nack' | 'extend' | 'release';
}

/**
 * How long a closed source keeps its connection for the long polls still open (they answer when a message comes, or
 * after waittime), so that what they take is released rather than hidden for the visibility timeout.
 */
const OPEN_POLL_GRACE_MS = 2000;

/** How long a short-polling receive (waittime=0) waits after finding the queue empty, so as not to spin. */
const EMPTY_SHORT_POLL_PAUSE_MS = 1000;

/**
 * The SQS source: a pull driver. The runtime calls receiveBatch() on `pollers` receivers at once, each asking for
 * what fits in the window (at most 10, the ReceiveMessage limit), and owns the pausing and the backoff after failed
 * receives; the driver long-polls, keeps the visibility of slow messages extended, and batches the settlements.
 */
export class SqsSource implements SourceDriver<SqsDelivery> {
  readonly scheme = SCHEME;
  readonly maxBatch = MAX_BATCH;
  readonly receivers: number;
  private client: SQSClient | undefined;
  private queueUrl: string | undefined;
  private context!: SourceContext<SqsDelivery>;
  private readonly host: string;
  private connected = false;
  /** Whether the lifecycle line "receiving from ..." was logged. */
  private announced = false;
  /** What the start-up receive took: handed out by the first receiveBatch calls. */
  private prefetched: SqsMessage[] = [];
  private readonly inFlight = new Set<SqsDelivery>();
  /** Receives in progress (each settles once its answer is handled), for close(). */
  private readonly openPolls = new Set<Promise<void>>();
  /** Cuts the receives still open once the source is closed and their grace is over (not when intake stops). */
  private readonly cutPolls = new AbortController();
  private extendTimer: NodeJS.Timeout | undefined;
  private readonly visibilityMs: number;
  private readonly deletes: SettlementBatcher<string>;
  private readonly visibilityChanges: SettlementBatcher<VisibilityChange>;

  /** The queue, for the error that says it does not exist. */
  private readonly resource: AwsResource;

  constructor(private readonly config: SqsSourceConfig) {
    this.host = describeHost(config.settings, config.address.host);
    this.resource = { kind: 'queue', name: config.address.name };
    this.visibilityMs = config.visibility * 1000;
    this.receivers = config.pollers;
    this.deletes = new SettlementBatcher((handles) => this.deleteBatch(handles));
    this.visibilityChanges = new SettlementBatcher((changes) => this.changeVisibilityBatch(changes));
  }

  get ready(): boolean {
    return this.connected;
  }

  /**
   * Resolves the region, then receives once without waiting, so that a missing queue, bad credentials or no region
   * fail the start-up; what that receive took is handed out by the first receiveBatch. A failure that may go away
   * (the endpoint is down) does not stop the start: the runtime's receives try again with backoff.
   */
  async start(context: SourceContext<SqsDelivery>): Promise<void> {
    this.context = context;
    // long polls stay open for waitTime: the socket timeout must outlast them
    const client = createClient(this.config.settings, (this.config.waitTime + 15) * 1000);
    this.client = client;
    await checkRegion(client, SCHEME, this.host, 'SQS');
    let operation = 'GetQueueUrl';
    try {
      this.queueUrl = await resolveQueueUrl(client, this.config.address, this.config.settings);
      operation = 'ReceiveMessage';
      this.prefetched = await this.receive(client, Math.min(MAX_BATCH, context.maxInFlight), 0);
    } catch (error) {
      if (isMissing(error, this.resource)) throw missingResourceError(error, this.resource, operation, SCHEME, this.host);
      const failure = connectorError(error, SCHEME, this.host, operation, 'SQS');
      if (!failure.retryable) throw failure;
      context.logger.warn({ err: failure }, `${failure.message}; receiving will be tried again with backoff`);
      return;
    }
    this.answered();
  }

  async receiveBatch(max: number, signal: AbortSignal): Promise<Delivery<SqsDelivery>[]> {
    if (this.prefetched.length > 0) return this.deliveries(this.prefetched.splice(0, max));
    if (signal.aborted) return [];
    const client = this.client as SQSClient;
    let messages: SqsMessage[];
    try {
      this.queueUrl ??= await resolveQueueUrl(client, this.config.address, this.config.settings, signal);
      const polled = await this.poll(client, Math.min(max, MAX_BATCH), signal);
      // intake stopped during the poll: the runtime gets nothing, and what the poll takes later is released
      if (polled === undefined) return [];
      messages = polled;
    } catch (error) {
      if (signal.aborted || isAbort(error)) return [];
      this.connected = false;
      const operation = this.queueUrl === undefined ? 'GetQueueUrl' : 'ReceiveMessage';
      // SQS had not answered yet (the start-up check could not reach it): finding no queue now fails the start-up
      if (!this.announced && isMissing(error, this.resource))
        throw missingResourceError(error, this.resource, operation, SCHEME, this.host);
      // once SQS answered, every receive failure is worth retrying: a queue re-created or a permission granted
      // meanwhile is picked up by the next receive, and the runtime spaces them out (lib/backoff.ts)
      throw resourceError(error, this.resource, SCHEME, this.host, operation, 'SQS', true);
    }
    this.answered();
    if (messages.length === 0 && this.config.waitTime === 0) await pause(EMPTY_SHORT_POLL_PAUSE_MS, signal);
    return this.deliveries(messages);
  }

  /**
   * One receive of the pull loop, resolving undefined when intake stops before it answers. The request itself is not
   * aborted: SQS goes on serving a long poll whose connection was closed (aws-sdk-js#2350), and the messages it hands
   * to it stay invisible for the visibility timeout. So the poll is left to finish (within waittime) and whatever it
   * takes after intake stopped is made visible again at once; close() does not wait for it (see close()).
   */
  private poll(client: SQSClient, max: number, signal: AbortSignal): Promise<SqsMessage[] | undefined> {
    const receiving = this.receive(client, max, this.config.waitTime, this.cutPolls.signal);
    return new Promise((resolve, reject) => {
      let abandoned = false;
      const abandon = (): void => {
        abandoned = true;
        resolve(undefined);
      };
      signal.addEventListener('abort', abandon, { once: true });
      const finished: Promise<void> = receiving
        .then(
          (messages) => {
            signal.removeEventListener('abort', abandon);
            if (abandoned) this.release(messages, 'a receive still open when intake stopped took messages');
            else resolve(messages);
          },
          (error: unknown) => {
            signal.removeEventListener('abort', abandon);
            if (!abandoned) reject(error);
            else this.context.logger.debug({ err: error }, 'a receive still open when intake stopped failed; it took nothing');
          },
        )
        .finally(() => this.openPolls.delete(finished));
      this.openPolls.add(finished);
    });
  }

  /** Messages nobody will process (`taken`: how they came to be here): visible again for another consumer. */
  private release(messages: readonly SqsMessage[], taken: string): void {
    let released = 0;
    for (const message of messages) {
      if (message.ReceiptHandle === undefined) continue;
      this.visibilityChanges.add({ receiptHandle: message.ReceiptHandle, seconds: 0, reason: 'release' });
      released++;
    }
    if (released > 0) this.context.logger.debug({ released }, `${taken}; made visible again at once`);
  }

  /** Not aborted when intake stops: see poll(). */
  private async receive(client: SQSClient, max: number, waitTime: number, abortSignal?: AbortSignal): Promise<SqsMessage[]> {
    const output = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: waitTime,
        VisibilityTimeout: this.config.visibility,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'MessageGroupId', 'MessageDeduplicationId'],
      }),
      abortSignal === undefined ? undefined : { abortSignal },
    );
    return output.Messages ?? [];
  }

  private answered(): void {
    this.connected = true;
    if (!this.announced) {
      this.announced = true;
      this.context.logger.info({ queue: this.queueUrl }, `receiving from ${this.queueUrl}`);
    }
  }

  private deliveries(messages: readonly SqsMessage[]): Delivery<SqsDelivery>[] {
    const now = Date.now();
    const batch: Delivery<SqsDelivery>[] = [];
    for (const sqsMessage of messages) {
      const receiptHandle = sqsMessage.ReceiptHandle;
      if (receiptHandle === undefined) continue;
      const deliveryCount = Number(sqsMessage.Attributes?.ApproximateReceiveCount ?? '1') || 1;
      let init: MessageInit;
      try {
        init = this.decode(sqsMessage);
      } catch (error) {
        this.context.stats.error('decode_failed');
        noteFailure(
          this.context.logger,
          'decode_failed',
          { err: error, messageId: sqsMessage.MessageId },
          `could not decode SQS message ${sqsMessage.MessageId ?? ''}; it comes back after its visibility timeout`,
        );
        continue;
      }
      const delivery: SqsDelivery = { receiptHandle, deliveryCount, deadline: now + this.visibilityMs };
      this.inFlight.add(delivery);
      batch.push({ message: { ...init, deliveryCount }, token: delivery });
    }
    if (batch.length > 0) this.startExtender();
    return batch;
  }

  private decode(sqsMessage: SqsMessage): MessageInit {
    const system = sqsMessage.Attributes ?? {};
    const body = sqsMessage.Body ?? '';
    const envelope = this.config.raw ? undefined : parseSnsEnvelope(body);
    const init = envelope
      ? unwrapSnsEnvelope(envelope)
      : decodeMessage(body, sqsMessage.MessageAttributes, system.MessageDeduplicationId ?? sqsMessage.MessageId);
    if (init.key === undefined && system.MessageGroupId !== undefined) init.key = system.MessageGroupId;
    return init;
  }

  /** Renews the visibility of messages still in flight when half of it is gone, so that SQS does not redeliver them. */
  private startExtender(): void {
    if (this.extendTimer !== undefined || this.inFlight.size === 0) return;
    const period = Math.max(100, Math.floor(this.visibilityMs / 4));
    this.extendTimer = setInterval(() => this.extendVisibility(), period);
    this.extendTimer.unref();
  }

  private extendVisibility(): void {
    if (this.inFlight.size === 0) {
      clearInterval(this.extendTimer);
      this.extendTimer = undefined;
      return;
    }
    const now = Date.now();
    const threshold = now + this.visibilityMs / 2;
    let extended = 0;
    for (const delivery of this.inFlight) {
      if (delivery.deadline > threshold) continue;
      delivery.deadline = now + this.visibilityMs;
      this.visibilityChanges.add({ receiptHandle: delivery.receiptHandle, seconds: this.config.visibility, reason: 'extend' });
      extended++;
    }
    if (extended > 0) this.context.logger.debug({ extended, seconds: this.config.visibility }, 'extending the visibility of slow messages');
  }

  ack(delivery: SqsDelivery): void {
    this.inFlight.delete(delivery);
    this.deletes.add(delivery.receiptHandle);
  }

  /**
   * Visible again after `nack_delay`, doubled per delivery up to `nack_delay_max`. A message the pipeline gives back
   * because it is stopping (never taken, or cut off by the drain) is no failure of its own: visible again at once.
   */
  nack(delivery: SqsDelivery, error: Error): void {
    this.inFlight.delete(delivery);
    if (error instanceof ShutdownError) {
      this.visibilityChanges.add({ receiptHandle: delivery.receiptHandle, seconds: 0, reason: 'release' });
      return;
    }
    const { nackDelay, nackDelayMax } = this.config;
    const seconds = nackDelay === 0 ? 0 : exponentialBackoff(nackDelay, delivery.deliveryCount, nackDelayMax);
    this.context.logger.debug({ err: error, deliveries: delivery.deliveryCount, seconds }, 'nack: message visible again after a backoff');
    this.visibilityChanges.add({ receiptHandle: delivery.receiptHandle, seconds, reason: 'nack' });
  }

  private async deleteBatch(receiptHandles: string[]): Promise<void> {
    const entries = receiptHandles.map((ReceiptHandle, i) => ({ Id: `d${i}`, ReceiptHandle }));
    const failed = await this.batchRequest(
      'DeleteMessageBatch',
      (client) => client.send(new DeleteMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries })),
      (failure) => {
        this.context.stats.error('delete_failed', receiptHandles.length);
        noteFailure(
          this.context.logger,
          'delete_failed',
          { err: failure, count: receiptHandles.length },
          `${failure.message}; ${receiptHandles.length} acked message(s) will be delivered again`,
        );
      },
    );
    this.reportEntryFailures(failed, 'DeleteMessageBatch', 'they will be delivered again');
  }

  private async changeVisibilityBatch(changes: VisibilityChange[]): Promise<void> {
    const entries = changes.map((change, i) => ({ Id: `v${i}`, ReceiptHandle: change.receiptHandle, VisibilityTimeout: change.seconds }));
    const failed = await this.batchRequest(
      'ChangeMessageVisibilityBatch',
      (client) => client.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: this.queueUrl, Entries: entries })),
      (failure) => {
        const extensions = changes.filter((change) => change.reason === 'extend').length;
        noteFailure(
          this.context.logger,
          'visibility_change_failed',
          { err: failure, count: changes.length, extensions },
          `${failure.message}; nacked messages come back when their visibility runs out${extensions > 0 ? ', and slow ones may be delivered twice' : ''}`,
        );
      },
    );
    // a failed extension of a message settled meanwhile is expected; one for a nack only delays the redelivery
    if (failed !== undefined && failed.length > 0) {
      this.context.logger.debug({ failed }, 'ChangeMessageVisibilityBatch: some entries failed');
    }
  }

  /**
   * Sends one batch request of `operation` to the queue, retried after a connection error, and resolves to the entries
   * it failed. When the whole request fails, `onFailure` gets the error (naming the queue) and it resolves to undefined.
   */
  private async batchRequest(
    operation: string,
    send: (client: SQSClient) => Promise<{ Failed?: BatchResultErrorEntry[] }>,
    onFailure: (failure: Error) => void,
  ): Promise<BatchResultErrorEntry[] | undefined> {
    const client = this.client as SQSClient;
    try {
      return (await withRetries(() => send(client))).Failed ?? [];
    } catch (error) {
      onFailure(resourceError(error, this.resource, SCHEME, this.host, operation, 'SQS'));
      return undefined;
    }
  }

  private reportEntryFailures(failed: BatchResultErrorEntry[] | undefined, operation: string, consequence: string): void {
    if (failed === undefined || failed.length === 0) return;
    const codes = [...new Set(failed.map((entry) => entry.Code))].join(', ');
    noteFailure(
      this.context.logger,
      'delete_failed',
      { failed: failed.length, codes },
      `${SCHEME} (${this.host}): ${operation}: ${failed.length} entr(ies) failed (${codes}); ${consequence}`,
    );
  }

  async close(): Promise<void> {
    clearInterval(this.extendTimer);
    this.extendTimer = undefined;
    if (this.client !== undefined) {
      this.release(this.prefetched.splice(0), 'taken at start-up but never handed out (the pipeline stopped first)');
      await this.deletes.drain();
      await this.visibilityChanges.drain();
      const client = this.client;
      if (this.openPolls.size === 0) client.destroy();
      else {
        // cutting the long polls still open would let SQS hide what it hands them afterwards: they are left to answer
        // and what they took is released, for OPEN_POLL_GRACE_MS at most (a closed pipeline keeps no sockets for
        // long); close() does not wait. A poll cut after that may still hide a message (docs/connectors/aws.md).
        this.context.logger.debug({ receives: this.openPolls.size }, 'receives still open: the client is closed once they answer');
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, OPEN_POLL_GRACE_MS);
          timer.unref();
        });
        const answered = Promise.all([...this.openPolls]).then(() => this.visibilityChanges.drain());
        void Promise.race([answered, grace]).finally(() => {
          clearTimeout(timer);
          // destroy() leaves requests in progress alone
          this.cutPolls.abort();
          client.destroy();
        });
      }
    }
    this.connected = false;
  }
}

export interface SqsSinkConfig {
  address: SqsQueueAddress;
  settings: AwsClientSettings;
  /** The largest message (body plus attributes), and the largest request. */
  maxMessageSize: number;
}

/** The SQS sink driver: SendMessageBatch, per-entry results, FIFO group order. */
export class SqsSink implements SinkDriver {
  readonly scheme = SCHEME;
  /**
   * A FIFO queue keeps each group (the message key) in order: the runtime then keeps a key's messages in order
   * through retries too (a failed write holds back the later messages of its keys until it is written).
   */
  readonly ordered: boolean;
  private client: SQSClient | undefined;
  private queueUrl: Promise<string> | undefined;
  private healthy = true;
  private readonly host: string;
  /** Keeps a group's writes in the order they started, also when the user turned the runtime's order off. */
  private readonly sequencer = new GroupSequencer();

  /** The queue, for the error that says it does not exist. */
  private readonly resource: AwsResource;

  constructor(private readonly config: SqsSinkConfig) {
    this.host = describeHost(config.settings, config.address.host);
    this.ordered = config.address.fifo;
    this.resource = { kind: 'queue', name: config.address.name };
  }

  get ready(): boolean {
    return this.healthy;
  }

  /**
   * run()'s start-up check: no region, or no such queue, is a configuration mistake, not something a retry fixes. The
   * queue is looked up with GetQueueUrl; any other failure of it (no permission for GetQueueUrl, the endpoint down)
   * proves nothing, and the writes tell.
   */
  async start(): Promise<void> {
    this.client ??= createClient(this.config.settings, 30_000);
    const client = this.client;
    await checkRegion(client, SCHEME, this.host, 'SQS');
    let url: string;
    try {
      url = await askQueueUrl(client, this.config.address);
    } catch (error) {
      if (isMissing(error, this.resource)) throw missingResourceError(error, this.resource, 'GetQueueUrl', SCHEME, this.host);
      return;
    }
    // with an endpoint override the writes need this URL anyway
    if (this.config.settings.endpoint !== undefined) this.queueUrl ??= Promise.resolve(url);
  }

  private resolve(client: SQSClient): Promise<string> {
    if (this.queueUrl === undefined) {
      const resolving = resolveQueueUrl(client, this.config.address, this.config.settings);
      this.queueUrl = resolving;
      resolving.catch(() => {
        if (this.queueUrl === resolving) this.queueUrl = undefined; // ask again on the next write
      });
    }
    return this.queueUrl;
  }

  async write(batch: readonly Message[]): Promise<(Error | undefined)[]> {
    this.client ??= createClient(this.config.settings, 30_000);
    const client = this.client;
    return writeBatch(batch, {
      scheme: SCHEME,
      host: this.host,
      service: 'SQS',
      operation: 'SendMessageBatch',
      fifo: this.config.address.fifo,
      maxSize: this.config.maxMessageSize,
      maxEntries: MAX_BATCH,
      sequencer: this.sequencer,
      resource: this.resource,
      entry: (fields, body): SendMessageBatchRequestEntry => ({ ...fields, MessageBody: body }),
      send: async (entries) => client.send(new SendMessageBatchCommand({ QueueUrl: await this.resolve(client), Entries: entries })),
      answered: (healthy) => {
        this.healthy = healthy;
      },
    });
  }

  async close(): Promise<void> {
    this.client?.destroy();
    this.client = undefined;
  }
}

/** Builds the source driver for `uri`, validating every parameter (no connection yet). */
export function openSqsSource(uri: EndpointUri, env: NodeJS.ProcessEnv, maxInFlight: number): SqsSource {
  const address = parseQueueUri(uri);
  const rawParam = uri.params.get('raw');
  const pollersParam = uri.params.get('pollers');
  const nackDelay = secondsParam(uri, 'nack_delay', 1, 0, 43_200);
  return new SqsSource({
    address,
    settings: sqsSettings(uri, env, address),
    waitTime: secondsParam(uri, 'waittime', 20, 0, 20),
    visibility: secondsParam(uri, 'visibility', 30, 1, 43_200),
    raw: rawParam === undefined ? false : parseBoolean(rawParam, `${uri.variable} raw`),
    pollers:
      pollersParam === undefined
        ? Math.max(1, Math.min(4, Math.ceil(maxInFlight / MAX_BATCH)))
        : parseInteger(pollersParam, `${uri.variable} pollers`, 1, 64),
    nackDelay,
    nackDelayMax: Math.max(nackDelay, secondsParam(uri, 'nack_delay_max', 900, 0, 43_200)),
    name: uri.raw,
  });
}

export function openSqsSink(uri: EndpointUri, env: NodeJS.ProcessEnv): SqsSink {
  const address = parseQueueUri(uri);
  return new SqsSink({
    address,
    settings: sqsSettings(uri, env, address),
    maxMessageSize: sizeParam(uri, 'max_message_size', DEFAULT_MAX_MESSAGE_SIZE, 1024, MAX_SQS_MESSAGE_SIZE),
  });
}
