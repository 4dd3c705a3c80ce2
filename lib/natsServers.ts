// NATS_SERVER_URL as the seed README writes it (`0.0.0.0:4222`, `nats://nats.example.com`, a comma-separated list),
// turned into nats.js connection options. Shared by everything that connects to NATS (the connector, nats-kv://).
import { ConfigError } from './errors';

export const NATS_SERVER_URL = 'NATS_SERVER_URL';
/** Used when NATS_SERVER_URL is not set, like the nats CLI and nats.js. */
export const DEFAULT_NATS_SERVER = 'nats://127.0.0.1:4222';

/** What nats.js `connect()` needs from NATS_SERVER_URL. */
export interface NatsServerOptions {
  /** `host:port` entries (IPv6 hosts in brackets), in the order given. */
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  /** True for `tls://` entries: the connection must use TLS. */
  tls: boolean;
  /** The servers for logs and error messages, credentials left out. */
  description: string;
}

const SCHEMES = new Set(['nats', 'tls']);
const EXAMPLE = 'NATS_SERVER_URL=nats://127.0.0.1:4222 (or 0.0.0.0:4222, or nats://a:4222,nats://b:4222)';

/**
 * Parses NATS_SERVER_URL. Accepts entries with or without a scheme (`nats://`, `tls://`), separated by commas or
 * spaces; `user:pass@` or `token@` credentials; a missing port means 4222. A listen address (`0.0.0.0`, `[::]`),
 * as in the seed README, means this machine, so it is dialled as 127.0.0.1 / [::1].
 */
export function parseNatsServers(value: string | undefined, variable = NATS_SERVER_URL): NatsServerOptions {
  const text = value === undefined || value.trim() === '' ? DEFAULT_NATS_SERVER : value.trim();
  const entries = text.split(/[\s,]+/).filter((entry) => entry !== '');
  const servers: string[] = [];
  let user: string | undefined;
  let pass: string | undefined;
  let token: string | undefined;
  let tls = false;
  for (const entry of entries) {
    const withScheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(entry) ? entry : `nats://${entry}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch (error) {
      throw new ConfigError(`'${entry}' is not a NATS server address; for example ${EXAMPLE}`, { variable, cause: error });
    }
    const scheme = url.protocol.replace(/:$/, '').toLowerCase();
    if (!SCHEMES.has(scheme)) {
      throw new ConfigError(`'${entry}': the scheme must be nats:// or tls://, not ${scheme}://; for example ${EXAMPLE}`, {
        variable,
      });
    }
    if (url.hostname === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '') {
      throw new ConfigError(`'${entry}' must be host[:port] with no path or query; for example ${EXAMPLE}`, { variable });
    }
    if (scheme === 'tls') tls = true;
    const entryUser = url.username === '' ? undefined : decodeURIComponent(url.username);
    const entryPass = url.password === '' ? undefined : decodeURIComponent(url.password);
    if (entryUser !== undefined && entryPass === undefined) {
      // `nats://s3cr3t@host` is a token, as in the nats CLI
      if (token !== undefined && token !== entryUser) throw conflictingCredentials(variable);
      token = entryUser;
    } else if (entryUser !== undefined || entryPass !== undefined) {
      if ((user !== undefined && user !== entryUser) || (pass !== undefined && pass !== entryPass)) {
        throw conflictingCredentials(variable);
      }
      user = entryUser;
      pass = entryPass;
    }
    let host = url.hostname;
    if (host === '0.0.0.0') host = '127.0.0.1';
    else if (host === '[::]') host = '[::1]';
    servers.push(`${host}:${url.port === '' ? '4222' : url.port}`);
  }
  if (token !== undefined && user !== undefined) throw conflictingCredentials(variable);
  return {
    servers,
    ...(user !== undefined ? { user } : {}),
    ...(pass !== undefined ? { pass } : {}),
    ...(token !== undefined ? { token } : {}),
    tls,
    description: servers.map((server) => `${tls ? 'tls' : 'nats'}://${server}`).join(','),
  };
}

function conflictingCredentials(variable: string): ConfigError {
  return new ConfigError('the servers carry different credentials; give the same user:pass@ (or token@) to every entry', {
    variable,
  });
}
