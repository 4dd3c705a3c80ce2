// The HTTP source's settings: from the URI and the environment (the bin), or from httpSource()'s options (an app),
// validated once at start-up so that a bad value stops the bin with exit 2 and a line naming the variable.
import { ConfigError } from '../../errors';
import { parseDuration, parseInteger, parseSize } from '../../config';
import { parseRate } from '../../tokenBucket';
import { readTlsFiles } from '../../security/tls';
import type { EndpointUri } from '../../registry';

export const DEFAULT_MAX_BODY = 1024 * 1024;
/** How long a request body may take to arrive once the source reads it (HTTP_BODY_TIMEOUT). */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;
/** Most requests whose body is read before its HMAC signature can be checked (HTTP_MAX_UNVERIFIED). */
export const DEFAULT_MAX_UNVERIFIED = 256;

/** What the request handling needs, wherever the requests come from (its own listener or an express app). */
export interface IntakeConfig {
  maxBody: number;
  bodyTimeoutMs: number;
  maxUnverified: number;
  token?: string;
  hmacSecret?: string;
  /** Requests let through per second, and at once after a quiet spell (HTTP_RATE_LIMIT, HTTP_RATE_BURST). */
  rate?: { perSecond: number; burst: number };
}

/** The intake settings that can come from options (httpSource) or from variables (the bin); options win. */
export interface IntakeSettings {
  /** Largest body (bytes or `512kb`); `413` above it. Default HTTP_MAX_BODY, else 1mb. */
  maxBody?: number | string;
  /** The body must arrive within this (ms or `10s`) once the source reads it; `408` otherwise. Default 10s. */
  bodyTimeout?: number | string;
  /** Most requests read at once before their signature is checked (only with an HMAC secret). Default 256. */
  maxUnverified?: number;
  /** Require `Authorization: Bearer <token>`. Default HTTP_SOURCE_TOKEN. */
  token?: string;
  /** Require `X-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. Default HTTP_SOURCE_HMAC_SECRET. */
  hmacSecret?: string;
  /** Requests per period, like `500/s`; over it, `429` with Retry-After. Default HTTP_RATE_LIMIT (none). */
  rateLimit?: string;
  /** Requests let through at once after a quiet spell. Default HTTP_RATE_BURST, else the count of `rateLimit`. */
  rateBurst?: number;
}

export function intakeConfig(settings: IntakeSettings, env: NodeJS.ProcessEnv): IntakeConfig {
  const pick = <T>(option: T | undefined, variable: string): T | string | undefined =>
    option !== undefined ? option : env[variable] !== undefined && env[variable] !== '' ? env[variable] : undefined;
  const maxBody = pick(settings.maxBody, 'HTTP_MAX_BODY');
  const bodyTimeout = pick(settings.bodyTimeout, 'HTTP_BODY_TIMEOUT');
  const maxUnverified = pick(settings.maxUnverified, 'HTTP_MAX_UNVERIFIED');
  const config: IntakeConfig = {
    maxBody: maxBody === undefined ? DEFAULT_MAX_BODY : parseSize(maxBody, 'HTTP_MAX_BODY'),
    bodyTimeoutMs: bodyTimeout === undefined ? DEFAULT_BODY_TIMEOUT_MS : parseDuration(bodyTimeout, 'HTTP_BODY_TIMEOUT'),
    maxUnverified: maxUnverified === undefined ? DEFAULT_MAX_UNVERIFIED : parseInteger(maxUnverified, 'HTTP_MAX_UNVERIFIED', 1),
    token: pick<string>(settings.token, 'HTTP_SOURCE_TOKEN') || undefined,
    hmacSecret: pick<string>(settings.hmacSecret, 'HTTP_SOURCE_HMAC_SECRET') || undefined,
  };
  if (config.bodyTimeoutMs <= 0) {
    throw new ConfigError(`a body timeout of 0 would let one slow sender hold a request for ever; use a value like 10s`, {
      variable: 'HTTP_BODY_TIMEOUT',
    });
  }
  const rateLimit = pick<string>(settings.rateLimit, 'HTTP_RATE_LIMIT');
  const rateBurst = pick(settings.rateBurst, 'HTTP_RATE_BURST');
  if (rateLimit !== undefined) {
    const rate = parseRate(rateLimit, 'HTTP_RATE_LIMIT');
    const burst = rateBurst === undefined ? Math.max(1, Math.ceil(rate.count)) : parseInteger(rateBurst, 'HTTP_RATE_BURST', 1);
    config.rate = { perSecond: rate.perSecond, burst };
  } else if (rateBurst !== undefined) {
    throw new ConfigError('HTTP_RATE_BURST needs HTTP_RATE_LIMIT (for example HTTP_RATE_LIMIT=500/s)', { variable: 'HTTP_RATE_BURST' });
  }
  return config;
}

/** The node:http listener's settings: where to listen, TLS, and the intake. */
export interface ListenerConfig {
  host: string;
  port: number;
  path: string;
  tls?: { cert: Buffer; key: Buffer };
  intake: IntakeConfig;
}

export function listenerConfig(uri: EndpointUri, env: NodeJS.ProcessEnv): ListenerConfig {
  const port = uri.url.port === '' ? (uri.scheme === 'https' ? 443 : 80) : Number(uri.url.port);
  const config: ListenerConfig = {
    host: uri.anyHost ? '0.0.0.0' : uri.url.hostname.replace(/^\[|\]$/g, ''),
    port,
    path: uri.url.pathname || '/',
    intake: intakeConfig({}, env),
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
