// The admin server: /ping (liveness), /ready (readiness: the source, every sink and the cache connected) and /metrics
// (Prometheus text), on 127.0.0.1 unless told otherwise, optionally over TLS. Readiness is built on the `ready`
// getters of the drivers and the cache, so that every connector shows up without more work.
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { FanOutSink } from '../fanOut';
import type { Sink } from '../sink';
import { pipelineParts, type RunningPipeline, type PipelineState } from '../run';
import type { Cache } from '../cache/types';
import { ConnectorError } from '../errors';
import { metricsText, METRICS_CONTENT_TYPE } from '../metrics';
import { rootLogger, type Logger } from '../logging/logger';
import { Redactor, secretsFromEnv } from '../security/redact';

export const DEFAULT_ADMIN_PORT = 4195;
export const DEFAULT_ADMIN_HOST = '127.0.0.1';

/** One component of the pipeline and whether it is connected. */
export interface ReadinessCheck {
  role: 'pipeline' | 'source' | 'sink' | 'dead_letter' | 'cache';
  name: string;
  ready: boolean;
  /** Why it is not ready. */
  reason?: string;
  /** With WORKERS=N: the worker (1..N) whose component this is. */
  worker?: number;
}

/** What /ready answers: ready only when every check is. */
export interface ReadinessReport {
  ready: boolean;
  state: PipelineState;
  /** The checks that failed (empty when ready). */
  notReady: ReadinessCheck[];
  checks: ReadinessCheck[];
}

function sinkChecks(sink: Sink, role: 'sink' | 'dead_letter'): ReadinessCheck[] {
  if (sink instanceof FanOutSink) return sink.sinks.flatMap((inner) => sinkChecks(inner, role));
  const ready = sink.ready;
  return [{ role, name: sink.name, ready, ...(ready ? {} : { reason: 'not connected' }) }];
}

/**
 * Whether `running` can do its work now: it is running (not starting, draining or stopped), every source is started
 * and connected, every sink and the dead letter are connected, and so is `cache` when one is given.
 */
export function pipelineReadiness(running: RunningPipeline, options: { cache?: Cache } = {}): ReadinessReport {
  const state = running.state;
  const checks: ReadinessCheck[] = [];
  checks.push({ role: 'pipeline', name: 'pipeline', ready: state === 'running', ...(state === 'running' ? {} : { reason: state }) });
  for (const source of running.sources) {
    const ready = source.ready;
    checks.push({ role: 'source', name: source.name, ready, ...(ready ? {} : { reason: 'not connected' }) });
  }
  const { sink, deadLetter } = pipelineParts(running);
  checks.push(...sinkChecks(sink, 'sink'));
  if (deadLetter !== undefined) checks.push(...sinkChecks(deadLetter, 'dead_letter'));
  if (options.cache !== undefined) {
    const ready = options.cache.ready ?? true;
    checks.push({ role: 'cache', name: options.cache.name, ready, ...(ready ? {} : { reason: 'not connected' }) });
  }
  const notReady = checks.filter((check) => !check.ready);
  return { ready: notReady.length === 0, state, notReady, checks };
}

export interface AdminServerOptions {
  /** 0 picks a free port (see `port` on the result). */
  port: number;
  /** Default 127.0.0.1: only this machine. `0.0.0.0` for every interface (a container's probes need it). */
  host?: string;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: Buffer; key: Buffer };
  /** What /ready reports; without it /ready answers 200 while the process runs. */
  readiness?: () => ReadinessReport | Promise<ReadinessReport>;
  /** What /metrics serves (Prometheus text); default this process's registry (metricsText()). */
  metrics?: () => Promise<string>;
  logger?: Logger;
  /** Where secrets to scrub from answers are found. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * When set, /metrics and the details of /ready need `Authorization: Bearer <token>`. /ping and the status of /ready
   * (200 or 503, with `ready` and `state` only) stay open, so that probes that cannot send a header still work.
   */
  token?: string;
}

export interface AdminServer {
  /** `http://127.0.0.1:4195` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const ENDPOINTS = ['/ping', '/ready', '/metrics'];

/** Compares a request's Authorization header with the token in constant time (hashes first: equal lengths). */
function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  // the scheme is case-insensitive (RFC 7235)
  const match = /^bearer +(.+)$/i.exec(header.trim());
  if (match === null) return false;
  const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(match[1]), digest(token));
}

