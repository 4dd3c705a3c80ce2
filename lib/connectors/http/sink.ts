// The HTTP sink (undici, keep-alive): POST (or PUT) each message and ack on a 2xx answer. It only classifies what went
// wrong, by status code and undici's error codes; retries and their backoff belong to the sink runtime (lib/sink.ts).
import { Pool } from 'undici';
import type { SinkDriver, DelayHint } from '../../sink';
import type { Message } from '../../message';
import { ConnectorError, PermanentError } from '../../errors';
import { SOURCE_SKIPPED_HEADERS } from './intake';
import { PERCENT_ENCODED_HEADER, isPlainHeaderValue, percentEncode } from './headers';

/** Metadata that never becomes a request header of the sink. */
const SINK_SKIPPED_HEADERS = new Set([
  ...SOURCE_SKIPPED_HEADERS,
  'proxy-connection',
  'http2-settings',
  'content-type',
  'x-message-id',
  'x-message-key',
]);

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Statuses worth another attempt: timeouts, "too early", rate limits and server errors. Other 4xx are permanent. */
function retryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/**
 * undici's codes for a request that can never be sent as it is (a header or body it refuses): retrying cannot help.
 * Everything else (refused connections, resets, timeouts, TLS failures) may pass on another attempt.
 */
const PERMANENT_CODES = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH']);

/** The sink error for a request that failed before any answer, classified by its code. */
export function requestFailure(error: unknown, scheme: string, host: string): Error {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && PERMANENT_CODES.has(code)) {
    return new PermanentError(`${scheme} (${host}): cannot send the request (${code}): ${message}`, { cause: error });
  }
  return new ConnectorError(typeof code === 'string' ? `${message} (${code})` : message, { scheme, host, cause: error });
}

/** Milliseconds a Retry-After value asks for (seconds, or an HTTP date), at most a minute; undefined when unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === '') return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), 60_000) : undefined;
}

/** A message's headers: its content type, id, key and metadata, percent-encoding what HTTP cannot carry as it is. */
export function messageHeaders(message: Message): Record<string, string> {
  const headers: Record<string, string> = {};
  const encoded: string[] = [];
  const put = (name: string, value: string): void => {
    if (isPlainHeaderValue(value)) {
      headers[name] = value;
      return;
    }
    try {
      headers[name] = percentEncode(value);
    } catch (error) {
      throw new PermanentError(`the ${name} header cannot be sent: its value is not valid Unicode (a lone surrogate)`, { cause: error });
    }
    encoded.push(name);
  };
  put('content-type', message.metadata['content-type'] ?? 'application/octet-stream');
  put('x-message-id', message.id);
  if (message.key !== undefined) put('x-message-key', message.key);
  const metadata = message.metadata;
  for (const name in metadata) {
    const lower = name.toLowerCase();
    if (SINK_SKIPPED_HEADERS.has(lower) || !HEADER_NAME.test(name)) continue;
    put(lower, metadata[name]);
  }
  if (encoded.length > 0) headers[PERCENT_ENCODED_HEADER] = encoded.join(', ');
  return headers;
}

/** `Authorization: Basic ...` from the URI's `user:password@` (percent-decoded, sent as UTF-8 per RFC 7617). */
function basicAuthorization(url: URL): string | undefined {
  if (url.username === '' && url.password === '') return undefined;
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
}

/** The HTTP sink: POST (or `HTTP_SINK_METHOD`) each message; 2xx acks, 408/425/429/5xx/network errors retry, other 4xx fail. */
export class HttpSink implements SinkDriver {
  readonly scheme: string;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly origin: string;
  private readonly authorization: string | undefined;

  constructor(
    url: URL,
    connections: number,
    private readonly method: 'POST' | 'PUT',
    timeoutMs: number,
  ) {
    this.scheme = url.protocol.replace(':', '');
    // the origin never includes user:password@, so neither errors nor logs carry them
    this.origin = url.origin;
    this.path = url.pathname + url.search;
    this.authorization = basicAuthorization(url);
    this.pool = new Pool(url.origin, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 10_000,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      connectTimeout: Math.min(timeoutMs, 10_000),
    });
  }

  async write(batch: readonly Message[]): Promise<void> {
    for (const message of batch) await this.send(message);
  }

  private async send(message: Message): Promise<void> {
    const headers = messageHeaders(message);
    if (this.authorization !== undefined) headers.authorization = this.authorization;
    let statusCode: number;
    let retryAfter: string | string[] | undefined;
    try {
      const response = await this.pool.request({ path: this.path, method: this.method, headers, body: message.body });
      statusCode = response.statusCode;
      retryAfter = response.headers['retry-after'];
      await response.body.dump();
    } catch (error) {
      throw requestFailure(error, this.scheme, this.origin);
    }
    if (statusCode >= 200 && statusCode < 300) return;
    if (retryableStatus(statusCode)) {
      const error: ConnectorError & DelayHint = new ConnectorError(`answered ${statusCode}`, { scheme: this.scheme, host: this.origin });
      // the sink runtime waits this long, instead of its own backoff, before the next attempt
      error.retryAfterMs = retryAfterMs(retryAfter);
      throw error;
    }
    throw new PermanentError(`${this.scheme} (${this.origin}): answered ${statusCode}; not retrying a client error`);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
