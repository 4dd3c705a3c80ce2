// gcppubsub://: Google Cloud Pub/Sub through @google-cloud/pubsub. The source is the client's streaming pull with
// its flow control set to the credit window; the sink publishes through the client's batching publisher, with the
// message key as the ordering key. The client library is required only when a driver connects (it takes ~250 ms).
import fs from 'node:fs';
import type * as PubSubModule from '@google-cloud/pubsub';
import type { PubSub, Subscription, Topic, Message as PubSubMessage, ClientConfig } from '@google-cloud/pubsub';
import { LRUCache } from 'lru-cache';
import { registerScheme, type EndpointUri, type ParamSpec } from '../../registry';
import { DEFAULT_MAX_IN_FLIGHT } from '../../source';
import type { ReceivedMessage, SourceContext, SourceDriver, SourceOptions } from '../../source';
import type { SinkDriver, SinkOptions, WriteResult } from '../../sink';
import type { Message } from '../../message';
import { ConfigError, ConnectorError, PermanentError, ShutdownError } from '../../errors';
import { parseBoolean, parseDuration, parseInteger } from '../../config';

const SCHEME = 'gcppubsub';
const DEFAULT_HOST = 'pubsub.googleapis.com';
/** The attribute that carries the message id across Pub/Sub (which assigns its own ids), as HTTP's X-Message-Id. */
export const MESSAGE_ID_ATTRIBUTE = 'x-message-id';
export const DEFAULT_PUBLISH_TIMEOUT = '60s';

// Pub/Sub's limits (https://cloud.google.com/pubsub/quotas#resource_limits)
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
const MAX_ATTRIBUTES = 100;
const MAX_ATTRIBUTE_KEY_BYTES = 256;
const MAX_ATTRIBUTE_VALUE_BYTES = 1024;
const MAX_ORDERING_KEY_BYTES = 1024;
const MAX_BATCH_MESSAGES = 1000;
const MAX_BATCH_BYTES = 9 * 1024 * 1024;
const RESOURCE_ID = /^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;
const PROJECT_ID = /^[A-Za-z0-9][A-Za-z0-9.:_-]*$/;

