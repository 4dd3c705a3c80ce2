// The postgres:// source: a table worked as a queue (the transactional outbox). A pull driver: each receiveBatch
// claims up to `max` visible rows in one statement (SELECT ... FOR UPDATE SKIP LOCKED, then their visible_at moved a
// visibility timeout ahead and their delivery count raised), so that relays sharing the table never take the same
// row while its lease runs, and the rows of a relay that died come back once their lease runs out. Ack deletes the
// row (or marks it done), nack makes it visible again after a backoff; both are batched. Slow messages get their
// lease extended. LISTEN/NOTIFY wakes an idle source at once when a row is inserted (a trigger sends the NOTIFY);
// a poll finds rows without it, and rows whose nack delay ran out.
import { Client, type Pool, type PoolClient, type QueryResult } from 'pg';
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
  /** The rows claimed with it, whose leases are renewed together. */
  readonly claim: ClaimedBatch;
  settled: boolean;
}

/** The rows of one claim while any is in flight: tracked per claim, not per row, so a row costs no Set entry. */
interface ClaimedBatch {
  readonly tokens: PgToken[];
  unsettled: number;
  /** When we last set their leases (Date.now()), for the extender. */
  leasedAt: number;
}

/** The statements for one table, built once its columns are known. */
interface Statements {
  claim: string;
  /** A claim that also carries acks ($3, $4) and nacks ($5, $6, $7): one statement and one commit for both. */
  claimSettling: string;
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
  const leased = (idsParam: string, countsParam: string): string =>
    `unnest(${idsParam}::${ids}, ${countsParam}::int[]) AS u(id, deliveries) ` +
    `WHERE t.id = ANY(ARRAY(SELECT unnest(${idsParam}::${ids}))) AND t.id = u.id AND t.deliveries = u.deliveries`;
  const ack = (idsParam: string, countsParam: string): string =>
    config.onAck === 'delete'
      ? `DELETE FROM ${t} AS t USING ${leased(idsParam, countsParam)}`
      : `UPDATE ${t} AS t SET done_at = now(), visible_at = 'infinity' FROM ${leased(idsParam, countsParam)}`;
  const nack = (idsParam: string, countsParam: string, delaysParam: string): string =>
    `UPDATE ${t} AS t SET visible_at = now() + u.delay * interval '1 millisecond' ` +
    `FROM unnest(${idsParam}::${ids}, ${countsParam}::int[], ${delaysParam}::float8[]) AS u(id, deliveries, delay) ` +
    `WHERE t.id = ANY(ARRAY(SELECT unnest(${idsParam}::${ids}))) AND t.id = u.id AND t.deliveries = u.deliveries`;
  // picked oldest-visible first and locked (SKIP LOCKED: relays sharing the table never wait for each other); the
  // lease and the count are set in the same statement, so a claim is atomic. The lease finds the picked rows by the
  // ctid of the version picked locked, which costs no index lookup (a sixth of the claim); the lock keeps that version
  // current until the update. A picked row whose locked version the statement's snapshot cannot see (another
  // transaction changed it after that snapshot and the lock followed) is not found, so not claimed: it stays visible
  // for the next claim. The rows are handed over oldest-visible first, as picked.
  const claim =
    `picked AS (SELECT ctid, visible_at FROM ${t} WHERE visible_at <= now() ORDER BY visible_at LIMIT $1 FOR UPDATE SKIP LOCKED), ` +
    `claimed AS (UPDATE ${t} AS t SET visible_at = now() + $2 * interval '1 millisecond', deliveries = t.deliveries + 1 ` +
    'FROM picked AS p WHERE t.ctid = ANY(ARRAY(SELECT ctid FROM picked)) AND t.ctid = p.ctid ' +
    `RETURNING t.id::text AS id, ${body} AS body, ${key} AS key, ${metadata} AS metadata, t.deliveries::int AS deliveries, ` +
    'p.visible_at AS picked_at) ' +
    'SELECT id, body, key, metadata, deliveries FROM claimed ORDER BY picked_at';
  return {
    claim: `WITH ${claim}`,
    // The settlements run to completion whether or not the claim finds rows (PostgreSQL runs every data-modifying
    // WITH), in the claim's transaction. They touch only rows this relay leased, which the claim cannot pick while
    // the lease runs; a row whose lease ran out may be both re-claimed and settled here, and then only one of the two
    // happens (PostgreSQL's rule for a row changed twice in one statement): a duplicate, as any expired lease gives.
    claimSettling: `WITH acked AS (${ack('$3', '$4')}), nacked AS (${nack('$5', '$6', '$7')}), ${claim}`,
    nextVisible:
      `SELECT (extract(epoch FROM min(visible_at) - now()) * 1000)::float8 AS ms FROM ${t} ` +
      "WHERE visible_at > now() AND visible_at < 'infinity'",
    ack: ack('$1', '$2'),
    nack: nack('$1', '$2', '$3'),
    extend: `UPDATE ${t} AS t SET visible_at = now() + $3 * interval '1 millisecond' FROM ${leased('$1', '$2')}`,
  };
}

