// One NATS connection of a nats:// source or sink: the first connection is retried with backoff for up to
// NATS_CONNECT_TIMEOUT, after which nats.js reconnects forever; `ready` follows the connection's status, and each
// loss and recovery is logged once. Also the mapping between NATS headers and message metadata, both ways.
import { connect, errors, MsgHdrsImpl } from '@nats-io/transport-node';
import type { ConnectionOptions, MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import type { Message } from '../../message';
import type { SinkDriver, WriteResult } from '../../sink';
import type { Logger } from '../../logging/logger';
import { ConnectorError, PermanentError } from '../../errors';
import { natsServersLabel } from './servers';
import { equalJitter, exponentialBackoff } from '../../backoff';
import { DistinctReasonLog, WakeableSleep, connectWithRetry } from '../connectRetry';

/**
 * JetStream's deduplication header: a stream stores one message per value within its duplicate window. The sinks set
 * it to `<subject>:<message id>` (see dedupeId), so that copies of one message on different subjects of one stream
 * (a fan-out, a dead letter) are all stored, while the same message written to the same subject again is not.
 */
export const MSG_ID_HEADER = 'Nats-Msg-Id';
/** The header that carries the message id itself, as on Kafka and HTTP; a source falls back to Nats-Msg-Id. */
export const MESSAGE_ID_HEADER = 'x-message-id';
/** The header that carries the message key (NATS has no key of its own); the HTTP connector uses the same name. */
export const MSG_KEY_HEADER = 'x-message-key';
/** Metadata naming the subject a message arrived on, for sources on a wildcard subject. */
export const SUBJECT_METADATA = 'nats-subject';

/** A header name NATS accepts: printable ASCII without a colon. */
const HEADER_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});
/** What a message without headers, from a subject without wildcards, decodes to (most messages: made once, not each time). */
const NO_HEADERS: { metadata: Record<string, string>; id?: string; key?: string } = Object.freeze({ metadata: NO_METADATA });

/**
 * Metadata from the headers of a received message; `Nats-*` protocol headers stay out, the id (`x-message-id`, else
 * `Nats-Msg-Id`) and key come back. `subject` is added as `nats-subject` when given (wildcard sources, where it tells
 * messages apart).
 */
export function decodeHeaders(
  headers: MsgHdrs | undefined,
  subject: string | undefined,
): { metadata: Record<string, string>; id?: string; key?: string } {
  if (headers === undefined) {
    return subject === undefined ? NO_HEADERS : { metadata: { [SUBJECT_METADATA]: subject } };
  }
  const metadata: Record<string, string> = subject === undefined ? {} : { [SUBJECT_METADATA]: subject };
  let dedupeId: string | undefined;
  let id: string | undefined;
  let key: string | undefined;
  for (const name of headers.keys()) {
    const lower = name.toLowerCase();
    const values = headers.values(name);
    const value = values.length === 1 ? values[0] : values.join(', ');
    if (lower === 'nats-msg-id') dedupeId = value;
    else if (lower === MESSAGE_ID_HEADER) id = value;
    else if (lower === MSG_KEY_HEADER) key = value;
    else if (!lower.startsWith('nats-')) metadata[name] = value;
  }
  // a publisher other than wasm-pipes sets only Nats-Msg-Id: that is its id
  return { metadata, id: id ?? dedupeId, key };
}

/** Whether a subject has a wildcard token (`*` or `>`): its sources say which subject each message came on. */
export function isWildcard(subject: string): boolean {
  return /(^|\.)(\*|>)(\.|$)/.test(subject);
}

/** The permanent failure of a message whose body alone is over the server's max_payload (undefined when it fits). */
export function oversizedBody(message: Message, maxPayload: number, host: string): PermanentError | undefined {
  if (message.body.length <= maxPayload) return undefined;
  return new PermanentError(
    `nats (${host}): a message of ${message.body.length} bytes is larger than the server's max_payload (${maxPayload} bytes)`,
  );
}

function headerValue(value: string): string[] {
  return [value.includes('\r') || value.includes('\n') ? value.replace(/[\r\n]+/g, ' ').trim() : value.trim()];
}

