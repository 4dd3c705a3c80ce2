// The s3:// sink: messages gathered into objects (JSON lines by default), each object written when it reaches
// max_count messages or max_bytes, when its first message is max_age old, or as soon as nothing more can join it: the
// sources feeding it wait for settlements (a full credit window, a stop, the end of their input), or the sink runtime
// has no write slot left. An object never holds more than the pipeline lets be in flight, so waiting longer would
// only stall. Each write() resolves once the objects holding its messages are stored (PutObject, or a multipart
// upload for objects larger than part_size), so every message is acked on S3's confirmation.
import {
  S3Client,
  PutObjectCommand,
  HeadBucketCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import type { SinkDriver, SinkOptions, WriteResult } from '../../sink';
import { noteFailure } from '../../deadLetter';
import type { Message } from '../../message';
import { ConfigError, ConnectorError } from '../../errors';
import { rootLogger, type Logger } from '../../logging/logger';
import { encodeEnvelope } from '../local/jsonLines';
import { SCHEME, type S3SinkConfig, uniquePart } from './config';

/** How often an open object is looked at for its age and for whether anything more can join it. */
const CHECK_INTERVAL_MS = 25;

/** The source a message came from, as the sink sees it: the source runtime that owns its root settlement. */
interface Feeder {
  /** Nothing more will come from it until some of its messages settle (lib/source.ts). */
  readonly waitsForSettlement?: boolean;
}

function feederOf(message: Message): Feeder | undefined {
  return message.settlement.root.owner as Feeder | undefined;
}

/**
 * One write() call: its messages may fill more than one object (max_count, max_bytes), each of which stores or
 * fails on its own; it resolves, with one result per message, once every object holding its messages is done.
 */
class PendingWrite {
  private parts = 0;
  private readonly results: (Error | undefined)[];
  private failed = false;
  readonly done: Promise<WriteResult>;
  private resolve!: (results: WriteResult) => void;

  constructor(size: number) {
    this.results = new Array(size).fill(undefined);
    this.done = new Promise((resolve) => (this.resolve = resolve));
  }

  /** Its messages from `start` (inclusive) to `end` go into one object. */
  addPart(): void {
    this.parts++;
  }

  partDone(start: number, end: number, error: Error | undefined): void {
    if (error !== undefined) {
      this.failed = true;
      for (let i = start; i < end; i++) this.results[i] = error;
    }
    if (--this.parts === 0) this.resolve(this.failed ? this.results : undefined);
  }
}

/** The messages [start, end) of one write, in an object. */
interface Part {
  write: PendingWrite;
  start: number;
  end: number;
}

/** An object being gathered: its bytes, the parts of writes waiting for it, and the sources feeding it. */
class OpenObject {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  count = 0;
  readonly parts: Part[] = [];
  readonly feeders = new Set<Feeder>();
  /** Some message came with no source behind it (fed by hand): nothing tells whether more will come. */
  unfed = false;

  constructor(readonly openedAt: number) {}
}

/** The S3 error as a ConnectorError: a missing bucket and refused access are not retried, throttling and 5xx are. */
export function s3Error(error: unknown, config: S3SinkConfig, doing: string): ConnectorError {
  const name = (error as { name?: string })?.name ?? '';
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  const reason = (error as Error)?.message || name || String(error);
  if (name === 'NoSuchBucket' || (status === 404 && doing === 'checking')) {
    return new ConnectorError(
      `bucket '${config.bucket}' does not exist (${reason}); create it (aws s3 mb s3://${config.bucket}) or name another`,
      {
        scheme: SCHEME,
        host: config.host,
        retryable: false,
        cause: error,
      },
    );
  }
  if (status === 403 || ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'Forbidden'].includes(name)) {
    return new ConnectorError(
      `access to bucket '${config.bucket}' was refused (${name || status}: ${reason}); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or the profile) and the bucket policy`,
      { scheme: SCHEME, host: config.host, retryable: false, cause: error },
    );
  }
  if (name === 'CredentialsProviderError') {
    return new ConnectorError(`no AWS credentials found (${reason}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE`, {
      scheme: SCHEME,
      host: config.host,
      retryable: false,
      cause: error,
    });
  }
  const retryable = status === undefined || status >= 500 || status === 429 || status === 408;
  return new ConnectorError(`${doing} s3://${config.bucket}/${config.prefix} failed: ${reason}`, {
    scheme: SCHEME,
    host: config.host,
    retryable,
    cause: error,
  });
}

export class S3Sink implements SinkDriver {
  readonly scheme = SCHEME;
  private readonly client: S3Client;
  private readonly logger: Logger;
  private open: OpenObject | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** write() calls not settled yet (open and uploading objects): the runtime holds that many of its slots. */
  private heldWrites = 0;
  private readonly sealed: OpenObject[] = [];
  private uploading = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private connected = false;

  constructor(
    private readonly config: S3SinkConfig,
    options: SinkOptions,
    /** The runtime's write slots: when all wait for the open object, nothing more can join it. */
    private readonly concurrency: number,
  ) {
    this.logger = (options.logger ?? rootLogger()).child({ sink: 's3', bucket: config.bucket });
    this.client = new S3Client({
      ...config.client,
      // an emulator or a self-hosted store cares nothing for the region, but the SDK needs one
      ...(config.client.region === undefined && config.client.endpoint !== undefined ? { region: 'us-east-1' } : {}),
    });
  }

