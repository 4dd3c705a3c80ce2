// NATS_SERVER_URL and the NATS credentials variables -> the connection options of @nats-io/transport-node.
// Stands alone (only the client's types and its creds authenticator), so that every NATS user in the project
// (the nats:// connector, a NATS KV cache) reads the same variables the same way.
import fs from 'node:fs';
import type { ConnectionOptions, TlsOptions } from '@nats-io/transport-node';
import { ConfigError } from '../../errors';

export const DEFAULT_NATS_SERVER = '127.0.0.1:4222';
export const NATS_SERVER_URL = 'NATS_SERVER_URL';

/** One entry of NATS_SERVER_URL, normalized: `host:port` for nats.js, plus credentials found in the URL. */
export interface NatsServerEntry {
  /** `host:port` (IPv6 hosts in brackets). */
  hostPort: string;
  tls: boolean;
  user?: string;
  pass?: string;
  token?: string;
}

const EXAMPLE = 'for example 127.0.0.1:4222, nats://nats.example.com:4222 or nats://a:4222,nats://b:4222';

/**
 * Parses NATS_SERVER_URL: a comma-separated list of servers, each `host[:port]` without a scheme (the seed README's
 * `0.0.0.0:4222`) or `nats://`/`tls://` URLs, optionally with `user:password@` or `token@`.
 */
export function parseNatsServers(value: string, variable = 'NATS_SERVER_URL'): NatsServerEntry[] {
  const parts = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  if (parts.length === 0) throw new ConfigError(`no server given; ${EXAMPLE}`, { variable });
  return parts.map((part) => parseOne(part, variable));
}

function parseOne(part: string, variable: string): NatsServerEntry {
  const schemeMatch = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(part);
  const scheme = schemeMatch ? schemeMatch[1].toLowerCase() : 'nats';
  if (scheme !== 'nats' && scheme !== 'tls') {
    throw new ConfigError(`'${part}' has the scheme '${scheme}://'; a NATS server is nats://host:port or tls://host:port (${EXAMPLE})`, {
      variable,
    });
  }
  const rest = schemeMatch ? part.slice(schemeMatch[0].length) : part;
  let url: URL;
  try {
    // a special scheme, so that the host is parsed as a host (and a port checked as a port)
    url = new URL(`http://${rest}`);
  } catch (error) {
    throw new ConfigError(`'${part}' is not a server address; ${EXAMPLE}`, { variable, cause: error });
  }
  if (url.hostname === '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new ConfigError(`'${part}' is not a server address (host and port only); ${EXAMPLE}`, { variable });
  }
  // read the port from the text: the URL parser drops a port that is the http default (80)
  const port = /:(\d+)$/.exec(rest.replace(/^[^@]*@/, ''))?.[1] ?? '4222';
  // a listen address, as in the seed README's NATS_SERVER_URL=0.0.0.0:4222, means this machine
  const host = url.hostname === '0.0.0.0' ? '127.0.0.1' : url.hostname === '[::]' ? '[::1]' : url.hostname;
  const entry: NatsServerEntry = { hostPort: `${host}:${port}`, tls: scheme === 'tls' };
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  if (user !== '' && pass !== '') {
    entry.user = user;
    entry.pass = pass;
  } else if (user !== '') {
    entry.token = user;
  }
  return entry;
}

function readFile(file: string, variable: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read '${file}': ${(error as Error).message}`, { variable, cause: error });
  }
}

/**
 * The connection options for `env`: servers from NATS_SERVER_URL (default 127.0.0.1:4222), credentials from
 * NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS (a .creds file), TLS from tls:// or NATS_TLS_CA/CERT/KEY.
 * Reconnection is on and never gives up: a relay outlives broker restarts. Throws ConfigError for bad values.
 */
export function natsConnectionOptions(env: NodeJS.ProcessEnv = process.env, name = 'wasm-pipes'): ConnectionOptions {
  const text = env.NATS_SERVER_URL?.trim() || DEFAULT_NATS_SERVER;
  const entries = parseNatsServers(text);
  const options: ConnectionOptions = {
    servers: entries.map((entry) => entry.hostPort),
    name,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    reconnectJitter: 500,
    // credentials that stop working mid-run (a rotated token) are retried like any other failure
    ignoreAuthErrorAbort: true,
  };

  const withUrlAuth = entries.find((entry) => entry.user !== undefined || entry.token !== undefined);
  const user = env.NATS_USER?.trim() || withUrlAuth?.user;
  const pass = env.NATS_PASSWORD ?? withUrlAuth?.pass;
  const token = env.NATS_TOKEN?.trim() || withUrlAuth?.token;
  const creds = env.NATS_CREDS?.trim();
  const methods = [user !== undefined ? 'NATS_USER' : '', token !== undefined ? 'NATS_TOKEN' : '', creds ? 'NATS_CREDS' : ''].filter(
    Boolean,
  );
  if (methods.length > 1) {
    throw new ConfigError(
      `${methods.join(' and ')} are both set; use one way to authenticate (user and password, a token, or a creds file)`,
      {
        variable: methods[1],
      },
    );
  }
  if (user !== undefined) {
    if (pass === undefined || pass === '') {
      throw new ConfigError('NATS_USER needs NATS_PASSWORD too, for example NATS_USER=relay NATS_PASSWORD=secret', {
        variable: 'NATS_PASSWORD',
      });
    }
    options.user = user;
    options.pass = pass;
  } else if (env.NATS_PASSWORD !== undefined && env.NATS_PASSWORD !== '') {
    throw new ConfigError('NATS_PASSWORD is set without NATS_USER; set both, for example NATS_USER=relay NATS_PASSWORD=secret', {
      variable: 'NATS_USER',
    });
  }
  if (token !== undefined) options.token = token;
  if (creds) {
    const content = readFile(creds, 'NATS_CREDS');
    if (!content.includes('BEGIN NATS USER JWT') || !content.includes('BEGIN USER NKEY SEED')) {
      throw new ConfigError(
        `'${creds}' is not a NATS creds file (it needs a user JWT and an nkey seed, as \`nsc generate creds\` writes)`,
        {
          variable: 'NATS_CREDS',
        },
      );
    }

    const { credsAuthenticator } = require('@nats-io/transport-node') as typeof import('@nats-io/transport-node');
    options.authenticator = credsAuthenticator(new TextEncoder().encode(content));
  }

  const tlsFiles: [keyof TlsOptions, string][] = [
    ['ca', 'NATS_TLS_CA'],
    ['cert', 'NATS_TLS_CERT'],
    ['key', 'NATS_TLS_KEY'],
  ];
  const tls: TlsOptions = {};
  let tlsWanted = entries.some((entry) => entry.tls);
  for (const [field, variable] of tlsFiles) {
    const file = env[variable]?.trim();
    if (!file) continue;
    (tls as Record<string, string>)[field] = readFile(file, variable);
    tlsWanted = true;
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new ConfigError('a client certificate needs both NATS_TLS_CERT and NATS_TLS_KEY (PEM files)', {
      variable: tls.cert === undefined ? 'NATS_TLS_CERT' : 'NATS_TLS_KEY',
    });
  }
  if (tlsWanted) options.tls = tls;
  return options;
}

/** The servers of `options`, for messages and logs (never credentials). */
export function natsServersLabel(options: ConnectionOptions): string {
  const servers = options.servers;
  return Array.isArray(servers) ? servers.join(',') : (servers ?? DEFAULT_NATS_SERVER);
}
