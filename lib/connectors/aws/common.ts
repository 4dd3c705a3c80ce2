// What the SQS and SNS drivers share: client settings (region, endpoint override, credentials), the mapping of a
// Message to a body plus message attributes and back, the classification of SDK errors, and the batch write of both
// sinks (SendMessageBatch and PublishBatch take the same entries and answer the same way).
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { EndpointUri } from '../../registry';
import type { MessageInit } from '../../message';
import { type Message } from '../../message';
import { ConfigError, ConnectorError, MissingResourceError, PermanentError } from '../../errors';
import { parseDuration, parseSize } from '../../config';

/** The metadata name that carries the message id through SQS/SNS (the same name as the HTTP connector's header). */
export const ID_ATTRIBUTE = 'x-message-id';
/** The metadata name that carries the message key through a standard queue or topic (FIFO uses MessageGroupId). */
export const KEY_ATTRIBUTE = 'x-message-key';
/** Set to "true" when the body is base64 because it was not text SQS can carry (the gocloud convention). */
export const BASE64_ATTRIBUTE = 'base64encoded';
/** Set on messages unwrapped from an SNS envelope: the topic, and the subject when the publisher gave one. */
export const SNS_TOPIC_METADATA = 'sns-topic-arn';
export const SNS_SUBJECT_METADATA = 'sns-subject';

/** SQS and SNS carry at most 10 message attributes. */
export const MAX_ATTRIBUTES = 10;
/** 256 KiB: the SNS limit, and the SQS limit of queues that did not raise MaximumMessageSize to 1 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024;
export const MAX_SQS_MESSAGE_SIZE = 1024 * 1024;

/** Settings every AWS client of this connector gets. */
export interface AwsClientSettings {
  region?: string;
  endpoint?: string;
  /** Explicit credentials, only when `options.env` (not process.env) holds them. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** The constructor options of an SQS or SNS client with these settings. */
export function clientConfig(
  settings: AwsClientSettings,
  requestTimeoutMs: number,
): AwsClientSettings & { requestHandler: { requestTimeout: number; connectionTimeout: number } } {
  return {
    ...(settings.region !== undefined ? { region: settings.region } : {}),
    ...(settings.endpoint !== undefined ? { endpoint: settings.endpoint } : {}),
    ...(settings.credentials !== undefined ? { credentials: settings.credentials } : {}),
    requestHandler: { requestTimeout: requestTimeoutMs, connectionTimeout: 5000 },
  };
}

/** Where errors say the service is: the endpoint override, or the service host. */
export function describeHost(settings: AwsClientSettings, fallback: string): string {
  if (settings.endpoint !== undefined) {
    try {
      return new URL(settings.endpoint).host;
    } catch {
      return settings.endpoint;
    }
  }
  return fallback;
}

/**
 * Region, endpoint and credentials for one URI: `?region=` first, then what the URI implies (the SQS host, the SNS
 * ARN), then AWS_REGION / AWS_DEFAULT_REGION; otherwise the SDK's own chain (the shared config profile).
 * The endpoint is `?endpoint=`, else AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL.
 */
export function clientSettings(
  uri: EndpointUri,
  env: NodeJS.ProcessEnv,
  service: 'SQS' | 'SNS',
  impliedRegion: string | undefined,
): AwsClientSettings {
  const settings: AwsClientSettings = {};
  const region = uri.params.get('region') ?? impliedRegion ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (region !== undefined && region !== '') {
    if (!/^[a-z0-9-]+$/.test(region)) {
      throw new ConfigError(`'${region}' is not an AWS region; use a region name such as us-east-2`, {
        variable: uri.variable,
      });
    }
    settings.region = region;
  }
  const endpoint = uri.params.get('endpoint') ?? env[`AWS_ENDPOINT_URL_${service}`] ?? env.AWS_ENDPOINT_URL;
  if (endpoint !== undefined && endpoint !== '') {
    let parsed: URL;
    try {
      parsed = new URL(endpoint);
    } catch (error) {
      throw new ConfigError(`endpoint '${endpoint}' is not a URL; use for example ?endpoint=http://127.0.0.1:4566`, {
        variable: uri.params.has('endpoint') ? uri.variable : `AWS_ENDPOINT_URL_${service}`,
        cause: error,
      });
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new ConfigError(`endpoint '${endpoint}' must be an http:// or https:// URL, for example http://127.0.0.1:4566`, {
        variable: uri.variable,
      });
    }
    settings.endpoint = endpoint;
  }
  // the SDK reads credentials from process.env itself; honour options.env when a caller passed its own
  if (env !== process.env && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    settings.credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  }
  return settings;
}

/** A duration parameter in whole seconds within [min, max]. */
export function secondsParam(uri: EndpointUri, name: string, fallback: number, min: number, max: number): number {
  const raw = uri.params.get(name);
  if (raw === undefined) return fallback;
  // a bare number means seconds here, as in the AWS APIs (waittime=20)
  const ms = /^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) * 1000 : parseDuration(raw, `${uri.variable} ${name}`);
  const seconds = Math.round(ms / 1000);
  if (seconds < min || seconds > max) {
    throw new ConfigError(`${name}=${raw} is out of range: use between ${min}s and ${max}s, for example ${name}=${fallback}s`, {
      variable: uri.variable,
    });
  }
  return seconds;
}

