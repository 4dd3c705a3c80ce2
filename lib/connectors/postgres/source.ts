// The postgres:// source: a table worked as a queue (the transactional outbox). A pull driver: each receiveBatch
// claims up to `max` visible rows in one statement (SELECT ... FOR UPDATE SKIP LOCKED, then their visible_at moved a
// visibility timeout ahead and their delivery count raised), so that relays sharing the table never take the same
// row while its lease runs, and the rows of a relay that died come back once their lease runs out. Ack deletes the
// row (or marks it done), nack makes it visible again after a backoff; both are batched. Slow messages get their
// lease extended. LISTEN/NOTIFY wakes an idle source at once when a row is inserted (a trigger sends the NOTIFY);
// a poll finds rows without it, and rows whose nack delay ran out.
import { Client, type Pool } from 'pg';
import type { Delivery, SourceContext, SourceDriver, SourceOptions } from '../../source';
import { ConfigError, ShutdownError } from '../../errors';
import { noteFailure } from '../../deadLetter';
import { equalJitter, exponentialBackoff } from '../../backoff';
import { rootLogger, type Logger } from '../../logging/logger';
import { SCHEME, type PgSettings } from './config';
import {
  type TableShape,
  bodyEncoding,
  checkColumnType,
  checkTable,
  createPool,
  decodeBody,
  decodeMetadata,
  pgError,
  sqlState,
} from './client';
import { wakeableWait } from '../../wakeableWait';

export interface PgSourceConfig {
  settings: PgSettings;
  /** Most rows one claim takes. */
  batch: number;
  /** How long a claimed row stays invisible to other relays (renewed while its message is in flight), ms. */
  visibilityMs: number;
  /** The longest an idle source waits before looking again without a NOTIFY, ms. */
  pollMs: number;
  /** Delay before a nacked row is visible again, doubled per delivery up to nackDelayMaxMs. */
  nackDelayMs: number;
  nackDelayMaxMs: number;
  /** What an ack does to the row. */
  onAck: 'delete' | 'mark';
  /** The NOTIFY channel to LISTEN on; undefined = none (poll only). */
  channel: string | undefined;
  /** Connections for claims and settlements. */
  poolSize: number;
  /** Claims that may run at once (receivers of the pull loop), at most poolSize. */
  claims: number;
}

/** One claimed row, as ack and nack get it back: its id and the delivery count that fences our lease. */
export interface PgToken {
  readonly id: string;
  readonly deliveries: number;
  /** When we last set its lease (Date.now()), for the extender. */
  leasedAt: number;
}

/** The statements for one table, built once its columns are known. */
interface Statements {
  claim: string;
  nextVisible: string;
  ack: string;
  nack: string;
  extend: string;
}

/** The array type to send ids as: text for text-like ids (no cast that could cut them), else the column's type. */
function idArrayType(idType: string): string {
  return idType === 'text' || idType.startsWith('character') ? 'text' : idType;
}