  get ready(): boolean {
    return this.connected;
  }

  /** The start-up check: the bucket exists and these credentials may use it (exit 2 when not). */
  async start(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }));
      this.connected = true;
    } catch (error) {
      const failure = s3Error(error, this.config, 'checking');
      if (!failure.retryable) throw new ConfigError(failure.message, { variable: this.config.variable, cause: error });
      throw failure;
    }
  }

  write(batch: readonly Message[]): Promise<WriteResult> {
    const { maxCount, maxBytes, format } = this.config;
    const write = new PendingWrite(batch.length);
    this.heldWrites++;
    void write.done.then(() => this.heldWrites--);
    let start = 0;
    while (start < batch.length) {
      const object = (this.open ??= new OpenObject(Date.now()));
      let text = '';
      let bytes = object.bytes;
      let end = start;
      // fill this object up to max_count messages or max_bytes (an empty object takes at least one message)
      while (end < batch.length && object.count < maxCount && (bytes < maxBytes || object.count === 0)) {
        const message = batch[end++];
        const line = (format === 'envelope' ? encodeEnvelope(message) : message.text()) + '\n';
        text += line;
        bytes += Buffer.byteLength(line);
        object.count++;
        const feeder = feederOf(message);
        if (feeder === undefined) object.unfed = true;
        else object.feeders.add(feeder);
      }
      const chunk = Buffer.from(text, 'utf8');
      object.chunks.push(chunk);
      object.bytes += chunk.length;
      write.addPart();
      object.parts.push({ write, start, end });
      start = end;
      if (end < batch.length) this.seal();
    }
    this.check();
    if (this.open !== undefined) this.timer ??= setInterval(() => this.check(), CHECK_INTERVAL_MS);
    return write.done;
  }

  /** Seals the open object when it is full, old enough, or cannot grow any more. */
  private check(): void {
    const object = this.open;
    if (object === undefined) return;
    const { maxCount, maxBytes, maxAgeMs } = this.config;
    if (object.count >= maxCount || object.bytes >= maxBytes || Date.now() - object.openedAt >= maxAgeMs || !this.canGrow(object)) {
      this.seal();
    }
  }

  /** Whether more messages may still join the open object. */
  private canGrow(object: OpenObject): boolean {
    // every write slot of the runtime waits for an object: it can hand over nothing more
    if (object.unfed || this.heldWrites >= this.concurrency) return false;
    for (const feeder of object.feeders) {
      // a full window, a stop, the end of the input: that source waits for these messages' acks
      if (feeder.waitsForSettlement !== false) return false;
    }
    return true;
  }

  private seal(): void {
    const object = this.open;
    if (object === undefined) return;
    this.open = undefined;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.sealed.push(object);
    this.pump();
  }

  private pump(): void {
    while (this.uploading < this.config.uploads && this.sealed.length > 0) {
      const object = this.sealed.shift() as OpenObject;
      this.uploading++;
      void this.upload(object).finally(() => {
        this.uploading--;
        this.pump();
        if (this.uploading === 0 && this.sealed.length === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
    }
  }

  private async upload(object: OpenObject): Promise<void> {
    const now = Date.now();
    const key =
      this.config.prefix + this.config.template({ time: new Date(object.openedAt), unique: uniquePart(now), count: object.count });
    const body = object.chunks.length === 1 ? object.chunks[0] : Buffer.concat(object.chunks, object.bytes);
    try {
      if (body.length > this.config.partSize) await this.uploadInParts(key, body);
      else
        await this.client.send(
          new PutObjectCommand({ Bucket: this.config.bucket, Key: key, Body: body, ContentType: this.config.contentType }),
        );
      this.connected = true;
      this.logger.debug({ key, messages: object.count, bytes: body.length }, 'object stored');
      for (const part of object.parts) part.write.partDone(part.start, part.end, undefined);
    } catch (error) {
      const failure = error instanceof ConnectorError ? error : s3Error(error, this.config, 'writing to');
      if (failure.retryable) this.connected = false;
      noteFailure(
        this.logger,
        'object_failed',
        { err: failure, key, messages: object.count },
        `s3: writing ${key} (${object.count} messages) failed: ${failure.message}`,
      );
      for (const part of object.parts) part.write.partDone(part.start, part.end, failure);
    }
  }

  /** A multipart upload: parts of part_size, `uploads` at once, aborted (no orphan parts kept) when one fails. */
  private async uploadInParts(key: string, body: Buffer): Promise<void> {
    const { bucket, partSize } = this.config;
    const created = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: this.config.contentType }),
    );
    const uploadId = created.UploadId as string;
    try {
      const count = Math.ceil(body.length / partSize);
      const etags: string[] = new Array(count);
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let part = next++; part < count; part = next++) {
          const answer = await this.client.send(
            new UploadPartCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: part + 1,
              Body: body.subarray(part * partSize, Math.min(body.length, (part + 1) * partSize)),
            }),
          );
          etags[part] = answer.ETag as string;
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.config.uploads, count) }, worker));
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
    } catch (error) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
        .catch((abortError: unknown) => {
          this.logger.warn(
            { err: abortError, key },
            `s3: aborting the multipart upload of ${key} failed; its parts stay until a lifecycle rule removes them`,
          );
        });
      throw error;
    }
  }

  async close(): Promise<void> {
    this.seal();
    if (this.uploading > 0 || this.sealed.length > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.connected = false;
    this.client.destroy();
  }
}