/** Loopback addresses and names: reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^(?:::ffff:)?127(?:\.\d{1,3}){3}$/.test(bare);
}

/**
 * Starts the admin server. Rejects with a ConnectorError (scheme `admin`) when the port is taken or the address is
 * not on this machine.
 *
 * @example
 * const running = start(source('http://:9000/events'), sink('stdout://'));
 * const admin = await startAdminServer({ port: 4195, readiness: () => pipelineReadiness(running) });
 */
export function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const host = options.host ?? DEFAULT_ADMIN_HOST;
  const logger = (options.logger ?? rootLogger()).child({ component: 'admin' });
  const redactor = new Redactor(secretsFromEnv(options.env ?? process.env));
  const scheme = options.tls ? 'https' : 'http';

  const send = (response: http.ServerResponse, status: number, type: string, body: string, head: boolean): void => {
    const text = redactor.redact(body);
    response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    response.end(head ? undefined : text);
  };
  const json = (response: http.ServerResponse, status: number, value: unknown, head: boolean): void =>
    send(response, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`, head);

  const handle = async (request: http.IncomingMessage, response: http.ServerResponse): Promise<void> => {
    const method = request.method ?? 'GET';
    const path = (request.url ?? '/').split('?')[0];
    if (!ENDPOINTS.includes(path)) {
      json(response, 404, { error: `no such endpoint; use ${ENDPOINTS.join(', ')}` }, method === 'HEAD');
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      json(response, 405, { error: `method ${method} not allowed; use GET` }, false);
      return;
    }
    const head = method === 'HEAD';
    const authorized = options.token === undefined || bearerMatches(request.headers.authorization, options.token);
    if (path === '/ping') {
      send(response, 200, 'text/plain; charset=utf-8', 'pong\n', head);
    } else if (path === '/ready') {
      if (options.readiness === undefined) {
        json(response, 200, { ready: true }, head);
        return;
      }
      const report = await options.readiness();
      // without the token, the status only: a probe needs no more, and the names of the endpoints stay private
      json(response, report.ready ? 200 : 503, authorized ? report : { ready: report.ready, state: report.state }, head);
    } else if (!authorized) {
      response.setHeader('www-authenticate', 'Bearer realm="wasm-pipes admin"');
      json(response, 401, { error: 'missing or wrong token; send Authorization: Bearer <ADMIN_TOKEN>' }, head);
    } else {
      send(response, 200, METRICS_CONTENT_TYPE, await (options.metrics ?? metricsText)(), head);
    }
  };

  const listener = (request: http.IncomingMessage, response: http.ServerResponse): void => {
    handle(request, response).catch((error: unknown) => {
      logger.error({ err: error }, 'the admin server failed to answer');
      if (!response.headersSent) json(response, 500, { error: 'internal error; see the log' }, false);
      else response.destroy();
    });
  };
  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, listener) : http.createServer(listener);
  // a probe answers at once; nothing here reads a body, so slow clients get little rope
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.maxHeadersCount = 100;

  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const where = `${host}:${options.port}`;
      const message =
        error.code === 'EADDRINUSE'
          ? `port ${options.port} is already in use; set ADMIN_PORT to a free port (for example ADMIN_PORT=${options.port + 1}), or ADMIN_PORT=0 to turn the admin server off`
          : error.code === 'EADDRNOTAVAIL'
            ? `${host} is not an address of this machine; set ADMIN_HOST to one, for example ADMIN_HOST=127.0.0.1`
            : error.message;
      reject(new ConnectorError(message, { scheme: 'admin', host: where, cause: error, retryable: false }));
    };
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      server.on('error', (error) => logger.error({ err: error }, 'admin server error'));
      const address = server.address() as AddressInfo;
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      const url = `${scheme}://${shownHost}:${address.port}`;
      const auth = options.token === undefined ? '' : '; /metrics and the details of /ready need the token';
      logger.info(
        { url, endpoints: ENDPOINTS, tokenRequired: options.token !== undefined },
        `admin server listening on ${url} (${ENDPOINTS.join(', ')}${auth})`,
      );
      resolve({
        url,
        port: address.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