/** gRPC status codes that trying again will not fix. */
const GRPC = {
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
const CONFIGURATION_CODES = new Set<number>([
  GRPC.NOT_FOUND,
  GRPC.PERMISSION_DENIED,
  GRPC.FAILED_PRECONDITION,
  GRPC.UNIMPLEMENTED,
  GRPC.UNAUTHENTICATED,
]);
const CONNECTION_CODES = new Set<number>([GRPC.UNAVAILABLE, GRPC.DEADLINE_EXCEEDED, GRPC.CANCELLED]);
/** How long close() waits for the subscription to end before closing the client anyway. */
const CLOSE_WAIT_MS = 10_000;
/** grpc connectivityState.READY */
const CHANNEL_READY = 2;

/** projects/<project>/<kind>/<id>, from the long or the short form of the URI. */
export interface ResourceName {
  project: string;
  id: string;
  path: string;
}

/** Parses `gcppubsub://projects/p/<kind>/id` or the short `gcppubsub://p/id`. */
export function parseResourceName(uri: EndpointUri, kind: 'topics' | 'subscriptions'): ResourceName {
  const singular = kind === 'topics' ? 'topic' : 'subscription';
  const example =
    kind === 'topics'
      ? 'gcppubsub://projects/my-project/topics/my-topic (or gcppubsub://my-project/my-topic)'
      : 'gcppubsub://projects/my-project/subscriptions/my-subscription (or gcppubsub://my-project/my-subscription)';
  let text: string;
  try {
    text = decodeURIComponent(uri.url.host + uri.url.pathname).replace(/^\/+|\/+$/g, '');
  } catch (error) {
    throw new ConfigError(`'${uri.raw}' has a bad percent-encoding; write ${example}`, { variable: uri.variable, cause: error });
  }
  let project: string;
  let id: string;
  const long = /^projects\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(text);
  const short = /^([^/]+)\/([^/]+)$/.exec(text);
  if (long !== null) {
    if (long[2] !== kind) {
      const other = kind === 'topics' ? 'a sink publishes to a topic' : 'a source reads a subscription';
      throw new ConfigError(`'${uri.raw}' names ${long[2]}, but ${other}; write ${example}`, { variable: uri.variable });
    }
    project = long[1];
    id = long[3];
  } else if (short !== null && short[1] !== 'projects') {
    project = short[1];
    id = short[2];
  } else {
    throw new ConfigError(`'${uri.raw}' names no Pub/Sub ${singular}; write ${example}`, { variable: uri.variable });
  }
  if (!PROJECT_ID.test(project)) {
    throw new ConfigError(`'${project}' is not a Google Cloud project id; write ${example}`, { variable: uri.variable });
  }
  if (!RESOURCE_ID.test(id) || id.toLowerCase().startsWith('goog')) {
    throw new ConfigError(
      `'${id}' is not a valid ${singular} id: it must start with a letter, have 3 to 255 letters, digits or - _ . ~ + %, ` +
        `and not start with goog; for example ${example}`,
      { variable: uri.variable },
    );
  }
  return { project, id, path: `projects/${project}/${kind}/${id}` };
}

interface ClientSettings {
  projectId: string;
  /** PUBSUB_EMULATOR_HOST, when set */
  emulatorHost?: string;
  keyFilename?: string;
}

function clientSettings(project: string, env: NodeJS.ProcessEnv): ClientSettings {
  const settings: ClientSettings = { projectId: project };
  const emulator = env.PUBSUB_EMULATOR_HOST?.trim();
  if (emulator) {
    if (!/^(https?:\/\/)?[^\s/:]+(:\d+)?\/?$/.test(emulator)) {
      throw new ConfigError(`'${emulator}' is not a host:port; for example PUBSUB_EMULATOR_HOST=localhost:8085`, {
        variable: 'PUBSUB_EMULATOR_HOST',
      });
    }
    settings.emulatorHost = emulator;
  }
  const credentials = env.GOOGLE_APPLICATION_CREDENTIALS?.trim();
  if (credentials && !emulator) {
    if (!fs.existsSync(credentials)) {
      throw new ConfigError(
        `the credentials file '${credentials}' does not exist; point it at a service account key (JSON), or unset it to use ` +
          `the other Application Default Credentials (gcloud auth application-default login, the metadata server)`,
        { variable: 'GOOGLE_APPLICATION_CREDENTIALS' },
      );
    }
    settings.keyFilename = credentials;
  }
  return settings;
}

function loadClientLibrary(): typeof PubSubModule {
  return require('@google-cloud/pubsub') as typeof PubSubModule;
}

function createClient(settings: ClientSettings): PubSub {
  const { PubSub: Client } = loadClientLibrary();
  const config: ClientConfig = { projectId: settings.projectId };
  // a host that does not end in .googleapis.com gets plain-text gRPC and no credentials (emulator mode)
  if (settings.emulatorHost !== undefined) config.apiEndpoint = settings.emulatorHost;
  if (settings.keyFilename !== undefined) config.keyFilename = settings.keyFilename;
  return new Client(config);
}

function hostOf(settings: ClientSettings): string {
  return settings.emulatorHost ?? DEFAULT_HOST;
}

/** The gRPC status code of an error from the client library, if it has one. */
function grpcCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A ConnectorError for a failed call, with a hint for the usual configuration mistakes. */
function describeFailure(error: unknown, what: string, resource: string, host: string, retryable?: boolean): ConnectorError {
  const code = grpcCode(error);
  const reason = (error as Error)?.message ?? String(error);
  let hint = '';
  if (code === GRPC.NOT_FOUND) hint = `: ${resource} does not exist (create it first)`;
  else if (code === GRPC.PERMISSION_DENIED) hint = `: the credentials may not use ${resource}`;
  else if (code === GRPC.UNAUTHENTICATED) {
    hint =
      ': no usable credentials (set GOOGLE_APPLICATION_CREDENTIALS, run gcloud auth application-default login, or set PUBSUB_EMULATOR_HOST)';
  } else if (code !== undefined && CONNECTION_CODES.has(code)) hint = ': the service cannot be reached';
  return new ConnectorError(`${what} failed${hint} (${reason})`, {
    scheme: SCHEME,
    host,
    cause: error,
    retryable: retryable ?? !(code !== undefined && CONFIGURATION_CODES.has(code)),
  });
}

interface SourceSettings {
  subscription: ResourceName;
  client: ClientSettings;
  lazyNack: boolean;
  streams?: number;
  /** How many message ids to count deliveries for; 0 when no dead letter is configured (nothing uses the count). */
  maxDeliveriesTracked: number;
}

/** The private part of the client's Message that a lazy nack needs: its subscriber's lease manager. */
interface LeasedMessage {
  _handled: boolean;
  _subscriber?: { _inventory?: { remove(message: PubSubMessage): void } };
}

/**
 * The streaming-pull source, a push driver: the client calls back per message and the driver pushes each to the
 * runtime. The client's flow control is set to the credit window, and it keeps extending the leases of the messages
 * it holds; what it hands over while the window is full (a StreamingPull response can carry more than the window)
 * waits in the runtime's buffer, still leased, until the window has room.
 */
export class PubSubSource implements SourceDriver<PubSubMessage> {
  readonly scheme = SCHEME;
  private client: PubSub | undefined;
  private subscription: Subscription | undefined;
  private context: SourceContext<PubSubMessage> | undefined;
  /** Deliveries seen by this process per Pub/Sub message id, when the subscription does not count them itself. */
  private readonly deliveries: LRUCache<string, number> | undefined;
  private channel: { getConnectivityState(tryToConnect: boolean): number } | undefined;
  private closing: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly settings: SourceSettings) {
    this.deliveries = settings.maxDeliveriesTracked > 0 ? new LRUCache({ max: settings.maxDeliveriesTracked }) : undefined;
  }

  get ready(): boolean {
    return this.subscription !== undefined && !this.closed && this.channel?.getConnectivityState(false) === CHANNEL_READY;
  }

  private get host(): string {
    return hostOf(this.settings.client);
  }

  async start(context: SourceContext<PubSubMessage>): Promise<void> {
    this.context = context;
    const client = createClient(this.settings.client);
    this.client = client;
    const name = this.settings.subscription.path;
    const subscription = client.subscription(name, {
      flowControl: { maxMessages: context.maxInFlight, allowExcessMessages: true },
      // acks go out in batches; a short linger frees the client's flow control (and the window) sooner
      batching: { maxMilliseconds: 10 },
      ...(this.settings.streams === undefined ? {} : { streamingOptions: { maxStreams: this.settings.streams } }),
      // close() in stopIntake() only stops the streams; the messages in flight keep their leases until settled
      closeOptions: { behavior: 'WAIT' as const },
    });
    await this.checkSubscription(subscription);
    this.subscription = subscription;
    subscription.on('message', (message: PubSubMessage) => this.onMessage(message));
    subscription.on('error', (error: unknown) => this.onError(error));
    subscription.on('debug', (debug: { message?: string }) => context.logger.debug({ detail: debug.message }, 'pubsub client'));
    context.logger.info({ subscription: name, host: this.host }, `receiving from Pub/Sub subscription ${name}`);
  }

  /**
   * Fails the start-up when the subscription does not exist or the credentials are unusable. GetSubscription needs
   * pubsub.subscriptions.get, which a subscriber-only role lacks: then the streaming pull tells.
   */
  private async checkSubscription(subscription: Subscription): Promise<void> {
    const name = this.settings.subscription.path;
    try {
      await subscription.getMetadata({ timeout: 30_000 });
    } catch (error) {
      if (grpcCode(error) === GRPC.PERMISSION_DENIED) {
        this.context?.logger.debug({ err: error }, 'may not read the subscription metadata; starting the streaming pull anyway');
      } else {
        throw describeFailure(error, `opening subscription ${name}`, `subscription ${name}`, this.host, false);
      }
    } finally {
      // the stub the streaming pull will use exists now (the client caches it): watch its channel for `ready`
      const stub = (this.client?.api.SubscriberClient as { subscriberStub?: Promise<unknown> } | undefined)?.subscriberStub;
      if (stub !== undefined) {
        const resolved = (await stub.catch(() => undefined)) as
          { getChannel?(): { getConnectivityState(tryToConnect: boolean): number } } | undefined;
        this.channel = resolved?.getChannel?.();
      }
    }
  }

  private onMessage(message: PubSubMessage): void {
    const context = this.context as SourceContext<PubSubMessage>;
    if (context.stopped || this.closed) {
      message.nack();
      return;
    }
    context.push(this.toReceived(message), message);
  }

  private toReceived(message: PubSubMessage): ReceivedMessage {
    const attributes = message.attributes;
    let metadata: Record<string, string> = attributes;
    let id = message.id;
    const carried = attributes[MESSAGE_ID_ATTRIBUTE];
    if (carried !== undefined) {
      id = carried;
      metadata = { ...attributes };
      delete metadata[MESSAGE_ID_ATTRIBUTE];
    }
    let deliveryCount: number | undefined = message.deliveryAttempt > 0 ? message.deliveryAttempt : undefined;
    if (deliveryCount === undefined && this.deliveries !== undefined) {
      // without a dead-letter policy Pub/Sub does not count deliveries: count the ones this process saw
      deliveryCount = (this.deliveries.get(message.id) ?? 0) + 1;
      this.deliveries.set(message.id, deliveryCount);
    }
    return { id, body: message.data, metadata, key: message.orderingKey ? message.orderingKey : undefined, deliveryCount };
  }

  ack(message: PubSubMessage): void {
    this.deliveries?.delete(message.id);
    message.ack();
  }

  /**
   * modifyAckDeadline(0), or with ?nacklazy the lease simply runs out. A message the pipeline gives back because it is
   * stopping (never taken, or cut off by the drain) is no failure of its own: back at once for another subscriber.
   */
  nack(message: PubSubMessage, error: Error): void {
    if (this.settings.lazyNack && !(error instanceof ShutdownError)) this.releaseLease(message);
    else message.nack();
  }

  /**
   * A lazy nack: stop extending the lease and tell Pub/Sub nothing, so that the message comes back once its ack
   * deadline passes. The client has no public call for it; the pinned version's lease manager is used directly.
   */
  private releaseLease(message: PubSubMessage): void {
    const leased = message as unknown as LeasedMessage;
    const inventory = leased._subscriber?._inventory;
    if (inventory === undefined || typeof inventory.remove !== 'function') {
      message.nack();
      return;
    }
    leased._handled = true;
    inventory.remove(message);
  }

  private onError(error: unknown): void {
    // the client retries what it can (UNAVAILABLE and the like) and emits only what ends a stream for good; it
    // closes the subscriber a moment later when no stream is left
    setImmediate(() => {
      if (this.closed || this.stopping !== undefined) return;
      const failure = describeFailure(
        error,
        `streaming pull from ${this.settings.subscription.path}`,
        `subscription ${this.settings.subscription.path}`,
        this.host,
      );
      if (this.subscription?.isOpen) {
        this.context?.logger.warn({ err: failure }, 'Pub/Sub stream error; the client keeps pulling');
      } else {
        this.context?.error(failure);
      }
    });
  }

  stopIntake(): void {
    if (this.stopping !== undefined || this.subscription === undefined) return;
    // closing the subscription ends the streams at once; with the WAIT behaviour it keeps the leases of what is in
    // flight, and resolves once every message was settled (the runtime gave back what waited in its buffer)
    this.stopping = this.subscription.close().catch((error: unknown) => {
      this.context?.logger.warn({ err: error }, 'closing the Pub/Sub subscription failed');
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopIntake();
      // every message was settled before close(): the subscription ends as soon as its last acks are sent. The
      // bound is for a message the client leased but never handed over (it would wait for its 60-minute lease)
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.stopping, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
      clearTimeout(timer);
      this.closed = true;
      await this.client?.close();
    })();
    return this.closing;
  }
}

