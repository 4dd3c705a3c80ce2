// What the PostgreSQL sink and source share: the pool, the classification of errors by SQLSTATE (pg's own codes,
// never message text), and the start-up check of a table (it exists, its columns have usable types, we may use it).
import { Pool, type PoolClient } from 'pg';
import { ConfigError, ConnectorError, PermanentError, MissingResourceError } from '../../errors';
import { SCHEME, type PgSettings, type PgTable } from './config';

/** The SQLSTATE of a server error, or undefined for a network or client error. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Credentials refused: invalid_authorization_specification (28000) and invalid_password (28P01). */
export function isRefusedCredentials(error: unknown): boolean {
  const state = sqlState(error);
  return state === '28000' || state === '28P01';
}

/** What a value of one message did to a statement: data_exception (22), integrity (23), too large (54000). */
export function isDataError(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined && (state.startsWith('22') || state.startsWith('23') || state === '54000');
}

/**
 * A service failure as a ConnectorError naming the table and host. Retryable: connection failures (08, network
 * errors), a server shutting down or out of resources (57, 53), serialization failures and deadlocks (40). Not
 * retryable: a missing table or column (42P01, 42703), refused privileges (42501) and other statement errors.
 */
export function pgError(error: unknown, settings: PgSettings, doing: string): ConnectorError {
  const state = sqlState(error);
  const reason = (error as Error)?.message ?? String(error);
  const table = settings.table.name;
  let message = `${doing} ${table} failed: ${reason}`;
  let retryable = true;
  if (state === '42P01') {
    message = `table '${table}' does not exist (${reason}); create it with the SQL in docs/connectors/postgres.md`;
    retryable = false;
  } else if (state === '42501') {
    message = `permission denied on table '${table}' (${reason}); grant the user what it needs (see docs/connectors/postgres.md)`;
    retryable = false;
  } else if (state !== undefined && (state.startsWith('42') || state.startsWith('0A'))) {
    retryable = false;
  } else if (isRefusedCredentials(error)) {
    message = `the server refused the credentials (${reason}); check the user and password in the URI or PGUSER/PGPASSWORD`;
  }
  return new ConnectorError(message, { scheme: SCHEME, host: settings.host, retryable, cause: error });
}

/**
 * A pool of this URI's connections. A connection that fails (a server restart, a terminated backend, a held claim
 * ended by the server's idle-in-transaction timeout) is reported to `onError`, not thrown.
 *
 * The pool listens for the errors of its idle connections only: it removes its listener while a connection is taken.
 * A taken connection failing between two queries (a held claim) would then emit an 'error' no one hears, which ends
 * the process. So every connection has a listener of its own, which reports the failure once, idle or taken; the
 * pool's own 'error' event repeats it for idle connections and is ignored.
 */
export function createPool(settings: PgSettings, max: number, onError: (error: Error) => void): Pool {
  const pool = new Pool({ ...settings.connection, max, idleTimeoutMillis: 30_000, allowExitOnIdle: true });
  pool.on('connect', (client) => client.on('error', onError));
  pool.on('error', reportedByTheConnection);
  return pool;
}

function reportedByTheConnection(): void {}

/** The columns of a table, by name, with their types as SQL writes them (format_type). */
export interface TableShape {
  readonly columns: ReadonlyMap<string, string>;
  /** Columns with a unique index (or primary key) of their own. */
  readonly unique: ReadonlySet<string>;
}

const DESCRIBE = `
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
  EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisunique AND i.indnatts = 1
          AND i.indkey[0] = a.attnum AND i.indpred IS NULL) AS "unique"
FROM pg_attribute a
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`;

/**
 * Connects once and describes the table, turning what no retry fixes into ConfigErrors for the start (the bin exits
 * 2): refused credentials, a database or table that does not exist, a privilege missing. A server out of reach stays
 * a (retryable) ConnectorError.
 */
