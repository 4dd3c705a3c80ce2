// One webhook request, from its headers to a message in the pipeline, wherever it came from (the source's own
// node:http listener or a route of the user's express app). The order of the checks is what keeps senders without
// credentials from holding anything that signed senders need: cheap header checks first, then, with an HMAC secret,
// the body is read and verified (bounded in size, time and number) before any credit is taken; without one, credit
// is taken first (so memory stays within the window) and the body must then arrive within the body timeout.
import type http from 'node:http';
import { randomUUID, createHmac, timingSafeEqual } from 'node:crypto';
import type { SourceContext, CreditSlot } from '../../source';
import type { Logger } from '../../logging/logger';
import { TokenBucket } from '../../tokenBucket';
import type { IntakeConfig } from './config';
import { PERCENT_ENCODED_HEADER, decodeHeaderValue, decodePercentEncoded, percentEncodedNames } from './headers';

/** The token of each message: the response that waits for its settlement. */
export type Response = http.ServerResponse;

/** Request headers that never become metadata: credentials, and hop-by-hop or framing headers. */
export const SOURCE_SKIPPED_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-signature-256',
  'host',
  'connection',
  'keep-alive',
  'content-length',
  'transfer-encoding',
  'upgrade',
  'expect',
  'te',
  'trailer',
  PERCENT_ENCODED_HEADER,
]);

/**
 * The refusals counted in wasm_pipes_errors_total{kind} (through the source's `stats.error`), each with the status
 * it answers: see docs/connectors/http.md.
 */
export type RefusalKind =
  | 'method_not_allowed' // 405
  | 'unauthorized' // 401, missing or wrong bearer token
  | 'bad_signature' // 401, missing or wrong X-Signature-256
  | 'body_too_large' // 413
  | 'body_timeout' // 408, the body did not arrive within HTTP_BODY_TIMEOUT
  | 'unverified_evicted' // 503, cut off to make room under HTTP_MAX_UNVERIFIED
  | 'rate_limited' // 429, over HTTP_RATE_LIMIT
  | 'refused_draining' // 503, shutting down
  | 'request_aborted' // the client went away before its message was taken
  | 'body_consumed'; // 500, a body parser of the app ran before the handler

/** Refusals worth a warning (an attack or a misconfigured sender); draining and aborted requests are normal. */
const WARNED: ReadonlySet<RefusalKind> = new Set([
  'unauthorized',
  'bad_signature',
  'body_too_large',
  'body_timeout',
  'unverified_evicted',
  'rate_limited',
  'body_consumed',
]);
const WARN_INTERVAL_MS = 10_000;

/** Answers with a small JSON body in one write. */
export function answer(response: Response, status: number, body: object, headers?: Record<string, string>): void {
  if (response.headersSent || response.destroyed) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

const OK_BODY = '{"status":"ok"}';
const OK_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(OK_BODY.length) };
const OK_HEADERS_CLOSING = { ...OK_HEADERS, connection: 'close' };

/** The answer once the message was settled as done; `closing` (draining) tells a keep-alive client to move on. */
export function answerAcked(response: Response, closing: boolean): void {
  if (!response.headersSent && !response.destroyed) response.writeHead(200, closing ? OK_HEADERS_CLOSING : OK_HEADERS).end(OK_BODY);
}

/** The answer once the message was nacked (or timed out): 503, so that the sender retries. */
export function answerNacked(response: Response, error: Error, closing: boolean): void {
  const headers: Record<string, string> = { 'Retry-After': '1' };
  if (closing) headers.Connection = 'close';
  answer(response, 503, { status: 'failed', error: error.message }, headers);
}

/** The request's path without its query, and its query string. */
export function splitUrl(url: string): [path: string, query: string] {
  const mark = url.indexOf('?');
  return mark === -1 ? [url, ''] : [url.slice(0, mark), url.slice(mark + 1)];
}