interface SinkSettings {
  topic: ResourceName;
  client: ClientSettings;
  publishTimeoutMs: number;
  batchCount: number;
  batchBytes: number;
}

/** Why a message cannot be published, or undefined. */
function invalidMessage(message: Message, attributes: Record<string, string>): string | undefined {
  const keys = Object.keys(attributes);
  if (keys.length > MAX_ATTRIBUTES)
    return `it has ${keys.length} metadata entries; Pub/Sub takes at most ${MAX_ATTRIBUTES - 1} (plus ${MESSAGE_ID_ATTRIBUTE})`;
  let size = message.body.length;
  for (const key of keys) {
    const keyBytes = Buffer.byteLength(key);
    const valueBytes = Buffer.byteLength(attributes[key]);
    if (keyBytes === 0) return 'it has an empty metadata name';
    if (keyBytes > MAX_ATTRIBUTE_KEY_BYTES)
      return `the metadata name '${key.slice(0, 40)}…' is longer than ${MAX_ATTRIBUTE_KEY_BYTES} bytes`;
    if (key.toLowerCase().startsWith('goog')) return `the metadata name '${key}' starts with goog, which Pub/Sub reserves`;
    if (valueBytes > MAX_ATTRIBUTE_VALUE_BYTES) return `the value of metadata '${key}' is longer than ${MAX_ATTRIBUTE_VALUE_BYTES} bytes`;
    size += keyBytes + valueBytes;
  }
  if (message.key !== undefined) {
    const keyBytes = Buffer.byteLength(message.key);
    if (keyBytes > MAX_ORDERING_KEY_BYTES) return `its key (the ordering key) is longer than ${MAX_ORDERING_KEY_BYTES} bytes`;
    size += keyBytes;
  }
  if (size > MAX_MESSAGE_BYTES) return `it is ${size} bytes; Pub/Sub takes at most ${MAX_MESSAGE_BYTES} bytes per message`;
  return undefined;
}