function statements(shape: TableShape, config: PgSourceConfig): Statements {
  const { table, variable } = config.settings;
  const idType = shape.columns.get('id');
  const missing: string[] = [];
  if (idType === undefined) missing.push('id text PRIMARY KEY DEFAULT gen_random_uuid()::text');
  if (!shape.columns.has('body')) missing.push('body bytea NOT NULL');
  if (!shape.columns.has('deliveries')) missing.push('deliveries integer NOT NULL DEFAULT 0');
  if (!shape.columns.has('visible_at')) missing.push('visible_at timestamptz NOT NULL DEFAULT now()');
  if (config.onAck === 'mark' && !shape.columns.has('done_at')) missing.push('done_at timestamptz');
  if (missing.length > 0) {
    throw new ConfigError(
      `table '${table.name}' lacks the column(s) an outbox source needs: ` +
        missing.map((column) => `ALTER TABLE ${table.sql} ADD COLUMN ${column};`).join(' ') +
        ' (the full table is in docs/connectors/postgres.md)',
      { variable },
    );
  }
  if (!shape.unique.has('id')) {
    throw new ConfigError(`column id of '${table.name}' has no unique index; ALTER TABLE ${table.sql} ADD PRIMARY KEY (id)`, { variable });
  }
  checkColumnType(shape, table, 'deliveries', ['integer', 'bigint', 'smallint'], variable);
  checkColumnType(shape, table, 'visible_at', ['timestamp with time zone'], variable);
  if (config.onAck === 'mark') checkColumnType(shape, table, 'done_at', ['timestamp with time zone'], variable);
  const body = bodyEncoding(shape, table, variable) === 'json' ? 't.body::text' : 't.body';
  const key = checkColumnType(shape, table, 'key', ['text', 'character varying'], variable) ? 't.key' : 'NULL::text';
  const metadata = checkColumnType(shape, table, 'metadata', ['jsonb', 'json'], variable) ? 't.metadata' : 'NULL::jsonb';
  const ids = `${idArrayType(idType as string)}[]`;
  const t = table.sql;
  // Every statement finds its rows through the primary key. `id = ANY(ARRAY(subquery))` is written so on purpose: the
  // planner cannot see the array's length, so it looks the ids up in the index; joined to the ids directly it
  // estimates a hash join over a sequential scan cheaper for tables up to some 10^5 rows, which made every claim and
  // every settlement read the whole outbox (4 ms instead of 0.7 for 256 rows of 20 000, 51 ms instead of 7 for 2 000
  // rows of 200 000), so that emptying a backlog cost its size squared.
  const leased =
    `unnest($1::${ids}, $2::int[]) AS u(id, deliveries) ` +
    `WHERE t.id = ANY(ARRAY(SELECT unnest($1::${ids}))) AND t.id = u.id AND t.deliveries = u.deliveries`;
  return {
    // picked oldest-visible first and locked (SKIP LOCKED: relays sharing the table never wait for each other); the
    // lease and the count are set in the same statement, so a claim is atomic
    claim:
      `WITH picked AS (SELECT id, visible_at FROM ${t} WHERE visible_at <= now() ORDER BY visible_at LIMIT $1 FOR UPDATE SKIP LOCKED), ` +
      `claimed AS (UPDATE ${t} AS t SET visible_at = now() + $2 * interval '1 millisecond', deliveries = t.deliveries + 1 ` +
      'WHERE t.id = ANY(ARRAY(SELECT id FROM picked)) ' +
      `RETURNING t.id, t.id::text AS text_id, ${body} AS body, ${key} AS key, ${metadata} AS metadata, t.deliveries::int AS deliveries) ` +
      'SELECT c.text_id AS id, c.body, c.key, c.metadata, c.deliveries FROM claimed c JOIN picked p ON p.id = c.id ORDER BY p.visible_at',
    nextVisible:
      `SELECT (extract(epoch FROM min(visible_at) - now()) * 1000)::float8 AS ms FROM ${t} ` +
      "WHERE visible_at > now() AND visible_at < 'infinity'",
    ack:
      config.onAck === 'delete'
        ? `DELETE FROM ${t} AS t USING ${leased}`
        : `UPDATE ${t} AS t SET done_at = now(), visible_at = 'infinity' FROM ${leased}`,
    nack:
      `UPDATE ${t} AS t SET visible_at = now() + u.delay * interval '1 millisecond' ` +
      `FROM unnest($1::${ids}, $2::int[], $3::float8[]) AS u(id, deliveries, delay) ` +
      `WHERE t.id = ANY(ARRAY(SELECT unnest($1::${ids}))) AND t.id = u.id AND t.deliveries = u.deliveries`,
    extend: `UPDATE ${t} AS t SET visible_at = now() + $3 * interval '1 millisecond' FROM ${leased}`,
  };
}

interface Settlement {
  kind: 'ack' | 'nack' | 'extend';
  token: PgToken;
  delayMs?: number;
}

/** Rows per settlement statement. */
const SETTLE_CHUNK = 2000;

