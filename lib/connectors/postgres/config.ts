// Reads a postgres:// URI (and the PG* variables libpq users know) into the connection settings and the table of
// the sink or the outbox source. Nothing here connects.
import fs from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { EndpointUri } from '../../registry';
import { ConfigError } from '../../errors';
import { parseDuration, parseInteger, MAX_TIMER_MS } from '../../config';

export const SCHEME = 'postgres';
const EXAMPLE = 'postgres://relay@db.example.com:5432/shop/outbox';

/** What pg's Client and Pool take, built from the URI (never from pg's own reading of process.env). */
export interface PgConnection {
  host: string;
  port: number;
  user?: string;
  password?: string;
  database?: string;
  ssl?: ConnectionOptions | false;
  connectionTimeoutMillis: number;
  /** Sent as application_name, so that a DBA sees who holds the connections. */
  application_name: string;
}

/** A table named by the URI, quoted for SQL and readable for messages. */
export interface PgTable {
  /** `"schema"."table"` or `"table"`, safe to paste into SQL. */
  readonly sql: string;
  /** As the user wrote it (schema.table), for messages. */
  readonly name: string;
  /** The unqualified name, the default NOTIFY channel. */
  readonly bare: string;
}

export interface PgSettings {
  connection: PgConnection;
  table: PgTable;
  /** host:port, for errors. */
  host: string;
  /** The URI's variable (SOURCE_URI, SINK_URI), for ConfigErrors raised at start. */
  variable: string;
}

/** Identifiers we quote as they are written: letters, digits, _ and $, not starting with a digit. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

function quote(identifier: string): string {
  return `"${identifier}"`;
}

export function parseTable(text: string, variable: string): PgTable {
  const parts = text.split('.');
  if (parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new ConfigError(
      `'${text}' is not a table name: write table or schema.table, each a letter or _ followed by letters, digits or _ ` +
        `(names are used as written, case included), for example ${EXAMPLE}`,
      { variable },
    );
  }
  return { sql: parts.map(quote).join('.'), name: text, bare: parts[parts.length - 1] };
}

/** The first of the values that is set and not empty. */
function first(...values: (string | undefined)[]): string | undefined {
  return values.find((value) => value !== undefined && value !== '');
}

function sslOptions(uri: EndpointUri): ConnectionOptions | false {
  const mode = (uri.params.get('sslmode') ?? 'disable').toLowerCase();
  if (mode === 'disable') return false;
  if (mode === 'require') return { rejectUnauthorized: false };
  if (mode === 'verify-ca' || mode === 'verify-full') {
    const rootCert = uri.params.get('sslrootcert');
    if (rootCert === undefined) return { rejectUnauthorized: true };
    try {
      return { rejectUnauthorized: true, ca: fs.readFileSync(rootCert, 'utf8') };
    } catch (error) {
      throw new ConfigError(
        `sslrootcert '${rootCert}' cannot be read (${(error as Error).message}); give the path of the server's CA certificate (PEM)`,
        {
          variable: uri.variable,
          cause: error,
        },
      );
    }
  }
  throw new ConfigError(
    `sslmode='${mode}' is not one of disable, require, verify-ca, verify-full (for example ${EXAMPLE}?sslmode=verify-full)`,
    {
      variable: uri.variable,
    },
  );
}

/**
 * postgres://[user[:password]@]host[:port]/[database/]table. Missing parts come from PGHOST, PGPORT, PGUSER,
 * PGPASSWORD and PGDATABASE of `env`, as libpq's own tools read them.
 */
export function parsePgUri(uri: EndpointUri, env: NodeJS.ProcessEnv): PgSettings {
  const segments = uri.url.pathname
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => decodeURIComponent(segment));
  if (segments.length === 0 || segments.length > 2) {
    throw new ConfigError(`'${uri.raw}' does not name a table: write postgres://user@host:port/database/table, for example ${EXAMPLE}`, {
      variable: uri.variable,
    });
  }
  const table = parseTable(segments[segments.length - 1], uri.variable);
  const database = segments.length === 2 ? segments[0] : first(env.PGDATABASE);
  const host = first(decodeURIComponent(uri.url.hostname), env.PGHOST) ?? 'localhost';
  const portText = first(uri.url.port, env.PGPORT) ?? '5432';
  const port = parseInteger(portText, `${uri.variable} port`, 1, 65_535);
  const user = first(decodeURIComponent(uri.url.username), env.PGUSER);
  const password = first(decodeURIComponent(uri.url.password), env.PGPASSWORD);
  const connectTimeout = parseDuration(uri.params.get('connect_timeout') ?? '10s', `${uri.variable} connect_timeout`, MAX_TIMER_MS);
  return {
    connection: {
      host,
      port,
      ...(user !== undefined ? { user } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(database !== undefined ? { database } : {}),
      ssl: sslOptions(uri),
      connectionTimeoutMillis: Math.max(1, connectTimeout),
      application_name: 'wasm-pipes',
    },
    table,
    host: `${host}:${port}`,
    variable: uri.variable,
  };
}

/** A duration parameter in ms, at least `min` ms. */
export function durationParam(uri: EndpointUri, name: string, fallback: string, min: number): number {
  const text = uri.params.get(name) ?? fallback;
  const ms = parseDuration(text, `${uri.variable} ${name}`, MAX_TIMER_MS);
  if (ms < min) {
    throw new ConfigError(`${name}=${text} is too short: use ${min} ms or more (for example ${name}=${fallback})`, {
      variable: uri.variable,
    });
  }
  return ms;
}

export function integerParam(uri: EndpointUri, name: string, fallback: number, min: number, max: number): number {
  const text = uri.params.get(name);
  return text === undefined ? fallback : parseInteger(text, `${uri.variable} ${name}`, min, max);
}