/** A row as a claim returns it. */
interface ClaimedRow {
  id: string;
  body: unknown;
  key: string | null;
  metadata: unknown;
  deliveries: number;
}

interface Settlement {
  kind: 'ack' | 'nack' | 'extend';
  token: PgToken;
  delayMs?: number;
}

/** Settlements split by kind, each in the order it came. */
function byKind(settlements: readonly Settlement[]): Record<Settlement['kind'], Settlement[]> {
  const groups: Record<Settlement['kind'], Settlement[]> = { ack: [], nack: [], extend: [] };
  for (const settlement of settlements) groups[settlement.kind].push(settlement);
  return groups;
}

/** The parameters of a settlement statement: the rows' ids, the delivery counts that fence their leases, nack delays. */
const ids = (group: readonly Settlement[]): string[] => group.map((entry) => entry.token.id);
const deliveryCounts = (group: readonly Settlement[]): number[] => group.map((entry) => entry.token.deliveries);
const delays = (group: readonly Settlement[]): number[] => group.map((entry) => entry.delayMs ?? 0);

/** Rows per settlement statement. */
const SETTLE_CHUNK = 2000;

/**
 * The longest settlements wait for a claim to carry them while claims are running, ms. Past it they go on their own:
 * a claim may be slow, or the window full for a while.
 */
