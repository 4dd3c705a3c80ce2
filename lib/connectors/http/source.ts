// The webhook source, two ways in: http:// and https:// URIs listen with node:http (the bin, `source(uri)`), and
// httpSource() gives a request handler to mount in an app of the user's own (express 5, or node:http). Both answer
// each request only once its message is settled: 200 when every sink confirmed it, 503 when it was nacked or timed out
// (so the caller retries). The request handling itself is in intake.ts.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Observable } from 'rxjs';
import { createSource } from '../../source';
import type { SourceContext, SourceDriver, SourceOptions } from '../../source';
import type { Message } from '../../message';
import { ConfigError, ConnectorError } from '../../errors';
import { intakeConfig, type IntakeConfig, type IntakeSettings, type ListenerConfig } from './config';
import { HttpIntake, type Response, answer, answerAcked, answerNacked, splitUrl } from './intake';

/** After the drain, how long the listener goes on answering (503) before it closes, at most. */
const CLOSE_GRACE_MS = 2000;
/** Nothing arrived for this long: clients have gone quiet, closing can no longer cut a request in transit. */
const QUIET_MS = 250;

/** Whether `requestPath` is `path`, with or without a trailing slash (like express's non-strict routing). */
function samePath(requestPath: string, path: string): boolean {
  if (requestPath === path) return true;
  return path.endsWith('/') ? requestPath === path.slice(0, -1) : requestPath === `${path}/`;
}

/** What the listener knows of one connection, to close it only when no request can be on its way. */
interface Connection {
  requests: number;
}

/** http:// and https:// as a source: a node:http(s) listener on the URI's host, port and path. */
export class HttpSource implements SourceDriver<Response> {
  readonly scheme: string;
  private server: http.Server | undefined;
  private listening = false;
  private intake: HttpIntake | undefined;
  private context: SourceContext<Response> | undefined;
  private readonly connections = new Map<net.Socket, Connection>();
  /** When the last connection arrived or the last request ended: the listener closes once this is 250 ms old. */
  private lastActivityAt = 0;

  constructor(
    private readonly config: ListenerConfig,
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
    const { path, intake: intakeSettings } = this.config;
    const intake = new HttpIntake(intakeSettings, context);
    this.intake = intake;
    this.context = context;
    const handler = (request: http.IncomingMessage, response: Response): void => {
      const connection = this.connections.get(request.socket);
      if (connection !== undefined) {
        connection.requests++;
        response.once('close', () => {
          connection.requests--;
          this.lastActivityAt = Date.now();
        });
      }
      const [requestPath, query] = splitUrl(request.url ?? '/');
      if (!samePath(requestPath, path)) {
        answer(response, 404, { error: `not found; POST, PUT or GET ${path}` }, context.stopped ? { Connection: 'close' } : undefined);
        return;
      }
      intake.handle(request, response, query);
    };
    // the headers must arrive within the body timeout too (Node's own 60 s would let a slow sender sit for a minute);
    // the body's own timer replaces Node's request timeout, which would also cut requests waiting for credit
    const headersTimeout = Math.min(60_000, intakeSettings.bodyTimeoutMs);
    const options: http.ServerOptions = {
      headersTimeout,
      requestTimeout: 0,
      connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(headersTimeout / 4))),
    };
    const server = this.config.tls ? https.createServer({ ...options, ...this.config.tls }, handler) : http.createServer(options, handler);
    server.on('connection', (socket: net.Socket) => {
      this.connections.set(socket, { requests: 0 });
      this.lastActivityAt = Date.now();
      socket.once('close', () => this.connections.delete(socket));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        const hint =
          error.code === 'EADDRINUSE'
            ? `port ${this.config.port} is already in use; choose another port in SOURCE_URI, for example http://:${this.config.port + 1}${path}`
            : error.message;
        reject(
          new ConnectorError(hint, {
            scheme: this.scheme,
            host: `${this.config.host}:${this.config.port}`,
            cause: error,
            retryable: false,
          }),
        );
      };
      server.once('error', onError);
      server.listen(this.config.port, this.config.host, () => {
        server.off('error', onError);
        this.listening = true;
        const address = server.address() as AddressInfo;
        context.logger.info(
          { host: address.address, port: address.port, path, auth: intake.auth },
          `listening on ${this.scheme}://${address.address}:${address.port}${path}`,
        );
        resolve();
      });
    });
  }

  ack(response: Response): void {
    answerAcked(response, this.context?.stopped ?? false);
  }

  nack(response: Response, error: Error): void {
    answerNacked(response, error, this.context?.stopped ?? false);
  }

  /**
   * Closes the listener without resetting connections. Since the drain began every answer says `Connection: close`,
   * and each request, on a kept-alive connection or a new one, gets 503 with Retry-After. Closing a connection that a
   * client is about to use would cut its request off, and closing the port resets the connections still waiting to be
   * accepted, so the listener keeps answering until nothing has arrived for 250 ms (clients that honour Retry-After
   * have gone quiet; at most 2 s), then stops accepting and closes the idle connections.
   */
  async close(): Promise<void> {
    const server = this.server;
    this.listening = false;
    this.intake?.close();
    if (server === undefined || !server.listening) return;
    const deadline = Date.now() + CLOSE_GRACE_MS;
    const busy = (): boolean => {
      if (Date.now() - this.lastActivityAt < QUIET_MS) return true;
      for (const connection of this.connections.values()) if (connection.requests > 0) return true;
      return false;
    };
    while (busy() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
    // http's close() stops accepting, closes the idle connections and stops Node's timeout checks; connections still
    // busy (only past the deadline) get 500 ms more to finish
    server.close();
    const force = setTimeout(() => server.closeAllConnections(), 500);
    await closed;
    clearTimeout(force);
  }
}

