// http:// and https://: the webhook source (node:http) and the HTTP sink (undici, keep-alive).
// The source answers each request only once its message is settled: 200 when every sink confirmed it, 503 when it
// was nacked or timed out (so the caller retries). The sink POSTs each message and acks on a 2xx answer.
import http from 'node:http';
import https from 'node:https';
import { randomUUID, createHmac, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { registerScheme, EndpointUri } from '../../registry';
import type { SourceContext, SourceDriver, SourceOptions } from '../../source';
import type { SinkDriver, SinkOptions } from '../../sink';
import type { Message } from '../../message';
import { ConfigError, ConnectorError, PermanentError } from '../../errors';
import { parseDuration, parseSize } from '../../config';
import { readTlsFiles } from '../../security/tls';

export const DEFAULT_MAX_BODY = 1024 * 1024;

/** Request headers that never become metadata: credentials, and hop-by-hop or framing headers. */
const SOURCE_SKIPPED_HEADERS = new Set([
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
]);

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
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Thrown when a request body passes HTTP_MAX_BODY. */
class BodyTooLarge extends Error {}

function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    request.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (!failed) {
        failed = true;
        resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
      }
    });
    request.on('error', (error) => {
      if (!failed) {
        failed = true;
        reject(error);
      }
    });
    // a client that hangs up mid-body may end the stream with 'close' alone: without this the credit slot would leak
    request.on('close', () => {
      if (!failed) {
        failed = true;
        reject(new Error('the request was closed before its body was complete'));
      }
    });
  });
}