const CARRY_WAIT_MS = 20;

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
  private readonly inFlight = new Set<ClaimedBatch>();
  private pending: Settlement[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  private carryTimer: NodeJS.Timeout | undefined;
  /** Settlement statements and claims in progress (close waits for both). */
  private readonly settling = new Set<Promise<void>>();
  /** Claims in progress: while one runs, the receiver that sent it claims again soon, and can carry settlements. */
  private claiming = 0;
  /** Claims go as prepared statements until the server shows it does not keep them (see claimQuery). */
  private prepared = true;
  /** Connections that plan each prepared claim for its run (see claimQuery). */
  private readonly plannedEachTime = new WeakSet<PoolClient>();
  /** Intake stopped: no claim will come, settlements go at once. */
  private stopping = false;

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
    for (;;) {
      if (signal.aborted || this.closed) return [];
      const seen = this.wakeups;
      const rows = await this.claim(max);
      if (rows.length > 0) {
        const claim: ClaimedBatch = { tokens: new Array(rows.length), unsettled: rows.length, leasedAt: Date.now() };
        this.inFlight.add(claim);
        const deliveries: Delivery<PgToken>[] = new Array(rows.length);
        for (let i = 0; i < rows.length; i++) {
          const row = rows[i];
          const token: PgToken = { id: row.id, deliveries: row.deliveries, claim, settled: false };
          claim.tokens[i] = token;
          const message: Delivery<PgToken>['message'] = {
            id: row.id,
            body: decodeBody(row.body),
            metadata: decodeMetadata(row.metadata),
            deliveryCount: row.deliveries,
          };
          if (row.key !== null) (message as { key?: string }).key = row.key;
          deliveries[i] = { message, token };
        }
        return deliveries;
      }
      // idle: no claim is coming soon to carry what was settled meanwhile
      this.flush();
      if (this.wakeups !== seen) continue;
      let wait = this.config.pollMs;
      try {
        const next = (await this.pool.query<{ ms: number | null }>((this.sql as Statements).nextVisible)).rows[0]?.ms;
        if (next !== null && next !== undefined) wait = Math.min(wait, Math.max(1, Math.ceil(next)));
      } catch (error) {
        throw pgError(error, this.config.settings, 'looking for rows of');
      }
      if (this.wakeups !== seen) continue;
      await this.sleep(wait, signal);
    }
  }

  /**
   * One claim, carrying the acks and nacks settled since the last statement: a batch then costs one commit, not two
   * (its rows' claim, and later their deletion in the claim that follows). If the claim fails, what it carried goes
   * on its own, with the retries of any settlement.
   */
  private async claim(max: number): Promise<ClaimedRow[]> {
    const sql = this.sql as Statements;
    const carried = this.takeCarried();
    const query =
      carried === undefined
        ? this.claimQuery('wasm-pipes claim', sql.claim, [max, this.config.visibilityMs])
        : this.claimQuery('wasm-pipes claim and settle', sql.claimSettling, [
            max,
            this.config.visibilityMs,
            ids(carried.acks),
            deliveryCounts(carried.acks),
            ids(carried.nacks),
            deliveryCounts(carried.nacks),
            delays(carried.nacks),
          ]);
    // close() waits for claims as for settlements: one may carry some
    const settled: Promise<void> = query.then(
      () => undefined,
      () => undefined,
    );
    this.settling.add(settled);
    this.claiming++;
    try {
      const { rows } = await query;
      this.connected = true;
      if (carried !== undefined && carried.nacks.length > 0) this.wake(); // a nacked row may be visible again at once
      return rows;
    } catch (error) {
      if (sqlState(error) === undefined) this.connected = false;
      if (carried !== undefined) this.send([...carried.acks, ...carried.nacks]);
      throw pgError(error, this.config.settings, 'claiming rows of');
    } finally {
      this.claiming--;
      this.settling.delete(settled);
    }
  }

  /**
   * A claim as a prepared statement: parsed once per connection (still planned each time, see the constructor), which
   * saves a fifth to a third of the server's work for a claim that finds nothing. A pooler that shares server connections between clients (PgBouncer in transaction mode, without its own
   * prepared statement support) loses them, or finds them made by another client: then this source claims with
   * unprepared statements from there on. The statement failed before it ran, so running it again is safe.
   */
  private async claimQuery(name: string, text: string, values: unknown[]): Promise<QueryResult<ClaimedRow>> {
    if (!this.prepared) return this.pool.query<ClaimedRow>(text, values);
    const client = await this.pool.connect();
    let failure: unknown;
    try {
      // After five runs PostgreSQL may keep one plan for a prepared statement, whatever its values, made for the
      // table as it was: a claim prepared while the outbox was empty would read the whole table once a backlog came
      // (30 times the work at 200 000 rows), until the next ANALYZE. Each claim is planned for the table as it is;
      // only the parsing is saved.
      if (!this.plannedEachTime.has(client)) {
        await client.query('SET plan_cache_mode = force_custom_plan');
        this.plannedEachTime.add(client);
      }
      return await client.query<ClaimedRow>({ name, text, values });
    } catch (error) {
      failure = error;
    } finally {
      client.release(failure as Error | undefined);
    }
    const state = sqlState(failure);
    // invalid_sql_statement_name (26000): it is gone; duplicate_prepared_statement (42P05): another client's;
    // undefined_object (42704): a server without plan_cache_mode (before 12)
    if (state !== '26000' && state !== '42P05' && state !== '42704') throw failure;
    if (this.prepared) {
      this.prepared = false;
      this.logger.warn(
        { err: failure },
        `postgres (${this.config.settings.host}): the server does not keep this relay's prepared statements, or cannot ` +
          `plan them for each run (${(failure as Error).message}; a pooler in transaction mode?); claiming with unprepared statements from now on`,
      );
    }
    return this.pool.query<ClaimedRow>(text, values);
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
    this.settled(token);
    this.settle({ kind: 'ack', token });
  }

  nack(token: PgToken, error: Error): void {
    this.settled(token);
    // given back by a stopping pipeline: visible again at once, for the next relay to take
    const delayMs =
      error instanceof ShutdownError
        ? 0
        : Math.min(this.config.nackDelayMaxMs, this.config.nackDelayMs * 2 ** Math.max(0, token.deliveries - 1));
    this.settle({ kind: 'nack', token, delayMs });
  }

  private settled(token: PgToken): void {
    if (token.settled) return;
    token.settled = true;
    if (--token.claim.unsettled === 0) this.inFlight.delete(token.claim);
  }

  /** Leases of messages held longer than half the visibility timeout are renewed, so no other relay takes them. */
  private extendLeases(): void {
    const now = Date.now();
    const due = now - this.config.visibilityMs / 2;
    for (const claim of this.inFlight) {
      if (claim.leasedAt > due) continue;
      claim.leasedAt = now;
      for (const token of claim.tokens) if (!token.settled) this.settle({ kind: 'extend', token });
    }
  }

  /**
   * Settlements wait for the next claim to carry them while claims are running (the receiver of a claim in progress
   * claims again as soon as it has handed its rows over, if the window has room, and settling makes room); else, or
   * after CARRY_WAIT_MS, they go in statements of their own. Extensions always go on their own.
   */
  private settle(settlement: Settlement): void {
    this.pending.push(settlement);
    if (this.pending.length >= SETTLE_CHUNK) this.flush();
    else
      this.flushScheduled ??= setImmediate(() => {
        this.flushScheduled = undefined;
        if (this.claiming === 0 || this.stopping || this.closed) this.flush();
        else
          this.carryTimer ??= setTimeout(() => {
            this.carryTimer = undefined;
            this.flush();
          }, CARRY_WAIT_MS);
      });
  }

  /** The pending acks and nacks, for a claim to carry (extensions are sent on their own, now). */
  private takeCarried(): { acks: Settlement[]; nacks: Settlement[] } | undefined {
    if (this.pending.length === 0) return undefined;
    const pending = this.pending;
    this.pending = [];
    this.cancelFlush();
    const { ack: acks, nack: nacks, extend: extensions } = byKind(pending);
    this.send(extensions);
    return acks.length + nacks.length > 0 ? { acks, nacks } : undefined;
  }

  private cancelFlush(): void {
    if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    if (this.carryTimer !== undefined) clearTimeout(this.carryTimer);
    this.carryTimer = undefined;
  }

  /** Sends what is pending now. */
  private flush(): void {
    this.cancelFlush();
    const pending = this.pending;
    this.pending = [];
    this.send(pending);
  }

  /** Sends settlements as a few statements (one per kind), without waiting for each other. */
  private send(settlements: readonly Settlement[]): void {
    if (settlements.length === 0) return;
    const sql = this.sql as Statements;
    const groups = byKind(settlements);
    const run = (kind: Settlement['kind'], statement: string, params: (group: Settlement[]) => unknown[]): void => {
      const group = groups[kind];
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
    run('ack', sql.ack, (group) => [ids(group), deliveryCounts(group)]);
    run('nack', sql.nack, (group) => [ids(group), deliveryCounts(group), delays(group)]);
    run('extend', sql.extend, (group) => [ids(group), deliveryCounts(group), this.config.visibilityMs]);
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
    // no claim will carry what is settled from now on
    this.stopping = true;
    this.flush();
    this.wake();
  }

  async close(): Promise<void> {
    if (this.extendTimer !== undefined) clearInterval(this.extendTimer);
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.stopping = true;
    for (;;) {
      this.flush();
      if (this.settling.size === 0) break;
      await Promise.all([...this.settling]);
      // the rows of a claim that ended after the stop are given back (nacked) once the runtime sees them
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.closed = true;
    this.wake();
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.pool.end();
  }
}