/** A request handler for node:http or express 5: `(request, response, next?)`. */
export type HttpRequestHandler = (request: http.IncomingMessage, response: http.ServerResponse, next?: (error?: unknown) => void) => void;

/** What httpSource() returns: a source (cold Observable) whose requests come through `handler`. */
export interface HttpSourceObservable extends Observable<Message> {
  /**
   * The request handler to mount in an app: `app.post('/hooks', hooks.handler)` or `app.use(hooks.handler)` with the
   * `path` option. It answers 503 while the source is not subscribed (the pipeline is not running).
   */
  readonly handler: HttpRequestHandler;
}

export interface HttpSourceOptions extends SourceOptions, IntakeSettings {
  /**
   * Handle only requests for this path (with or without a trailing slash), passing others to `next()` (404 without
   * one). Leave it out when the app's router already chose the requests (`app.post('/hooks', handler)`).
   */
  path?: string;
}

/** The driver behind httpSource(): no listener of its own; the app's requests come in through the handler. */
class HttpHandlerSource implements SourceDriver<Response> {
  readonly scheme = 'http';
  intake: HttpIntake | undefined;
  private context: SourceContext<Response> | undefined;

  constructor(
    private readonly config: IntakeConfig,
    private readonly claim: (driver: HttpHandlerSource | undefined, previous: HttpHandlerSource | undefined) => boolean,
  ) {}

  get ready(): boolean {
    return this.intake !== undefined;
  }

  start(context: SourceContext<Response>): void {
    if (!this.claim(this, undefined)) {
      throw new ConfigError(
        'this httpSource() is already subscribed: its handler feeds one pipeline at a time; call httpSource() again for another',
      );
    }
    this.context = context;
    this.intake = new HttpIntake(this.config, context);
  }

  ack(response: Response): void {
    answerAcked(response, this.context?.stopped ?? false);
  }

  nack(response: Response, error: Error): void {
    answerNacked(response, error, this.context?.stopped ?? false);
  }

  async close(): Promise<void> {
    this.intake?.close();
    this.intake = undefined;
    this.claim(undefined, this);
  }
}

/**
 * The webhook source as a request handler for an app of your own (express 5, or a plain node:http server), with the
 * same semantics as the `http://` source: each request is answered once its message is settled (200, or 503 when it
 * was nacked), the credit window (`maxInFlight`) holds requests back, and the token, HMAC signature, body limits and
 * rate limit apply. Settings come from the options, else from the same variables as the bin (HTTP_SOURCE_TOKEN,
 * HTTP_SOURCE_HMAC_SECRET, HTTP_MAX_BODY, HTTP_BODY_TIMEOUT, HTTP_MAX_UNVERIFIED, HTTP_RATE_LIMIT, HTTP_RATE_BURST) in
 * `env` (default process.env). Mount it before any body parser (or behind `express.raw()`): it reads the raw body.
 *
 * @example
 * const app = express();
 * const hooks = httpSource({ hmacSecret: process.env.HOOK_SECRET, maxInFlight: 256 });
 * app.post('/hooks/github', hooks.handler);
 * app.listen(8080);
 * await run(hooks.pipe(wasmTransform('./redact.wasm')), sink('nats://github.events'));
 */
export function httpSource(options: HttpSourceOptions = {}): HttpSourceObservable {
  const config = intakeConfig(options, options.env ?? process.env);
  const path = options.path;
  let active: HttpHandlerSource | undefined;
  const claim = (driver: HttpHandlerSource | undefined, previous: HttpHandlerSource | undefined): boolean => {
    if (driver !== undefined) {
      if (active !== undefined) return false;
      active = driver;
      return true;
    }
    if (active === previous) active = undefined;
    return true;
  };
  const open = (): HttpHandlerSource => new HttpHandlerSource(config, claim);
  const observable = createSource(`httpSource(${path ?? '*'})`, open, options);
  const handler: HttpRequestHandler = (request, response, next) => {
    const [requestPath, query] = splitUrl((request as { originalUrl?: string }).originalUrl ?? request.url ?? '/');
    if (path !== undefined && !samePath(requestPath, path)) {
      if (next !== undefined) next();
      else answer(response, 404, { error: `not found; POST, PUT or GET ${path}` });
      return;
    }
    const intake = active?.intake;
    if (intake === undefined) {
      answer(response, 503, { error: 'the pipeline of this webhook is not running' }, { 'Retry-After': '1' });
      return;
    }
    intake.handle(request, response, query);
  };
  return Object.assign(observable, { handler });
}