export function sizeParam(uri: EndpointUri, name: string, fallback: number, min: number, max: number): number {
  const raw = uri.params.get(name);
  if (raw === undefined) return fallback;
  const size = parseSize(raw, `${uri.variable} ${name}`);
  if (size < min || size > max) {
    throw new ConfigError(`${name}=${raw} is out of range: use between ${min} and ${max} bytes, for example ${name}=256kb`, {
      variable: uri.variable,
    });
  }
  return size;
}

// --- bodies and attributes -------------------------------------------------------------------------------------

/** Characters SQS accepts in a body or attribute value (XML 1.0 characters). */
const INVALID_TEXT = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
/** Attribute names: letters, digits, `_`, `-`, `.`; no leading, trailing or doubled period; at most 256. */
const ATTRIBUTE_NAME = /^(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9_.-]{1,256}$/;
const RESERVED_PREFIX = /^(aws\.|amazon\.)/i;
const STRING_TYPE = 'String';

/** A message attribute as both SDKs take it. */
export interface StringAttribute {
  DataType: string;
  StringValue: string;
}

/** A message ready for SendMessageBatch / PublishBatch. */
export interface EncodedMessage {
  body: string;
  attributes: Record<string, StringAttribute>;
  /** As the services count it: body bytes plus, per attribute, name + type + value bytes. */
  size: number;
}

export interface EncodeOptions {
  scheme: string;
  host: string;
  maxSize: number;
  /** What the limit is called in errors (`SQS`, `SNS`). */
  service: string;
  /** Whether the key travels as an attribute (standard queues and topics; FIFO uses MessageGroupId). */
  keyAsAttribute: boolean;
  /** Whether the id travels as an attribute (FIFO carries it as MessageDeduplicationId instead). */
  idAsAttribute: boolean;
}

/** Whether `text` can be an SQS body or attribute value as it is. */
export function isCarriableText(body: Buffer): boolean {
  if (body.length === 0 || !isUtf8(body)) return false;
  return !INVALID_TEXT.test(body.toString('utf8'));
}

/**
 * The body and attributes for `message`. Metadata comes first: if it does not fit in 10 attributes (together with
 * `base64encoded` for a binary body) the message fails permanently. The key and id ride along in what is left.
 */