export class PgSource implements SourceDriver<PgToken> {
  readonly scheme = SCHEME;
  readonly maxBatch: number;
  /**
   * Claims in flight at once. A claim's time is mostly waiting (the statement, then its commit's WAL flush), so with
   * one at a time the relay idles between them; SKIP LOCKED keeps concurrent claims apart.
   */
  readonly receivers: number;
  private readonly pool: Pool;
  private readonly logger: Logger;
  private sql: Statements | undefined;
  private listener: Client | undefined;
  private listenFailures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private extendTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private connected = false;
  /** Raised by every NOTIFY (and after nacks): a receiver that saw it change looks again at once. */
  private wakeups = 0;
  private sleeper: (() => void) | undefined;
  private readonly inFlight = new Set<PgToken>();
  private pending: Settlement[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  private readonly settling = new Set<Promise<void>>();

  constructor(
    private readonly config: PgSourceConfig,
    options: SourceOptions,
  ) {
    this.maxBatch = config.batch;
    this.receivers = config.claims;
    this.logger = (options.logger ?? rootLogger()).child({ source: 'postgres', table: config.settings.table.name });
    this.pool = createPool(config.settings, config.poolSize, (error) => {
      this.connected = false;
      this.logger.warn({ err: error }, `postgres (${config.settings.host}): an idle connection failed: ${error.message}`);
    });
  }

  get ready(): boolean {
    return this.connected && !this.closed;
  }

  async start(context: SourceContext<PgToken>): Promise<void> {
    const shape = await checkTable(this.pool, this.config.settings, [
      'SELECT',
      'UPDATE',
      ...(this.config.onAck === 'delete' ? ['DELETE'] : []),
    ]);
    this.sql = statements(shape, this.config);
    this.connected = true;
    if (this.config.channel !== undefined) await this.listen();
    const period = Math.max(100, Math.floor(this.config.visibilityMs / 4));
    this.extendTimer = setInterval(() => this.extendLeases(), period);
    this.extendTimer.unref();
    context.logger.info(
      { table: this.config.settings.table.name, channel: this.config.channel, visibilityMs: this.config.visibilityMs },
      `outbox ${this.config.settings.table.name}: claiming up to ${this.config.batch} rows at a time` +
        (this.config.channel !== undefined ? `, woken by NOTIFY on '${this.config.channel}'` : '') +
        `, polling every ${this.config.pollMs} ms when idle`,
    );
  }

  /** LISTENs on its own connection (a pooled one would be handed to queries); reconnects with a backoff if it drops. */
  private async listen(): Promise<void> {
    const channel = this.config.channel as string;
    const client = new Client(this.config.settings.connection);
    const lost = (error?: Error): void => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.closed) return;
      this.listenFailures++;
      const delay = equalJitter(exponentialBackoff(200, this.listenFailures, 30_000));
      noteFailure(
        this.logger,
        'listen_lost',
        { err: error, delayMs: Math.round(delay) },
        `postgres (${this.config.settings.host}): LISTEN connection lost${error ? ` (${error.message})` : ''}; polling until it is back, in ${Math.round(delay)} ms`,
      );
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = undefined;
        void this.listen();
      }, delay);
      this.reconnectTimer.unref();
    };
    this.listener = client;
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', () => this.wake());
    try {
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
      this.listenFailures = 0;
      // rows inserted while we were not listening were not announced
      this.wake();
    } catch (error) {
      lost(error as Error);
    }
  }

  private wake(): void {
    this.wakeups++;
    const sleeper = this.sleeper;
    this.sleeper = undefined;
    sleeper?.();
  }

  async receiveBatch(max: number, signal: AbortSignal): Promise<readonly Delivery<PgToken>[]> {
    const sql = this.sql as Statements;
    for (;;) {
      if (signal.aborted || this.closed) return [];
      const seen = this.wakeups;
      let rows: { id: string; body: unknown; key: string | null; metadata: unknown; deliveries: number }[];
      try {
        rows = (await this.pool.query(sql.claim, [max, this.config.visibilityMs])).rows;
        this.connected = true;
      } catch (error) {
        if (sqlState(error) === undefined) this.connected = false;
        throw pgError(error, this.config.settings, 'claiming rows of');
      }
      if (rows.length > 0) {
        const now = Date.now();
        return rows.map((row) => {
          const token: PgToken = { id: row.id, deliveries: row.deliveries, leasedAt: now };
          this.inFlight.add(token);
          return {
            message: {
              id: row.id,
              body: decodeBody(row.body),
              metadata: decodeMetadata(row.metadata),
              ...(row.key !== null ? { key: row.key } : {}),
              deliveryCount: row.deliveries,
            },
            token,
          };
        });
      }
      if (this.wakeups !== seen) continue;
      let wait = this.config.pollMs;
      try {
        const next = (await this.pool.query<{ ms: number | null }>(sql.nextVisible)).rows[0]?.ms;
        if (next !== null && next !== undefined) wait = Math.min(wait, Math.max(1, Math.ceil(next)));
      } catch (error) {
        throw pgError(error, this.config.settings, 'looking for rows of');
      }
      if (this.wakeups !== seen) continue;
      await this.sleep(wait, signal);
    }
  }

  /** Until a wake-up, `ms`, or the signal. */
  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return wakeableWait(signal, {
      ms,
      wake: (end) => {
        const previous = this.sleeper;
        // receivers share one wake-up: wake the previous sleeper too
        this.sleeper = previous === undefined ? end : () => (previous(), end());
      },
      ended: (end) => {
        if (this.sleeper === end) this.sleeper = undefined;
      },
    });
  }

  ack(token: PgToken): void {
    this.inFlight.delete(token);
    this.settle({ kind: 'ack', token });
  }

  nack(token: PgToken, error: Error): void {
    this.inFlight.delete(token);
    // given back by a stopping pipeline: visible again at once, for the next relay to take
    const delayMs =
      error instanceof ShutdownError
        ? 0
        : Math.min(this.config.nackDelayMaxMs, this.config.nackDelayMs * 2 ** Math.max(0, token.deliveries - 1));
    this.settle({ kind: 'nack', token, delayMs });
  }

  /** Leases of messages held longer than half the visibility timeout are renewed, so no other relay takes them. */
  private extendLeases(): void {
    const now = Date.now();
    const due = now - this.config.visibilityMs / 2;
    for (const token of this.inFlight) {
      if (token.leasedAt <= due) {
        token.leasedAt = now;
        this.settle({ kind: 'extend', token });
      }
    }
  }

  private settle(settlement: Settlement): void {
    this.pending.push(settlement);
    if (this.pending.length >= SETTLE_CHUNK) this.flush();
    else this.flushScheduled ??= setImmediate(() => this.flush());
  }

  /** Sends what is pending as a few statements (one per kind), without waiting for each other. */
  private flush(): void {
    if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    const pending = this.pending;
    this.pending = [];
    if (pending.length === 0) return;
    const sql = this.sql as Statements;
    const byKind = { ack: [] as Settlement[], nack: [] as Settlement[], extend: [] as Settlement[] };
    for (const settlement of pending) byKind[settlement.kind].push(settlement);
    const run = (kind: keyof typeof byKind, statement: string, params: (group: Settlement[]) => unknown[]): void => {
      const group = byKind[kind];
      if (group.length === 0) return;
      const sending: Promise<void> = this.withRetries(() => this.pool.query(statement, params(group)).then(() => undefined))
        .then(() => {
          if (kind === 'nack') this.wake(); // a nacked row may be visible again at once: look
        })
        .catch((error: unknown) => {
          noteFailure(
            this.logger,
            `${kind}_failed`,
            { err: error, rows: group.length },
            `postgres (${this.config.settings.host}): ${kind} of ${group.length} row(s) of ${this.config.settings.table.name} failed ` +
              `(${(error as Error).message}); they come back once their lease runs out (a duplicate, not a loss)`,
          );
        })
        .finally(() => this.settling.delete(sending));
      this.settling.add(sending);
    };
    const ids = (group: Settlement[]): string[] => group.map((entry) => entry.token.id);
    const counts = (group: Settlement[]): number[] => group.map((entry) => entry.token.deliveries);
    run('ack', sql.ack, (group) => [ids(group), counts(group)]);
    run('nack', sql.nack, (group) => [ids(group), counts(group), group.map((entry) => entry.delayMs ?? 0)]);
    run('extend', sql.extend, (group) => [ids(group), counts(group), this.config.visibilityMs]);
  }

  /** A settlement statement, tried three times: a lost ack only means a duplicate later, but is worth a retry. */
  private async withRetries(call: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        const state = sqlState(error);
        if (attempt >= 3 || this.closed || (state !== undefined && state.startsWith('42'))) throw error;
        await new Promise((resolve) => setTimeout(resolve, equalJitter(exponentialBackoff(100, attempt, 2000))));
      }
    }
  }

  stopIntake(): void {
    this.wake();
  }

  async close(): Promise<void> {
    if (this.extendTimer !== undefined) clearInterval(this.extendTimer);
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.flush();
    while (this.settling.size > 0) await Promise.all([...this.settling]);
    this.closed = true;
    this.wake();
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.pool.end();
  }
}