function secureEquals(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
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

interface HttpSourceConfig {
  host: string;
  port: number;
  path: string;
  tls?: { cert: Buffer; key: Buffer };
  maxBody: number;
  token?: string;
  hmacSecret?: string;
}

function sourceConfig(uri: EndpointUri, options: SourceOptions): HttpSourceConfig {
  const env = options.env ?? process.env;
  const port = uri.url.port === '' ? (uri.scheme === 'https' ? 443 : 80) : Number(uri.url.port);
  const config: HttpSourceConfig = {
    host: uri.anyHost ? '0.0.0.0' : uri.url.hostname.replace(/^\[|\]$/g, ''),
    port,
    path: uri.url.pathname || '/',
    maxBody: env.HTTP_MAX_BODY ? parseSize(env.HTTP_MAX_BODY, 'HTTP_MAX_BODY') : DEFAULT_MAX_BODY,
    token: env.HTTP_SOURCE_TOKEN || undefined,
    hmacSecret: env.HTTP_SOURCE_HMAC_SECRET || undefined,
  };
  const tlsFiles = readTlsFiles(env, 'HTTP_TLS_CERT', 'HTTP_TLS_KEY');
  if (uri.scheme === 'https') {
    if (tlsFiles === undefined) {
      throw new ConfigError('an https:// source needs HTTP_TLS_CERT and HTTP_TLS_KEY (paths to PEM files)', {
        variable: uri.variable,
      });
    }
    config.tls = tlsFiles;
  } else if (tlsFiles !== undefined) {
    // serving plain HTTP while the user believes it is TLS would be worse than refusing to start
    throw new ConfigError(
      `HTTP_TLS_CERT and HTTP_TLS_KEY are set but the source is http://; write it https://, for example ` +
        `https://:${port}${config.path}, or unset them`,
      { variable: uri.variable },
    );
  }
  return config;
}

/** The webhook source. The token of each message is the response that waits for its settlement. */
type Response = http.ServerResponse;

/** Answers with a small JSON body in one write. */
function answer(response: Response, status: number, body: object, headers?: Record<string, string>): void {
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

/** The request's path without its query, and its query string. */
function splitUrl(url: string): [path: string, query: string] {
  const mark = url.indexOf('?');
  return mark === -1 ? [url, ''] : [url.slice(0, mark), url.slice(mark + 1)];
}

export class HttpSource implements SourceDriver<Response> {
  readonly scheme: string;
  private server: http.Server | undefined;
  private listening = false;

  constructor(
    private readonly config: HttpSourceConfig,
    scheme: string,
  ) {
    this.scheme = scheme;
  }

  get ready(): boolean {
    return this.listening;
  }

  /** The address the server listens on (useful with port 0). */
  address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  start(context: SourceContext<Response>): Promise<void> {
    const path = this.config.path;
    // like express (non-strict routing): /events and /events/ are the same endpoint
    const alternate = path.endsWith('/') ? path.slice(0, -1) : `${path}/`;
    const handler = (request: http.IncomingMessage, response: Response): void => {
      const [requestPath, query] = splitUrl(request.url ?? '/');
      if (requestPath !== path && requestPath !== alternate) {
        answer(response, 404, { error: `not found; POST, PUT or GET ${path}` });
        return;
      }
      void this.handle(request, response, query, context);
    };
    const server = this.config.tls ? https.createServer(this.config.tls, handler) : http.createServer(handler);
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        const hint =
          error.code === 'EADDRINUSE'
            ? `port ${this.config.port} is already in use; choose another port in SOURCE_URI, for example http://:${this.config.port + 1}${this.config.path}`
            : error.message;
        reject(new ConnectorError(hint, { scheme: this.scheme, host: `${this.config.host}:${this.config.port}`, cause: error, retryable: false }));
      };
      server.once('error', onError);
      server.listen(this.config.port, this.config.host, () => {
        server.off('error', onError);
        this.listening = true;
        const address = server.address() as AddressInfo;
        context.logger.info(
          { host: address.address, port: address.port, path: this.config.path },
          `listening on ${this.scheme}://${address.address}:${address.port}${this.config.path}`,
        );
        resolve();
      });
    });
  }

  private async handle(request: http.IncomingMessage, response: Response, query: string, context: SourceContext<Response>): Promise<void> {
    const method = request.method;
    if (method !== 'POST' && method !== 'PUT' && method !== 'GET') {
      context.stats.error('method_not_allowed');
      answer(response, 405, { error: `method ${method} not allowed; use POST, PUT or GET` }, { Allow: 'GET, POST, PUT' });
      return;
    }
    const { token, hmacSecret } = this.config;
    if (token !== undefined) {
      const header = request.headers.authorization ?? '';
      if (!header.startsWith('Bearer ') || !secureEquals(header.slice(7), token)) {
        context.stats.error('unauthorized');
        answer(response, 401, { error: 'missing or wrong bearer token' }, { 'WWW-Authenticate': 'Bearer' });
        return;
      }
    }
    if (context.stopped) {
      context.stats.error('refused_draining');
      this.refuse(response, 'shutting down');
      return;
    }
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > this.config.maxBody) {
      context.stats.error('body_too_large');
      this.tooLarge(response);
      return;
    }
    const slot = await context.acquire();
    if (slot === undefined) {
      context.stats.error('refused_draining');
      this.refuse(response, 'shutting down');
      return;
    }
    let body: Buffer;
    try {
      body = method === 'GET' ? queryAsJson(query) : await readBody(request, this.config.maxBody);
    } catch (error) {
      slot.release();
      if (error instanceof BodyTooLarge) {
        context.stats.error('body_too_large');
        this.tooLarge(response);
      } else {
        context.stats.error('request_aborted');
        response.destroy();
      }
      return;
    }
    if (hmacSecret !== undefined) {
      const signature = String(request.headers['x-signature-256'] ?? '');
      const expected = `sha256=${createHmac('sha256', hmacSecret).update(body).digest('hex')}`;
      if (!secureEquals(signature, expected)) {
        context.stats.error('bad_signature');
        slot.release();
        answer(response, 401, { error: 'missing or wrong X-Signature-256 (sha256=<hex HMAC of the body>)' });
        return;
      }
    }
    const metadata: Record<string, string> = {};
    const headers = request.headers;
    for (const name in headers) {
      if (SOURCE_SKIPPED_HEADERS.has(name)) continue;
      const value = headers[name];
      if (value !== undefined) metadata[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    if (method === 'GET') metadata['content-type'] = 'application/json';
    const id = (headers['x-message-id'] as string | undefined) ?? (headers['idempotency-key'] as string | undefined) ?? randomUUID();
    const key = headers['x-message-key'] as string | undefined;
    slot.receive({ id, body, metadata, key }, response);
  }

  private refuse(response: Response, reason: string): void {
    answer(response, 503, { error: reason }, { 'Retry-After': '1', Connection: 'close' });
  }

  private tooLarge(response: Response): void {
    answer(response, 413, { error: `body larger than HTTP_MAX_BODY (${this.config.maxBody} bytes)` }, { Connection: 'close' });
  }

  ack(response: Response): void {
    if (!response.headersSent) response.writeHead(200, OK_HEADERS).end(OK_BODY);
  }

  nack(response: Response, error: Error): void {
    if (!response.headersSent) {
      answer(response, 503, { status: 'failed', error: error.message }, { 'Retry-After': '1' });
    }
  }

  close(): Promise<void> {
    const server = this.server;
    this.listening = false;
    if (server === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const force = setTimeout(() => server.closeAllConnections(), 2000);
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    });
  }
}