export function encodeMessage(message: Message, options: EncodeOptions): EncodedMessage | PermanentError {
  const where = `${options.scheme} (${options.host})`;
  if (message.body.length === 0) {
    return new PermanentError(`${where}: message ${message.id} has an empty body, which ${options.service} cannot carry`);
  }
  const binary = !isCarriableText(message.body);
  const body = binary ? message.body.toString('base64') : message.body.toString('utf8');
  const attributes: Record<string, StringAttribute> = {};
  let count = 0;
  let size = Buffer.byteLength(body, 'utf8');
  const add = (name: string, value: string): void => {
    attributes[name] = { DataType: STRING_TYPE, StringValue: value };
    count++;
    size += Buffer.byteLength(name, 'utf8') + STRING_TYPE.length + Buffer.byteLength(value, 'utf8');
  };
  const metadata = message.metadata;
  const names: string[] = [];
  for (const name in metadata) {
    if (name === ID_ATTRIBUTE || name === KEY_ATTRIBUTE || name === BASE64_ATTRIBUTE) continue;
    const value = metadata[name];
    if (value === '') continue; // the services refuse empty attribute values; an empty header carries nothing
    if (!ATTRIBUTE_NAME.test(name) || RESERVED_PREFIX.test(name)) {
      return new PermanentError(
        `${where}: metadata name '${name}' of message ${message.id} cannot be a message attribute name ` +
          `(letters, digits, '_', '-', '.', at most 256, not starting with 'AWS.' or 'Amazon.'); rename it with mapMessages`,
      );
    }
    if (INVALID_TEXT.test(value)) {
      return new PermanentError(`${where}: metadata '${name}' of message ${message.id} holds characters ${options.service} refuses`);
    }
    names.push(name);
  }
  const room = MAX_ATTRIBUTES - (binary ? 1 : 0);
  if (names.length > room) {
    return new PermanentError(
      `${where}: message ${message.id} has ${names.length} metadata entries (${names.join(', ')}), but ` +
        `${options.service} carries at most ${MAX_ATTRIBUTES} message attributes` +
        `${binary ? ` (${room} with a binary body, which takes '${BASE64_ATTRIBUTE}')` : ''}; ` +
        'drop or merge metadata with mapMessages before this sink',
    );
  }
  for (const name of names) add(name, metadata[name]);
  if (binary) add(BASE64_ATTRIBUTE, 'true');
  if (
    options.keyAsAttribute &&
    message.key !== undefined &&
    message.key !== '' &&
    count < MAX_ATTRIBUTES &&
    !INVALID_TEXT.test(message.key)
  ) {
    add(KEY_ATTRIBUTE, message.key);
  }
  if (options.idAsAttribute && count < MAX_ATTRIBUTES && !INVALID_TEXT.test(message.id)) add(ID_ATTRIBUTE, message.id);
  if (size > options.maxSize) {
    return new PermanentError(
      `${where}: message ${message.id} is ${size} bytes as ${options.service} counts it (body${binary ? ' as base64' : ''} ` +
        `plus attributes), over the ${options.maxSize}-byte limit; it cannot be sent (too large, not retried)`,
    );
  }
  return { body, attributes, size };
}

/** A MessageGroupId / MessageDeduplicationId: at most 128 of the allowed characters, else a hash of the value. */
export function fifoToken(value: string): string {
  if (/^[\x21-\x7e]{1,128}$/.test(value)) return value;
  return createHash('sha256').update(value).digest('hex');
}

/** An attribute as receivers see it: SQS's ({StringValue, BinaryValue}) or an SNS envelope's ({Type, Value}). */
export interface ReceivedAttribute {
  StringValue?: string;
  BinaryValue?: Uint8Array;
  Value?: string;
}