/**
 * The publishing sink. Each write hands its batch to the client's publisher, whose batch limits match the sink's,
 * so one write is one Publish call (one per ordering key: the client publishes each key's messages in order, one
 * batch at a time). A message is acked when Publish returned its id.
 */
export class PubSubSink implements SinkDriver {
  readonly scheme = SCHEME;
  /**
   * The key is the ordering key, and Pub/Sub keeps each ordering key in order: the runtime then keeps a key's
   * messages in order through retries too (a failed write holds back the later messages of its key).
   */
  readonly ordered = true;
  private client: PubSub | undefined;
  private topic: Topic | undefined;
  private reachable = true;
  private closed = false;

  constructor(private readonly settings: SinkSettings) {}

  get ready(): boolean {
    return !this.closed && this.reachable;
  }

  private openTopic(): Topic {
    if (this.topic !== undefined) return this.topic;
    this.client = createClient(this.settings.client);
    this.topic = this.client.topic(this.settings.topic.path, {
      messageOrdering: true,
      batching: {
        maxMessages: Math.min(this.settings.batchCount, MAX_BATCH_MESSAGES),
        maxBytes: Math.min(this.settings.batchBytes, MAX_BATCH_BYTES),
        // the sink runtime already gathered the batch: publish it at the end of this tick
        maxMilliseconds: 0,
      },
      // the client retries UNAVAILABLE and the like within this time; the sink runtime retries after that
      gaxOpts: { timeout: this.settings.publishTimeoutMs },
    });
    return this.topic;
  }