/** The HTTP sink: POST (or `HTTP_SINK_METHOD`) each message; 2xx acks, 429/5xx/network errors retry, other 4xx fail. */
export class HttpSink implements SinkDriver {
  readonly scheme: string;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly origin: string;

  constructor(
    url: URL,
    connections: number,
    private readonly method: 'POST' | 'PUT',
    timeoutMs: number,
  ) {
    this.scheme = url.protocol.replace(':', '');
    this.origin = url.origin;
    this.path = url.pathname + url.search;
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
    const headers: Record<string, string> = {
      'content-type': message.metadata['content-type'] ?? 'application/octet-stream',
      'x-message-id': message.id,
    };
    if (message.key !== undefined) headers['x-message-key'] = message.key;
    const metadata = message.metadata;
    for (const name in metadata) {
      const lower = name.toLowerCase();
      if (SINK_SKIPPED_HEADERS.has(lower) || !HEADER_NAME.test(name)) continue;
      const value = metadata[name];
      if (HEADER_VALUE.test(value)) headers[lower] = value;
    }
    let statusCode: number;
    let retryAfter: string | string[] | undefined;
    try {
      const response = await this.pool.request({ path: this.path, method: this.method, headers, body: message.body });
      statusCode = response.statusCode;
      retryAfter = response.headers['retry-after'];
      await response.body.dump();
    } catch (error) {
      throw new ConnectorError((error as Error).message, { scheme: this.scheme, host: this.origin, cause: error });
    }
    if (statusCode >= 200 && statusCode < 300) return;
    if (statusCode === 429 || statusCode >= 500 || statusCode === 408) {
      const error = new ConnectorError(`answered ${statusCode}`, { scheme: this.scheme, host: this.origin });
      const seconds = Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
      if (Number.isFinite(seconds) && seconds >= 0) {
        (error as ConnectorError & { retryAfterMs: number }).retryAfterMs = Math.min(seconds * 1000, 60_000);
      }
      throw error;
    }
    throw new PermanentError(`${this.scheme} (${this.origin}): answered ${statusCode}; not retrying a client error`);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

function sinkConcurrency(options: SinkOptions): number {
  return Math.max(1, options.concurrency ?? 32);
}

registerScheme({
  schemes: ['http', 'https'],
  description:
    'HTTP: as a source, a webhook endpoint (POST/PUT relay the body, GET relays the query as JSON; answered after settlement); as a sink, POST to the URL',
  sourceExample: 'http://:9000/events',
  sinkExample: 'http://example.com:9000/webhook',
  sourceParams: [],
  openSource: (uri, options) => new HttpSource(sourceConfig(uri, options), uri.scheme),
  openSink: (uri, options) => {
    if (uri.anyHost) {
      throw new ConfigError(`an HTTP sink needs a host to send to, for example http://localhost:9000/events`, {
        variable: uri.variable,
      });
    }
    const env = options.env ?? process.env;
    const method = (env.HTTP_SINK_METHOD ?? 'POST').toUpperCase();
    if (method !== 'POST' && method !== 'PUT') {
      throw new ConfigError(`'${method}' is not a method the sink can use; use POST or PUT`, { variable: 'HTTP_SINK_METHOD' });
    }
    const timeout = parseDuration(env.HTTP_SINK_TIMEOUT ?? '30s', 'HTTP_SINK_TIMEOUT');
    return new HttpSink(uri.url, sinkConcurrency(options), method, timeout);
  },
  sinkDefaults: { concurrency: 32 },
});