/** Turns a received body and attributes back into a message: decodes base64, takes out the id and key. */
export function decodeMessage(
  body: string,
  attributes: Record<string, ReceivedAttribute> | undefined,
  fallbackId: string | undefined,
): MessageInit {
  const metadata: Record<string, string> = {};
  let id = fallbackId;
  let key: string | undefined;
  let base64 = false;
  if (attributes !== undefined) {
    for (const name in attributes) {
      const attribute = attributes[name];
      const value =
        attribute.StringValue ??
        attribute.Value ??
        (attribute.BinaryValue !== undefined ? Buffer.from(attribute.BinaryValue).toString('base64') : '');
      if (name === ID_ATTRIBUTE) id = value;
      else if (name === KEY_ATTRIBUTE) key = value;
      else if (name === BASE64_ATTRIBUTE) base64 = value === 'true';
      else metadata[name] = value;
    }
  }
  const init: MessageInit = { body: base64 ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8'), metadata };
  if (id !== undefined) init.id = id;
  if (key !== undefined) init.key = key;
  return init;
}

/** The fields of an SNS notification that the source reads. */
interface SnsEnvelope {
  Type: string;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Subject?: string | null;
  MessageAttributes?: Record<string, { Type?: string; Value?: string }>;
}

/** The SNS envelope in `body`, when it is one (a queue subscribed to a topic without raw delivery). */
export function parseSnsEnvelope(body: string): SnsEnvelope | undefined {
  // cheap checks first: most bodies are not envelopes, and JSON.parse of a large body costs
  if (body.length < 40 || body.charCodeAt(0) !== 0x7b || !body.includes('"Notification"') || !body.includes('"TopicArn"')) {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const envelope = parsed as Partial<SnsEnvelope>;
  if (
    envelope.Type !== 'Notification' ||
    typeof envelope.Message !== 'string' ||
    typeof envelope.TopicArn !== 'string' ||
    typeof envelope.MessageId !== 'string'
  ) {
    return undefined;
  }
  return envelope as SnsEnvelope;
}

/** The message inside an SNS envelope: its body, attributes, id and key, and where it came from. */
export function unwrapSnsEnvelope(envelope: SnsEnvelope): MessageInit {
  const init = decodeMessage(envelope.Message, envelope.MessageAttributes, envelope.MessageId);
  const metadata = init.metadata as Record<string, string>;
  metadata[SNS_TOPIC_METADATA] = envelope.TopicArn;
  if (typeof envelope.Subject === 'string' && envelope.Subject !== '') metadata[SNS_SUBJECT_METADATA] = envelope.Subject;
  return init;
}

// --- errors ----------------------------------------------------------------------------------------------------

/** The fields of an SDK error that matter here. */
interface SdkErrorShape {
  name?: string;
  message?: string;
  code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'RequestThrottled',
  'ThrottledException',
  'TooManyRequestsException',
  'KmsThrottled',
  'OverLimit',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'InternalError',
  'InternalFailure',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'PurgeQueueInProgress',
  'QueueDeletedRecently',
]);

/** Error names (the SDK's error classes and the services' codes) that trying again cannot fix. */
const MISSING_QUEUE = new Set(['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 'NonExistentQueue']);
const MISSING_TOPIC = new Set(['NotFound', 'NotFoundException']);
const DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'AuthorizationError',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'InvalidSecurity',
]);
/** Node's network error codes (`error.code`), which the SDK's retry layer keeps on what it throws. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE']);

/**
 * Whether an SDK error will not go away by itself (a missing queue, bad credentials), from the SDK's own fields:
 * the error's name, `$fault` and the HTTP status; never its text.
 */
export function isDefinitive(error: unknown): boolean {
  const shape = (error ?? {}) as SdkErrorShape;
  const name = shape.name ?? '';
  if (THROTTLING.has(name)) return false;
  if (name === 'CredentialsProviderError') return true;
  return shape.$fault === 'client' && (shape.$metadata?.httpStatusCode ?? 0) < 500 && (shape.$metadata?.httpStatusCode ?? 0) !== 429;
}

/** What to tell the user to do about an error, when there is something obvious (from its name or network code). */
function hint(error: SdkErrorShape, service: string): string {
  const name = error.name ?? '';
  if (MISSING_QUEUE.has(name)) return `; check the queue URL (awssqs://<host>/<account id>/<queue name>) and the region`;
  if (MISSING_TOPIC.has(name)) return '; check the topic ARN and the region';
  if (name === 'CredentialsProviderError') {
    return '; give credentials through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO or an instance role';
  }
  if (error.code !== undefined && UNREACHABLE.has(error.code)) return `; is the ${service} endpoint reachable?`;
  if (DENIED.has(name)) return '; check the credentials and the IAM permissions';
  return '';
}

/**
 * Resolves the client's region (from the URI, the environment or the shared config profile), so that a missing one
 * fails the start-up with what to set. The SDK resolves it lazily, at the first request, and says only "Region is
 * missing": a failure of this call is that, whatever its text.
 */
export async function checkRegion(
  client: { config: { region: () => Promise<string> } },
  scheme: string,
  host: string,
  service: string,
): Promise<void> {
  try {
    await client.config.region();
  } catch (error) {
    throw new ConnectorError(`no AWS region for ${service}: add ?region=us-east-2 (for example) to the URI, or set AWS_REGION`, {
      scheme,
      host,
      cause: error,
      retryable: false,
    });
  }
}

/** A ConnectorError naming the scheme, the host, the operation and the SDK's error, with a hint when there is one. */
export function connectorError(
  error: unknown,
  scheme: string,
  host: string,
  operation: string,
  service: string,
  retryable = !isDefinitive(error),
): ConnectorError {
  const shape = (error ?? {}) as SdkErrorShape;
  const name = shape.name && shape.name !== 'Error' ? `${shape.name}: ` : '';
  // network failures come wrapped by the SDK's retry layer; the wrapped error's text is what the user needs
  const text = (shape.message ?? String(error)).replace(/^AWS SDK error wrapper for (Error: )?/, '');
  return new ConnectorError(`${operation} failed: ${name}${text}${hint(shape, service)}`, {
    scheme,
    host,
    cause: error,
    retryable,
  });
}

/** What a queue or topic named by a URI is, for the errors that say it does not exist. */
export interface AwsResource {
  readonly kind: 'queue' | 'topic';
  /** The queue name, or the topic ARN. */
  readonly name: string;
}

/** Whether `error` says that `resource` does not exist (by the SDK's error name: QueueDoesNotExist, NotFound, ...). */
export function isMissing(error: unknown, resource: AwsResource): boolean {
  const name = (error as SdkErrorShape | undefined)?.name ?? '';
  return (resource.kind === 'queue' ? MISSING_QUEUE : MISSING_TOPIC).has(name);
}

/** How to create `resource` with the AWS CLI (a FIFO one needs its attribute). */
function createCommand(resource: AwsResource): string {
  if (resource.kind === 'queue') {
    return `aws sqs create-queue --queue-name ${resource.name}${resource.name.endsWith('.fifo') ? ' --attributes FifoQueue=true' : ''}`;
  }
  const topic = resource.name.slice(resource.name.lastIndexOf(':') + 1);
  return `aws sns create-topic --name ${topic}${topic.endsWith('.fifo') ? ' --attributes FifoTopic=true' : ''}`;
}

/** The text of a missing queue or topic: which one, what the service said, and the fix. */
function missingText(error: unknown, resource: AwsResource, operation: string): string {
  const shape = (error ?? {}) as SdkErrorShape;
  const said = `${operation}: ${shape.name ?? 'Error'}: ${shape.message ?? String(error)}`;
  const uri =
    resource.kind === 'queue' ? 'the queue URL (awssqs://<host>/<account id>/<queue name>)' : 'the topic ARN (awssns:///<topic ARN>)';
  return `${resource.kind} '${resource.name}' does not exist (${said}); create it (${createCommand(resource)}), or correct ${uri} and the region`;
}

/**
 * The queue or topic does not exist, found at start-up (or before the service ever answered): a MissingResourceError,
 * which the bin reports like a bad URI.
 */
export function missingResourceError(
  error: unknown,
  resource: AwsResource,
  operation: string,
  scheme: string,
  host: string,
): MissingResourceError {
  return new MissingResourceError(missingText(error, resource, operation), { scheme, host, cause: error });
}

/**
 * A failed call as a ConnectorError, naming the queue or topic when the service says that it does not exist. Once
 * running, that is retried like any failure (`retryable`): a queue re-created meanwhile is found by the next call.
 */
export function resourceError(
  error: unknown,
  resource: AwsResource,
  scheme: string,
  host: string,
  operation: string,
  service: string,
  retryable?: boolean,
): ConnectorError {
  if (!isMissing(error, resource)) return connectorError(error, scheme, host, operation, service, retryable);
  return new ConnectorError(missingText(error, resource, operation), { scheme, host, cause: error, retryable: retryable ?? false });
}

/** Whether `error` is the rejection of an aborted request. */
export function isAbort(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name;
  return name === 'AbortError' || name === 'RequestAbortedError';
}

/** Splits entries into requests of at most `maxCount` entries and `maxBytes` in all (the batch APIs' limits). */
export function splitRequests<T extends { size: number }>(entries: readonly T[], maxCount: number, maxBytes: number): T[][] {
  const requests: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (current.length > 0 && (current.length >= maxCount || bytes + entry.size > maxBytes)) {
      requests.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += entry.size;
  }
  if (current.length > 0) requests.push(current);
  return requests;
}

/** Keeps writes that share a FIFO group in the order they were started, while writes of other groups overlap. */
export class GroupSequencer {
  private readonly tails = new Map<string, Promise<void>>();

  /** Waits for earlier runs touching any of `groups`, then runs `task`; later runs for those groups wait for it. */
  async run<T>(groups: Iterable<string>, task: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const previous: Promise<void>[] = [];
    const mine: string[] = [];
    for (const group of groups) {
      const tail = this.tails.get(group);
      if (tail !== undefined) previous.push(tail);
      this.tails.set(group, done);
      mine.push(group);
    }
    try {
      if (previous.length > 0) await Promise.all(previous);
      return await task();
    } finally {
      release();
      for (const group of mine) if (this.tails.get(group) === done) this.tails.delete(group);
    }
  }
}

// --- batch sinks -----------------------------------------------------------------------------------------------

/** A per-entry failure as SendMessageBatch and PublishBatch report it. */
export interface BatchEntryFailure {
  Id?: string;
  SenderFault?: boolean;
  Code?: string;
  Message?: string;
}

/** The answer of SendMessageBatch or PublishBatch: which entries were taken, which refused. */
export interface BatchOutput {
  Successful?: { Id?: string }[];
  Failed?: BatchEntryFailure[];
}

/** What an entry of either batch API carries besides its body. */
export interface BatchEntryFields {
  Id: string;
  MessageAttributes?: Record<string, StringAttribute>;
  MessageGroupId?: string;
  MessageDeduplicationId?: string;
}

export interface BatchWriteOptions<E> {
  scheme: string;
  host: string;
  /** What errors call the service (`SQS`, `SNS`). */
  service: string;
  /** The batch call, for errors (`SendMessageBatch`, `PublishBatch`). */
  operation: string;
  /** FIFO queue or topic: the key becomes the group, the id the deduplication id, and each group keeps its order. */
  fifo: boolean;
  /** The largest message and the largest request, in bytes as the service counts them. */
  maxSize: number;
  /** The most entries in one request. */
  maxEntries: number;
  sequencer: GroupSequencer;
  /** The queue or topic written to, named in the error when it does not exist. */
  resource: AwsResource;
  /** The request entry: the fields plus the body under the API's own name (MessageBody, Message). */
  entry(fields: BatchEntryFields, body: string): E;
  /** Sends one request; a rejection fails every entry of it (retryably). */
  send(entries: E[]): Promise<BatchOutput>;
  /** Told after each request whether the service answered it. */
  answered(healthy: boolean): void;
}

/** FIFO messages without a key all go to this group: one total order, which is what a FIFO queue was chosen for. */
export const DEFAULT_GROUP = 'default';

/**
 * The write of the SQS and SNS sinks: encodes each message (one that cannot be sent fails permanently on its own),
 * sends the rest in requests within the API's limits, and maps the per-entry results back to the messages.
 * Requests of standard queues and topics overlap; on FIFO ones they go one after another, after earlier writes of
 * the same groups.
 */
export async function writeBatch<E>(batch: readonly Message[], options: BatchWriteOptions<E>): Promise<(Error | undefined)[]> {
  const { scheme, host, service, operation, fifo, maxSize } = options;
  const results = new Array<Error | undefined>(batch.length).fill(undefined);
  const entries: { index: number; size: number; id: string; group: string | undefined; entry: E }[] = [];
  for (let index = 0; index < batch.length; index++) {
    const message = batch[index];
    const group = fifo ? fifoToken(message.key ?? DEFAULT_GROUP) : undefined;
    const encoded = encodeMessage(message, {
      scheme,
      host,
      maxSize,
      service,
      // a FIFO queue carries the key as the group id; the attribute only when the group id had to be hashed
      keyAsAttribute: !fifo || (message.key !== undefined && group !== message.key),
      idAsAttribute: true,
    });
    if (encoded instanceof PermanentError) {
      results[index] = encoded;
      continue;
    }
    const fields: BatchEntryFields = { Id: `m${index}` };
    if (Object.keys(encoded.attributes).length > 0) fields.MessageAttributes = encoded.attributes;
    if (group !== undefined) {
      fields.MessageGroupId = group;
      fields.MessageDeduplicationId = fifoToken(message.id);
    }
    entries.push({ index, size: encoded.size, id: fields.Id, group, entry: options.entry(fields, encoded.body) });
  }
  if (entries.length === 0) return results;
  const requests = splitRequests(entries, options.maxEntries, maxSize);
  const send = async (request: typeof entries): Promise<void> => {
    let output: BatchOutput;
    try {
      output = await options.send(request.map((item) => item.entry));
    } catch (error) {
      options.answered(false);
      // a missing queue or a denied permission may be fixed while the sink retries: never a permanent failure
      const failure = resourceError(error, options.resource, scheme, host, operation, service, true);
      for (const item of request) results[item.index] = failure;
      return;
    }
    options.answered(true);
    const failedById = new Map((output.Failed ?? []).map((failed) => [failed.Id, failed]));
    const succeeded = new Set((output.Successful ?? []).map((entry) => entry.Id));
    for (const item of request) {
      const failed = failedById.get(item.id);
      if (failed !== undefined) results[item.index] = entryError(failed, batch[item.index], scheme, host, service);
      else if (!succeeded.has(item.id)) {
        results[item.index] = new ConnectorError(`${operation} returned no result for message ${batch[item.index].id}`, { scheme, host });
      }
    }
  };
  if (!fifo) {
    await Promise.all(requests.map(send));
    return results;
  }
  const groups = new Set(entries.map((item) => item.group as string));
  await options.sequencer.run(groups, async () => {
    for (const request of requests) await send(request);
  });
  return results;
}

/** A per-entry failure: the sender's fault is permanent (invalid, too large), the service's is retried. */
function entryError(failed: BatchEntryFailure, message: Message, scheme: string, host: string, service: string): Error {
  const text = `${service} refused message ${message.id}: ${failed.Code ?? 'error'}: ${failed.Message ?? ''}`;
  if (failed.SenderFault) return new PermanentError(`${scheme} (${host}): ${text}`);
  return new ConnectorError(text, { scheme, host });
}