  async write(batch: readonly Message[]): Promise<WriteResult> {
    if (this.closed) throw new ConnectorError('the sink is closed', { scheme: SCHEME, host: hostOf(this.settings.client) });
    const topic = this.openTopic();
    const results: (Error | undefined)[] = new Array(batch.length).fill(undefined);
    const publishes: Promise<void>[] = [];
    for (let i = 0; i < batch.length; i++) {
      const message = batch[i];
      const attributes: Record<string, string> = { ...(message.metadata as Record<string, string>), [MESSAGE_ID_ATTRIBUTE]: message.id };
      const invalid = invalidMessage(message, attributes);
      if (invalid !== undefined) {
        results[i] = new PermanentError(`${SCHEME}: cannot publish message ${message.id} to ${this.settings.topic.path}: ${invalid}`);
        continue;
      }
      const orderingKey = message.key === undefined || message.key === '' ? undefined : message.key;
      let published: Promise<string>;
      try {
        published = topic.publishMessage({ data: message.body, attributes, orderingKey });
      } catch (error) {
        results[i] = new PermanentError(`${SCHEME}: cannot publish message ${message.id}: ${(error as Error).message}`, { cause: error });
        continue;
      }
      publishes.push(
        published.then(
          () => {
            this.reachable = true;
          },
          (error: unknown) => {
            results[i] = this.failure(error);
            // the client pauses a key after a failure so that later messages do not overtake it; the sink runtime
            // retries the failed one, so let the key go on
            if (orderingKey !== undefined) topic.resumePublishing(orderingKey);
          },
        ),
      );
    }
    await Promise.all(publishes);
    return results;
  }