/** The Nats-Msg-Id of `id` published on `subject`: unique per subject, the same for the same message again. */
export function dedupeId(subject: string, id: string): string {
  return `${subject}:${id}`;
}

/**
 * Headers for a message to publish on `subject`: its metadata (minus `nats-*` names and names NATS refuses), its id
 * (`x-message-id`, and `Nats-Msg-Id` scoped by the subject) and key. Built from a record of names already checked
 * here, which skips the client's per-header validation (measurable at 100k messages a second).
 */
export function encodeHeaders(message: Message, subject: string): MsgHdrs {
  const record: Record<string, string[]> = {};
  const metadata = message.metadata;
  for (const name in metadata) {
    if (!HEADER_NAME.test(name)) continue;
    const lower = name.toLowerCase();
    if (lower.startsWith('nats-') || lower === MSG_KEY_HEADER || lower === MESSAGE_ID_HEADER) continue;
    record[name] = headerValue(metadata[name]);
  }
  record[MESSAGE_ID_HEADER] = headerValue(message.id);
  record[MSG_ID_HEADER] = headerValue(dedupeId(subject, message.id));
  if (message.key !== undefined) record[MSG_KEY_HEADER] = headerValue(message.key);
  return MsgHdrsImpl.fromRecord(record);
}

/** A promise that rejects with `error()` after `ms` (and clears its timer when `promise` settles first). */
export function withTimeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(error()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Refused credentials, as nats.js classifies them: retrying with the same ones cannot help. */
function isAuthorizationError(error: unknown): boolean {
  return error instanceof errors.AuthorizationError || error instanceof errors.UserAuthenticationExpiredError;
}

export class NatsLink {
  /** The servers, for messages (no credentials). */
  readonly host: string;
  private connection: NatsConnection | undefined;
  private connecting: Promise<NatsConnection> | undefined;
  private connected = false;
  private closed = false;
  private readonly sleeper = new WakeableSleep();
  /** Reconnection attempts since the connection was last up, for the backoff. */
  private reconnectAttempts = 0;
  private readonly failures: DistinctReasonLog;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly connectTimeoutMs: number,
    readonly logger: Logger,
    private readonly role: string,
  ) {
    this.host = natsServersLabel(options);
    this.failures = new DistinctReasonLog(logger);
  }

  /** Connected right now (false while nats.js reconnects). */
  get ready(): boolean {
    return this.connected;
  }

  /**
   * Whether the link is connected; asking starts the first connection of a lazy sink in the background, so that a
   * readiness probe reports the broker's state rather than "not tried yet".
   */
  probe(): boolean {
    if (this.connection === undefined && this.connecting === undefined && !this.closed) this.connect().catch(() => undefined);
    return this.connected;
  }

  /** The connection, once made. */
  get current(): NatsConnection | undefined {
    return this.connection;
  }

  /** The connection, connecting first when needed; a failed attempt is not cached, so the next call tries again. */
  connect(): Promise<NatsConnection> {
    if (this.connection !== undefined) return Promise.resolve(this.connection);
    if (this.connecting === undefined) {
      this.connecting = this.open()
        .catch((error: unknown) => {
          // why the first connection failed, at error once per reason (a sink tries again on each write)
          if (!this.closed) this.failures.error(error as Error, { host: this.host, role: this.role });
          throw error;
        })
        .finally(() => {
          this.connecting = undefined;
        });
    }
    return this.connecting;
  }

  error(message: string, cause?: unknown, retryable = true): ConnectorError {
    return new ConnectorError(message, { scheme: 'nats', host: this.host, cause, retryable });
  }

  private open(): Promise<NatsConnection> {
    return connectWithRetry({
      deadline: Date.now() + this.connectTimeoutMs,
      sleeper: this.sleeper,
      attempt: async (timeoutMs) => {
        const connection = await connect({
          ...this.options,
          timeout: timeoutMs,
          waitOnFirstConnect: false,
          // nats.js builds an Error (stack trace and all) for every request and every request's timer, only to give a
          // timeout a call site: with JetStream that was two per message, 15 % of a relay's CPU; our errors name the
          // subject and the operation themselves
          noAsyncTraces: true,
          // exponential backoff with jitter between reconnection attempts: 250 ms doubling up to 5 s
          reconnectDelayHandler: () => equalJitter(exponentialBackoff(250, ++this.reconnectAttempts, 5000)),
        });
        if (this.closed) {
          await connection.close();
          throw this.error('closed before it connected', undefined, false);
        }
        this.watch(connection);
        return connection;
      },
      closed: () => this.closed,
      closedError: () => this.error('closed before it connected', undefined, false),
      refused: (error, reason) =>
        isAuthorizationError(error)
          ? this.error(
              `the server refused the credentials (${reason}); check NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS`,
              error,
              false,
            )
          : undefined,
      gaveUp: (error, reason) =>
        this.error(
          `cannot connect (${reason}) within NATS_CONNECT_TIMEOUT (${this.connectTimeoutMs} ms); is NATS_SERVER_URL right and the server running?`,
          error,
        ),
      warn: (reason) =>
        this.logger.warn({ host: this.host, err: reason }, `nats ${this.role}: cannot connect to ${this.host} yet (${reason}); retrying`),
    });
  }

  private watch(connection: NatsConnection): void {
    this.connection = connection;
    this.connected = true;
    this.logger.info({ host: this.host, server: connection.getServer() }, `nats ${this.role}: connected to ${connection.getServer()}`);
    void (async () => {
      for await (const status of connection.status()) {
        switch (status.type) {
          case 'disconnect':
            this.connected = false;
            this.logger.warn(
              { host: this.host, server: status.server },
              `nats ${this.role}: disconnected from ${status.server}; reconnecting`,
            );
            break;
          case 'reconnect':
            this.connected = true;
            this.reconnectAttempts = 0;
            this.logger.info({ host: this.host, server: status.server }, `nats ${this.role}: reconnected to ${status.server}`);
            break;
          case 'error':
            // refused credentials (a rotated token) come back on every reconnection attempt: at error, once
            if (isAuthorizationError(status.error)) {
              this.failures.error(
                this.error(
                  `the server refused the credentials (${status.error.message}); check NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS`,
                  status.error,
                  false,
                ),
                { host: this.host, role: this.role },
              );
            } else {
              this.logger.warn({ host: this.host, err: status.error }, `nats ${this.role}: ${status.error.message}`);
            }
            break;
          case 'slowConsumer':
            this.logger.warn(
              { host: this.host, subject: status.sub.getSubject() },
              `nats ${this.role}: slow consumer on ${status.sub.getSubject()}`,
            );
            break;
          default:
            break;
        }
      }
    })().catch(() => undefined);
    void connection.closed().then((error) => {
      this.connected = false;
      if (!this.closed) {
        this.logger.error({ host: this.host, err: error }, `nats ${this.role}: the connection closed${error ? `: ${error.message}` : ''}`);
        this.connection = undefined;
      }
    });
  }

  /** Sends what is buffered (acks, publishes) and closes; gives up waiting after `timeoutMs` (a lost server). */
  async close(timeoutMs = 5000): Promise<void> {
    this.closed = true;
    this.sleeper.wake();
    await this.connecting?.catch(() => undefined);
    const connection = this.connection;
    if (connection === undefined) return;
    this.connected = false;
    try {
      await withTimeout(connection.drain(), timeoutMs, () => new Error('drain timed out'));
    } catch {
      // disconnected, or already closed: nothing more can be sent
    }
    await connection.close().catch(() => undefined);
    await connection.closed();
  }
}

/** What the core NATS and the JetStream sink share: the subject, the link they publish on, its readiness and close. */
export abstract class NatsSinkDriver implements SinkDriver {
  readonly scheme = 'nats';

  constructor(
    protected readonly subject: string,
    protected readonly link: NatsLink,
    protected readonly timeoutMs: number,
  ) {}

  get ready(): boolean {
    return this.link.probe();
  }

  abstract start(): Promise<void>;

  abstract write(batch: readonly Message[]): Promise<WriteResult>;

  async close(): Promise<void> {
    await this.link.close();
  }
}