export async function checkTable(pool: Pool, settings: PgSettings, privileges: readonly string[]): Promise<TableShape> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    const variable = settings.variable;
    if (isRefusedCredentials(error)) {
      throw new ConfigError(
        `postgres (${settings.host}) refused the credentials of user '${settings.connection.user ?? '(default)'}' ` +
          `(${(error as Error).message}); check the user and password in the URI (postgres://user:password@host/...) or PGUSER/PGPASSWORD`,
        { variable, cause: error },
      );
    }
    if (sqlState(error) === '3D000') {
      throw new ConfigError(
        `postgres (${settings.host}): database '${settings.connection.database ?? ''}' does not exist (${(error as Error).message}); ` +
          `create it (createdb ${settings.connection.database ?? 'NAME'}) or name another in the URI (postgres://host/database/table)`,
        { variable, cause: error },
      );
    }
    throw new ConnectorError(`cannot connect (${(error as Error).message})`, { scheme: SCHEME, host: settings.host, cause: error });
  }
  try {
    const described = await client.query<{ name: string; type: string; unique: boolean }>(DESCRIBE, [settings.table.sql]);
    if (described.rows.length === 0) {
      throw new MissingResourceError(
        `table '${settings.table.name}' does not exist; create it with the SQL in docs/connectors/postgres.md ` +
          `(names are used as written: quote-free lower case matches an unquoted CREATE TABLE)`,
        { scheme: SCHEME, host: settings.host },
      );
    }
    const granted = await client.query<Record<string, boolean>>(
      `SELECT ${privileges.map((privilege, i) => `has_table_privilege(to_regclass($1), '${privilege}') AS p${i}`).join(', ')}`,
      [settings.table.sql],
    );
    const missing = privileges.filter((_, i) => granted.rows[0]?.[`p${i}`] !== true);
    if (missing.length > 0) {
      throw new ConfigError(
        `postgres (${settings.host}): user '${settings.connection.user ?? '(default)'}' lacks ${missing.join(', ')} on table ` +
          `'${settings.table.name}'; GRANT ${missing.join(', ')} ON ${settings.table.sql} TO <user>`,
        { variable: settings.variable },
      );
    }
    return {
      columns: new Map(described.rows.map((row) => [row.name, row.type])),
      unique: new Set(described.rows.filter((row) => row.unique).map((row) => row.name)),
    };
  } catch (error) {
    if (error instanceof ConfigError || error instanceof MissingResourceError) throw error;
    throw pgError(error, settings, 'describing');
  } finally {
    client.release();
  }
}

/** How a column carries message bytes. */
export type BodyEncoding = 'bytea' | 'text' | 'json';

/** The body column's encoding, or a ConfigError naming the types that work. */
export function bodyEncoding(shape: TableShape, table: PgTable, variable: string): BodyEncoding {
  const type = shape.columns.get('body');
  if (type === undefined) {
    throw new ConfigError(`table '${table.name}' has no column 'body'; see docs/connectors/postgres.md for the expected table`, {
      variable,
    });
  }
  if (type === 'bytea') return 'bytea';
  if (type === 'json' || type === 'jsonb') return 'json';
  if (type === 'text' || type.startsWith('character varying')) return 'text';
  throw new ConfigError(`column body of '${table.name}' is ${type}; use bytea (any bytes), text (UTF-8) or jsonb (JSON bodies)`, {
    variable,
  });
}

/** Checks that an optional column, when present, has one of `types`. */
export function checkColumnType(shape: TableShape, table: PgTable, column: string, types: readonly string[], variable: string): boolean {
  const type = shape.columns.get(column);
  if (type === undefined) return false;
  if (!types.some((allowed) => type === allowed || type.startsWith(`${allowed}(`))) {
    throw new ConfigError(`column ${column} of '${table.name}' is ${type}; use ${types.join(' or ')}`, { variable });
  }
  return true;
}

/** The body of a message as the column takes it; a PermanentError when it cannot (not UTF-8, not JSON). */
export function encodeBody(body: Buffer, encoding: BodyEncoding): Buffer | string | PermanentError {
  if (encoding === 'bytea') return body;
  const text = body.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(body) || text.includes('\u0000')) {
    return new PermanentError(
      `the body is not text a ${encoding} column can hold (not UTF-8, or it contains NUL); use a bytea body column`,
    );
  }
  if (encoding === 'json') {
    try {
      JSON.parse(text);
    } catch (error) {
      return new PermanentError(
        `the body is not JSON, which the jsonb body column needs (${(error as Error).message}); use a bytea body column`,
      );
    }
  }
  return text;
}

/** A row's body column (bytea: a Buffer; text, or json read as ::text) as bytes. */
export function decodeBody(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value === null || value === undefined) return Buffer.alloc(0);
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** A jsonb metadata value as string fields (other JSON values are kept as their JSON text). */
export function decodeMetadata(value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  // pg parsed it for this row alone: when every field is a string already (the usual case), it is the metadata
  let strings = true;
  for (const name in value) {
    if (typeof (value as Record<string, unknown>)[name] !== 'string') {
      strings = false;
      break;
    }
  }
  if (strings) return value as Record<string, string>;
  const metadata: Record<string, string> = {};
  for (const [name, field] of Object.entries(value as Record<string, unknown>)) {
    if (field === null || field === undefined) continue;
    metadata[name] = typeof field === 'string' ? field : JSON.stringify(field);
  }
  return metadata;
}