  private failure(error: unknown): Error {
    const code = grpcCode(error);
    if (code !== undefined && CONNECTION_CODES.has(code)) this.reachable = false;
    if (code === GRPC.INVALID_ARGUMENT || code === GRPC.OUT_OF_RANGE) {
      return new PermanentError(`${SCHEME}: Pub/Sub refused the message for ${this.settings.topic.path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return describeFailure(
      error,
      `publishing to ${this.settings.topic.path}`,
      `topic ${this.settings.topic.path}`,
      hostOf(this.settings.client),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.topic !== undefined) await this.topic.flush().catch(() => undefined);
    await this.client?.close();
  }
}

function sourceSettings(uri: EndpointUri, options: SourceOptions): SourceSettings {
  const env = options.env ?? process.env;
  const subscription = parseResourceName(uri, 'subscriptions');
  const lazy = uri.params.get('nacklazy');
  const streams = uri.params.get('streams');
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  return {
    subscription,
    client: clientSettings(subscription.project, env),
    lazyNack: lazy === undefined ? false : parseBoolean(lazy, `${uri.variable} nacklazy`),
    streams: streams === undefined ? undefined : parseInteger(streams, `${uri.variable} streams`, 1, 32),
    maxDeliveriesTracked: options.deadLetter === undefined ? 0 : Math.max(1000, maxInFlight * 8),
  };
}

function sinkSettings(uri: EndpointUri, options: SinkOptions): SinkSettings {
  const env = options.env ?? process.env;
  const topic = parseResourceName(uri, 'topics');
  const batch = options.batch ?? PUBSUB_SINK_DEFAULTS.batch;
  return {
    topic,
    client: clientSettings(topic.project, env),
    publishTimeoutMs: parseDuration(env.PUBSUB_PUBLISH_TIMEOUT?.trim() || DEFAULT_PUBLISH_TIMEOUT, 'PUBSUB_PUBLISH_TIMEOUT'),
    batchCount: batch.count ?? 1,
    batchBytes: batch.bytes ?? MAX_BATCH_BYTES,
  };
}

/** The parameters of a gcppubsub:// source, described for --help, the unknown-parameter warning and docs/connectors/gcppubsub.md. */
export const PUBSUB_SOURCE_PARAMS: readonly ParamSpec[] = [
  {
    name: 'nacklazy',
    description:
      'true (or the bare ?nacklazy): a nack sends nothing and the message comes back once its lease runs out, instead of at once (ModifyAckDeadline 0)',
    default: 'false',
  },
  {
    name: 'streams',
    description: 'StreamingPull streams, 1 to 32; each is flow-controlled to the window on its own',
    default: "the client's (5)",
  },
];

export const PUBSUB_SINK_DEFAULTS = {
  concurrency: 16,
  batch: { count: 100, bytes: 4 * 1024 * 1024, linger: '5ms' },
};

registerScheme({
  schemes: [SCHEME],
  description:
    'Google Cloud Pub/Sub: as a source, a subscription (streaming pull, flow control = the credit window); as a sink, a topic (batched publish, key = ordering key)',
  sourceExample: 'gcppubsub://projects/my-project/subscriptions/my-subscription',
  sinkExample: 'gcppubsub://projects/my-project/topics/my-topic',
  sourceParams: PUBSUB_SOURCE_PARAMS,
  sinkParams: [],
  openSource: (uri, options) => new PubSubSource(sourceSettings(uri, options)),
  openSink: (uri, options) => new PubSubSink(sinkSettings(uri, options)),
  sinkDefaults: PUBSUB_SINK_DEFAULTS,
});