function secureEquals(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `Authorization: Bearer <token>`, the scheme in any case and one or more spaces after it (RFC 7235). */
const BEARER = /^bearer +(\S+) *$/i;

function bearerMatches(header: string | undefined, token: string): boolean {
  const match = BEARER.exec(header ?? '');
  return match !== null && secureEquals(match[1], token);
}

/** GET query parameters as a JSON object; a repeated parameter becomes an array. */
function queryAsJson(query: string): Buffer {
  const params = new URLSearchParams(query);
  const object: Record<string, string | string[]> = {};
  for (const [name, value] of params) {
    const existing = object[name];
    if (existing === undefined) object[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else object[name] = [existing, value];
  }
  return Buffer.from(JSON.stringify(object));
}

/** Why a body was not read; `kind` is what is counted and answered. */
class ReadFailure extends Error {
  constructor(readonly kind: RefusalKind) {
    super(kind);
  }
}

/**
 * Reads one request body within `limit` bytes and `timeoutMs`. Settles once: with the body, or with a ReadFailure
 * (too large, too slow, evicted, client gone). A body an express body parser already read (`express.raw()` or
 * `express.text()`) is taken from `request.body`.
 */
class BodyReader {
  readonly body: Promise<Buffer>;
  private fail!: (kind: RefusalKind) => void;

  constructor(request: http.IncomingMessage, response: Response, limit: number, timeoutMs: number) {
    this.body = new Promise<Buffer>((resolve, reject) => {
      if (request.readableEnded) {
        // an express body parser read the stream already: only a raw (Buffer) or text body is still the sender's bytes
        const parsed = (request as { body?: unknown }).body;
        const bytes = Buffer.isBuffer(parsed) ? parsed : typeof parsed === 'string' ? Buffer.from(parsed) : undefined;
        if (bytes === undefined) reject(new ReadFailure('body_consumed'));
        else if (bytes.length > limit) reject(new ReadFailure('body_too_large'));
        else resolve(bytes);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const finish = (outcome: Buffer | ReadFailure): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.off('data', onData);
        request.off('end', onEnd);
        if (outcome instanceof ReadFailure) {
          // stop buffering what the sender keeps sending; the answer (or the closing socket) ends the exchange
          request.pause();
          reject(outcome);
        } else {
          resolve(outcome);
        }
      };
      this.fail = (kind) => finish(new ReadFailure(kind));
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (size > limit) finish(new ReadFailure('body_too_large'));
        else chunks.push(chunk);
      };
      const onEnd = (): void => finish(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
      const timer = setTimeout(() => finish(new ReadFailure('body_timeout')), timeoutMs);
      request.on('data', onData);
      request.on('end', onEnd);
      request.once('error', () => finish(new ReadFailure('request_aborted')));
      // a client that hangs up mid-body may end the stream with 'close' alone
      request.once('close', () => finish(new ReadFailure('request_aborted')));
      response.once('close', () => finish(new ReadFailure('request_aborted')));
    });
    this.fail ??= () => undefined;
  }

  /** Gives up on the body (it was evicted); the promise rejects with `kind`. */
  abandon(kind: RefusalKind): void {
    this.fail(kind);
  }
}

/** Per-request state: whether the client is still there, watched from the start so that no path can miss it. */
class Exchange {
  gone = false;

  constructor(
    readonly request: http.IncomingMessage,
    readonly response: Response,
  ) {
    response.once('close', () => {
      if (!response.writableFinished) this.gone = true;
    });
  }
}

/** The request handling of one subscription of an HTTP source. */
export class HttpIntake {
  /** Bodies being read before their signature can be checked, oldest first (eviction order). */
  private readonly unverified = new Set<BodyReader>();
  private readonly bucket: TokenBucket | undefined;
  private readonly logger: Logger;
  private readonly refusedSinceWarning = new Map<RefusalKind, number>();
  private lastWarningAt = 0;
  private warningTimer: NodeJS.Timeout | undefined;
  private explainedConsumedBody = false;

  constructor(
    readonly config: IntakeConfig,
    private readonly context: SourceContext<Response>,
  ) {
    this.logger = context.logger;
    this.bucket = config.rate === undefined ? undefined : new TokenBucket({ rate: config.rate.perSecond, burst: config.rate.burst });
  }

  /** A short description of the authentication, for logs (never the secrets). */
  get auth(): string {
    const parts = [this.config.token ? 'bearer token' : '', this.config.hmacSecret ? 'HMAC signature' : ''].filter(Boolean);
    return parts.length === 0 ? 'none' : parts.join(' + ');
  }

  /** Handles one request for the source's path; answers it now or once its message is settled. */
  handle(request: http.IncomingMessage, response: Response, query: string): void {
    void this.take(new Exchange(request, response), query).catch((error: unknown) => {
      this.logger.error({ err: error }, 'the HTTP source failed to handle a request');
      answer(response, 500, { error: 'internal error' });
    });
  }

  /** Stops the warning timer (the source is closing). */
  close(): void {
    clearTimeout(this.warningTimer);
    this.warningTimer = undefined;
    this.flushWarning();
  }

  private async take(exchange: Exchange, query: string): Promise<void> {
    const { request, response } = exchange;
    const method = request.method;
    const { token, hmacSecret, maxBody } = this.config;
    if (method !== 'POST' && method !== 'PUT' && method !== 'GET') {
      this.refuse(response, 'method_not_allowed', 405, `method ${method} not allowed; use POST, PUT or GET`, { Allow: 'GET, POST, PUT' });
      return;
    }
    if (token !== undefined && !bearerMatches(request.headers.authorization, token)) {
      this.refuse(response, 'unauthorized', 401, 'missing or wrong bearer token', { 'WWW-Authenticate': 'Bearer' });
      return;
    }
    if (this.context.stopped) {
      this.refuseDraining(response);
      return;
    }
    if (Number(request.headers['content-length'] ?? 0) > maxBody) {
      this.refuseTooLarge(response);
      return;
    }
    if (hmacSecret === undefined) {
      // authenticated (or open): take credit first, so that waiting requests hold no body in memory
      if (!this.withinRate(response)) return;
      const slot = await this.acquire(exchange);
      if (slot === undefined) return;
      let body: Buffer;
      try {
        body = method === 'GET' ? queryAsJson(query) : await new BodyReader(request, response, maxBody, this.config.bodyTimeoutMs).body;
      } catch (error) {
        slot.release();
        this.failedRead(exchange, error);
        return;
      }
      this.receive(slot, exchange, body);
      return;
    }
    // an HMAC signature covers the body: read and check it before the request may hold any credit
    let body: Buffer;
    if (method === 'GET') {
      body = queryAsJson(query);
    } else {
      const reader = this.admitUnverified(request, response);
      try {
        body = await reader.body;
      } catch (error) {
        this.failedRead(exchange, error);
        return;
      } finally {
        this.unverified.delete(reader);
      }
    }
    const signature = String(request.headers['x-signature-256'] ?? '');
    const expected = `sha256=${createHmac('sha256', hmacSecret).update(body).digest('hex')}`;
    if (!secureEquals(signature, expected)) {
      this.refuse(response, 'bad_signature', 401, 'missing or wrong X-Signature-256 (sha256=<hex HMAC of the body>)');
      return;
    }
    if (!this.withinRate(response)) return;
    const slot = await this.acquire(exchange);
    if (slot !== undefined) this.receive(slot, exchange, body);
  }

  /**
   * Starts reading an unverified body. When HTTP_MAX_UNVERIFIED bodies are being read already, the one that has been
   * reading longest is cut off: senders that trickle bytes cannot keep a signed request from being read.
   */
  private admitUnverified(request: http.IncomingMessage, response: Response): BodyReader {
    if (this.unverified.size >= this.config.maxUnverified) {
      const oldest = this.unverified.values().next().value as BodyReader;
      this.unverified.delete(oldest);
      oldest.abandon('unverified_evicted');
    }
    const reader = new BodyReader(request, response, this.config.maxBody, this.config.bodyTimeoutMs);
    this.unverified.add(reader);
    return reader;
  }

  /**
   * Waits for a credit slot. The client may give up meanwhile: its slot then goes back at once (the slot cannot be
   * cancelled while queued, so it is released as soon as it arrives).
   */
  private async acquire(exchange: Exchange): Promise<CreditSlot<Response> | undefined> {
    const slot = await this.context.acquire();
    if (slot === undefined) {
      this.refuseDraining(exchange.response);
      return undefined;
    }
    if (exchange.gone) {
      slot.release();
      this.count('request_aborted');
      return undefined;
    }
    return slot;
  }

  private withinRate(response: Response): boolean {
    const waitMs = this.bucket?.take() ?? 0;
    if (waitMs === 0) return true;
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    this.refuse(response, 'rate_limited', 429, `more than HTTP_RATE_LIMIT; retry in ${seconds} s`, { 'Retry-After': String(seconds) });
    return false;
  }

  private failedRead(exchange: Exchange, error: unknown): void {
    const kind = error instanceof ReadFailure ? error.kind : 'request_aborted';
    const { response } = exchange;
    switch (kind) {
      case 'body_too_large':
        this.refuseTooLarge(response);
        return;
      case 'body_timeout':
        this.refuse(response, kind, 408, `the body did not arrive within HTTP_BODY_TIMEOUT (${this.config.bodyTimeoutMs} ms)`, {
          Connection: 'close',
        });
        return;
      case 'unverified_evicted':
        this.refuse(response, kind, 503, 'too many requests with unverified bodies at once', { 'Retry-After': '1', Connection: 'close' });
        return;
      case 'body_consumed':
        this.refuse(response, kind, 500, 'the request body was already read by another middleware');
        if (this.explainedConsumedBody) return;
        this.explainedConsumedBody = true;
        this.logger.error(
          'an express body parser (express.json(), express.urlencoded()) read the request before the httpSource handler: ' +
            'mount the handler before the parser, or use express.raw({ type: "*/*" }) in front of it',
        );
        return;
      default:
        this.count('request_aborted');
        if (!exchange.gone) response.destroy();
    }
  }

  private receive(slot: CreditSlot<Response>, exchange: Exchange, body: Buffer): void {
    const { request, response } = exchange;
    const headers = request.headers;
    const encoded = percentEncodedNames(headers[PERCENT_ENCODED_HEADER]);
    const value = (name: string, raw: string): string => (encoded.has(name) ? decodePercentEncoded(raw) : decodeHeaderValue(raw));
    const metadata: Record<string, string> = {};
    for (const name in headers) {
      if (SOURCE_SKIPPED_HEADERS.has(name)) continue;
      const raw = headers[name];
      if (raw !== undefined) metadata[name] = value(name, Array.isArray(raw) ? raw.join(', ') : raw);
    }
    if (request.method === 'GET') metadata['content-type'] = 'application/json';
    const id = metadata['x-message-id'] ?? metadata['idempotency-key'] ?? randomUUID();
    const key = metadata['x-message-key'];
    slot.receive({ id, body, metadata, key }, response);
  }

  refuseDraining(response: Response): void {
    this.refuse(response, 'refused_draining', 503, 'shutting down', { 'Retry-After': '1', Connection: 'close' });
  }

  private refuseTooLarge(response: Response): void {
    this.refuse(response, 'body_too_large', 413, `body larger than HTTP_MAX_BODY (${this.config.maxBody} bytes)`, { Connection: 'close' });
  }

  private refuse(response: Response, kind: RefusalKind, status: number, error: string, headers?: Record<string, string>): void {
    this.count(kind);
    answer(response, status, { error }, headers);
  }

  /** Counts a refusal in /metrics and, for the kinds that may mean an attack, in a warning at most every 10 s. */
  private count(kind: RefusalKind): void {
    this.context.stats.error(kind);
    if (!WARNED.has(kind)) {
      this.logger.debug({ kind }, 'HTTP request refused');
      return;
    }
    this.refusedSinceWarning.set(kind, (this.refusedSinceWarning.get(kind) ?? 0) + 1);
    const now = Date.now();
    if (now - this.lastWarningAt >= WARN_INTERVAL_MS) {
      this.flushWarning();
    } else if (this.warningTimer === undefined) {
      this.warningTimer = setTimeout(
        () => {
          this.warningTimer = undefined;
          this.flushWarning();
        },
        this.lastWarningAt + WARN_INTERVAL_MS - now,
      );
      this.warningTimer.unref();
    }
  }

  private flushWarning(): void {
    if (this.refusedSinceWarning.size === 0) return;
    const refused = Object.fromEntries(this.refusedSinceWarning);
    const total = [...this.refusedSinceWarning.values()].reduce((sum, count) => sum + count, 0);
    this.refusedSinceWarning.clear();
    this.lastWarningAt = Date.now();
    this.logger.warn(
      { refused },
      `refused ${total} HTTP request(s): ${Object.entries(refused)
        .map(([kind, count]) => `${kind} ${count}`)
        .join(', ')} ` + '(counted in wasm_pipes_errors_total; at most one such line every 10 s)',
    );
  }
}
