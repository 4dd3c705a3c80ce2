// The postgres:// source: a table worked as a queue (the transactional outbox). A pull driver: each receiveBatch
// claims up to `max` visible rows in a transaction of its own (SELECT ... FOR UPDATE SKIP LOCKED), and holds that
// transaction open while their messages are in flight, for up to `hold`: relays sharing the table never take the
// same row, and the rows of a relay that dies come back at once (the server ends its transaction when the
// connection drops). Once every row of the claim is settled, one statement deletes the acked rows (or marks them
// done) and releases the nacked ones after a backoff, and the transaction commits: a batch costs the server what a
// hand-written loop costs. Rows still in flight when `hold` runs out get a lease instead (visible_at moved a
// visibility timeout ahead, the delivery count raised) in that same transaction, which commits; from then on they
// are settled by statements of their own, fenced by the delivery count, and their leases renewed. LISTEN/NOTIFY
// wakes an idle source at once when a row is inserted (a trigger sends the NOTIFY); a poll finds rows without it,
// and rows whose nack delay ran out.
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
  /**
   * How long a claim's transaction is held open for its messages to settle, ms (at most half of visibilityMs); rows
   * still in flight then get a lease. 0 = every claim leases its rows at once.
   */
  holdMs: number;
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

/**
 * One claimed row, as ack and nack get it back: its id, the version its claim locked, and the delivery count (the
 * row's count plus this delivery), which fences the lease once the row has one.
 */
export interface PgToken {
  readonly id: string;
  readonly ctid: string;
  readonly deliveries: number;
  /** The rows claimed with it, held and leased together. */
  readonly claim: ClaimedBatch;
  settled: boolean;
}

/** The rows of one claim while any is in flight: tracked per claim, not per row, so a row costs no Set entry. */
interface ClaimedBatch {
  readonly tokens: PgToken[];
  unsettled: number;
  /** The claim's transaction while it is held open; undefined once it ended (its unsettled rows then have leases). */
  held: HeldClaim | undefined;
  /** When we last set their leases (Date.now()), for the extender. */
  leasedAt: number;
  /** Its transaction ended at close with rows unsettled: those rows were given back, so they settle nothing. */
  abandoned?: boolean;
}

/** A claim's open transaction: its connection, and what its rows' settlements will do when it ends. */
interface HeldClaim {
  readonly client: PoolClient;
  /** The locked versions of the acked rows. */
  readonly acks: string[];
  /** The locked versions of the nacked rows, and how long each stays invisible. */
  readonly nacks: string[];
  readonly nackDelays: number[];
  /** Ends the hold: the rows still in flight get leases. */
  readonly timer: NodeJS.Timeout;
}

/** The statements for one table, built once its columns are known. */
interface Statements {
  /** Begins the claim's transaction, and picks and locks up to `max` rows in it (three statements, one round trip). */
  claim(max: number): string;
  /**
   * Ends a held claim by the versions it locked: deletes (or marks done) the acked rows, releases the nacked ones
   * after their delays, leases the rows still in flight for the visibility timeout, and commits (one round trip).
   */
  finish(acks: readonly string[], nacks: readonly string[], nackDelays: readonly number[], leased: readonly string[]): string;
  nextVisible: string;
  ack: string;
  nack: string;
  extend: string;
}

/** A whole number written into a statement. */
function integer(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`not a number for a statement: ${value}`);
  return String(Math.round(value));
}

/** Row versions (ctids as the server wrote them) written into a statement as a tid[] literal. */
function tidArray(ctids: readonly string[]): string {
  for (const ctid of ctids) if (!TID.test(ctid)) throw new Error(`not a row version: ${ctid}`);
  return `'{${ctids.map((ctid) => `"${ctid}"`).join(',')}}'::tid[]`;
}

const TID = /^\(\d+,\d+\)$/;

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
  // The statements on leased rows find them through the primary key. `id = ANY(ARRAY(subquery))` is written so on
  // purpose: the planner cannot see the array's length, so it looks the ids up in the index; joined to the ids directly
  // it estimates a hash join over a sequential scan cheaper for tables up to some 10^5 rows, which made every claim and
  // every settlement read the whole outbox (4 ms instead of 0.7 for 256 rows of 20 000, 51 ms instead of 7 for 2 000
  // rows of 200 000), so that emptying a backlog cost its size squared.
  // Each takes the ids ($1) and the delivery counts that fence the leases ($2).
  const leased =
    `unnest($1::${ids}, $2::int[]) AS u(id, deliveries) ` +
    `WHERE t.id = ANY(ARRAY(SELECT unnest($1::${ids}))) AND t.id = u.id AND t.deliveries = u.deliveries`;
  // picked oldest-visible first and locked (SKIP LOCKED: relays sharing the table never wait for each other, nor take
  // a row another holds); the lock lasts as long as the claim's transaction. The delivery count handed over is the
  // row's plus this delivery; the row's own count rises only if the message is nacked or outlives the hold (a relay
  // that dies while it holds the row does not count it). The ctid names the version locked, which stays current until
  // the transaction ends, so that the statement ending the claim finds its rows without an index lookup.
  // The held path's statements go as simple queries, their values written in (numbers and ctids only), so that BEGIN
  // and the claim, then the settlements and COMMIT, each take one round trip: half the writes and wake-ups, which
  // with claims running at once is most of what a claim costs the relay. A simple query is planned for its values,
  // so no plan made for an empty outbox is ever reused on a backlog.
  const pick =
    `SELECT t.ctid::text AS ctid, t.id::text AS id, ${body} AS body, ${key} AS key, ${metadata} AS metadata, ` +
    `t.deliveries::int + 1 AS deliveries FROM ${t} AS t WHERE t.visible_at <= now() ORDER BY t.visible_at LIMIT `;
  // A held transaction that sits idle longer than the visibility timeout is ended by the server, so that a relay cut
  // off without its connections closing (a network partition) gives its rows back as surely as through a lease. SET
  // LOCAL: the setting lasts as long as the claim's transaction, and stays off whatever else a pooler's server
  // connection serves.
  const claim = (max: number): string =>
    `BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${integer(config.visibilityMs)}; ` +
    `${pick}${integer(max)} FOR UPDATE SKIP LOCKED`;
  // `ctid = ANY(ARRAY(subquery))` for the reason given for the ids above: with the array's length in sight, the
  // planner reads the whole table rather than fetch 256 versions by their ctids, once it has a few hundred pages
  const versions = (ctids: readonly string[]): string => `t.ctid = ANY(ARRAY(SELECT unnest(${tidArray(ctids)})))`;
  const finish = (acks: readonly string[], nacks: readonly string[], nackDelays: readonly number[], leased: readonly string[]): string => {
    // only the parts a claim needs: an UPDATE that changes nothing still costs its statement (and fires statement
    // triggers). clock_timestamp(), not now(): now() is when the claim's transaction began, up to `hold` ago
    const parts: string[] = [];
    if (acks.length > 0) {
      parts.push(
        config.onAck === 'delete'
          ? `DELETE FROM ${t} AS t WHERE ${versions(acks)}`
          : `UPDATE ${t} AS t SET done_at = clock_timestamp(), visible_at = 'infinity' WHERE ${versions(acks)}`,
      );
    }
    if (nacks.length > 0) {
      parts.push(
        `UPDATE ${t} AS t SET visible_at = clock_timestamp() + u.delay * interval '1 millisecond', deliveries = t.deliveries + 1 ` +
          `FROM unnest(${tidArray(nacks)}, ARRAY[${nackDelays.map(integer).join(',')}]::float8[]) AS u(ctid, delay) ` +
          `WHERE ${versions(nacks)} AND t.ctid = u.ctid`,
      );
    }
    if (leased.length > 0) {
      parts.push(
        `UPDATE ${t} AS t SET visible_at = clock_timestamp() + ${integer(config.visibilityMs)} * interval '1 millisecond', ` +
          `deliveries = t.deliveries + 1 WHERE ${versions(leased)}`,
      );
    }
    return [...parts, 'COMMIT'].join('; ');
  };
  return {
    claim,
    finish,
    nextVisible:
      `SELECT (extract(epoch FROM min(visible_at) - now()) * 1000)::float8 AS ms FROM ${t} ` +
      "WHERE visible_at > now() AND visible_at < 'infinity'",
    ack:
      config.onAck === 'delete'
        ? `DELETE FROM ${t} AS t USING ${leased}`
        : `UPDATE ${t} AS t SET done_at = now(), visible_at = 'infinity' FROM ${leased}`,
    // $3: the nack delays; for extend, the lease's length
    nack:
      `UPDATE ${t} AS t SET visible_at = now() + u.delay * interval '1 millisecond' ` +
      `FROM unnest($1::${ids}, $2::int[], $3::float8[]) AS u(id, deliveries, delay) ` +
      `WHERE t.id = ANY(ARRAY(SELECT unnest($1::${ids}))) AND t.id = u.id AND t.deliveries = u.deliveries`,
    extend: `UPDATE ${t} AS t SET visible_at = now() + $3 * interval '1 millisecond' FROM ${leased}`,
  };
}

/** A row as a claim returns it. */
interface ClaimedRow {
  ctid: string;
  id: string;
  body: unknown;
  key: string | null;
  metadata: unknown;
  deliveries: number;
}

/** A settlement of a leased row (one whose claim's transaction has ended). */
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

/** How long a claim waits for a connection before the oldest held claim gives its one up, ms. */
const CONNECTION_WAIT_MS = 100;

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
  /** Settlements of leased rows, sent together at the end of the tick. */
  private pending: Settlement[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  /** Settlement statements and claims' final statements in progress (close waits for them). */
  private readonly settling = new Set<Promise<void>>();
  /** How long a claim's transaction is held open, ms. */
  private readonly holdMs: number;

  constructor(
    private readonly config: PgSourceConfig,
    options: SourceOptions,
  ) {
    this.maxBatch = config.batch;
    this.receivers = config.claims;
    // a held transaction must end well before the server would end it (idle_in_transaction_session_timeout, see claim)
    this.holdMs = Math.min(config.holdMs, Math.floor(config.visibilityMs / 2));
    this.logger = (options.logger ?? rootLogger()).child({ source: 'postgres', table: config.settings.table.name });
    this.pool = createPool(config.settings, config.poolSize, (error) => {
      this.connected = false;
      this.logger.warn({ err: error }, `postgres (${config.settings.host}): a connection failed: ${error.message}`);
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
      {
        table: this.config.settings.table.name,
        channel: this.config.channel,
        visibilityMs: this.config.visibilityMs,
        holdMs: this.holdMs,
      },
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
      const claimed = await this.claim(max);
      if (claimed !== undefined) {
        const { rows, client } = claimed;
        const claim: ClaimedBatch = { tokens: new Array(rows.length), unsettled: rows.length, held: undefined, leasedAt: 0 };
        claim.held = {
          client,
          acks: [],
          nacks: [],
          nackDelays: [],
          timer: setTimeout(() => this.endHold(claim, true), this.holdMs),
        };
        this.inFlight.add(claim);
        const deliveries: Delivery<PgToken>[] = new Array(rows.length);
        for (let i = 0; i < rows.length; i++) {
          const row = rows[i];
          const token: PgToken = { id: row.id, ctid: row.ctid, deliveries: row.deliveries, claim, settled: false };
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
   * One claim: a transaction on a connection of its own that picks and locks up to `max` rows. With rows, the
   * transaction stays open (the claim is held) and the connection is the claim's until endHold; without, it ends here.
   */
  private claim(max: number): Promise<{ rows: ClaimedRow[]; client: PoolClient } | undefined> {
    const claiming = this.claimOnce(max);
    // close() waits for claims in progress: the rows they take are handed over, and given back or settled
    const tracked: Promise<void> = claiming.then(
      () => undefined,
      () => undefined,
    );
    this.settling.add(tracked);
    void tracked.finally(() => this.settling.delete(tracked));
    return claiming;
  }

  private async claimOnce(max: number): Promise<{ rows: ClaimedRow[]; client: PoolClient } | undefined> {
    let client: PoolClient;
    try {
      client = await this.connection();
    } catch (error) {
      if (sqlState(error) === undefined) this.connected = false;
      throw pgError(error, this.config.settings, 'claiming rows of');
    }
    try {
      // three statements in one simple query: BEGIN, the transaction's timeout, and the claim
      const results = (await client.query((this.sql as Statements).claim(max))) as unknown as QueryResult<ClaimedRow>[];
      const { rows } = results[2];
      this.connected = true;
      if (rows.length > 0) return { rows, client };
      await client.query('COMMIT');
      client.release();
      return undefined;
    } catch (error) {
      // the connection may be left in a failed transaction: it is closed, not given back to the pool
      client.release(error as Error);
      if (sqlState(error) === undefined) this.connected = false;
      throw pgError(error, this.config.settings, 'claiming rows of');
    }
  }

  /**
   * A connection for a claim. When every connection is taken (held claims, claims running, settlements) and none
   * comes back within CONNECTION_WAIT_MS, the oldest held claim ends its hold now, leasing its rows still in flight:
   * a window larger than what the pool can hold keeps filling at the price of leases.
   */
  private async connection(): Promise<PoolClient> {
    const free = this.pool.idleCount > 0 || this.pool.totalCount < this.config.poolSize;
    const connecting = this.pool.connect();
    if (free) return connecting;
    const timer = setInterval(() => {
      for (const claim of this.inFlight) {
        if (claim.held === undefined) continue;
        this.endHold(claim, true);
        return;
      }
    }, CONNECTION_WAIT_MS);
    try {
      return await connecting;
    } finally {
      clearInterval(timer);
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
    if (token.settled) return;
    this.settled(token);
    const claim = token.claim;
    const held = claim.held;
    if (held !== undefined) {
      held.acks.push(token.ctid);
      if (claim.unsettled === 0) this.endHold(claim, true);
    } else if (!claim.abandoned) {
      this.settle({ kind: 'ack', token });
    }
  }

  nack(token: PgToken, error: Error): void {
    if (token.settled) return;
    this.settled(token);
    const claim = token.claim;
    const held = claim.held;
    // given back by a stopping pipeline: visible again at once, for the next relay to take
    const shutdown = error instanceof ShutdownError;
    const delayMs = shutdown ? 0 : Math.min(this.config.nackDelayMaxMs, this.config.nackDelayMs * 2 ** Math.max(0, token.deliveries - 1));
    if (held !== undefined) {
      // a row given back at a shutdown is left as it was: visible again, uncounted, once the transaction ends
      if (!shutdown) {
        held.nacks.push(token.ctid);
        held.nackDelays.push(delayMs);
      }
      if (claim.unsettled === 0) this.endHold(claim, true);
    } else if (!claim.abandoned) {
      this.settle({ kind: 'nack', token, delayMs });
    }
  }

  private settled(token: PgToken): void {
    token.settled = true;
    if (--token.claim.unsettled === 0) this.inFlight.delete(token.claim);
  }

  /**
   * Ends a held claim: one statement settles its rows (and, with `lease`, leases those still in flight), then the
   * transaction commits and the connection goes back to the pool. Without `lease` (at close) the rows still in flight
   * are left as they were: visible again once the transaction ends.
   */
  private endHold(claim: ClaimedBatch, lease: boolean): void {
    const held = claim.held;
    if (held === undefined) return;
    claim.held = undefined;
    clearTimeout(held.timer);
    const leased: string[] = [];
    if (lease) {
      for (const token of claim.tokens) if (!token.settled) leased.push(token.ctid);
      claim.leasedAt = Date.now();
    } else {
      claim.abandoned = true;
    }
    const ending: Promise<void> = this.finishHeld(held, leased).finally(() => this.settling.delete(ending));
    this.settling.add(ending);
  }

  private async finishHeld(held: HeldClaim, leased: readonly string[]): Promise<void> {
    const { client, acks, nacks, nackDelays } = held;
    let failure: Error | undefined;
    try {
      if (acks.length + nacks.length + leased.length > 0) {
        await client.query((this.sql as Statements).finish(acks, nacks, nackDelays, leased));
      } else {
        await client.query('COMMIT');
      }
      if (nacks.length > 0) this.wake(); // a nacked row may be visible again at once: look
    } catch (error) {
      failure = error as Error;
      noteFailure(
        this.logger,
        'claim_end_failed',
        { err: error, acked: acks.length, nacked: nacks.length, leased: leased.length },
        `postgres (${this.config.settings.host}): ending a claim of ${this.config.settings.table.name} failed ` +
          `(${failure.message}); its rows are visible again at once, so its acked rows are delivered again (a duplicate, not a loss)`,
      );
    } finally {
      // a connection whose transaction failed is closed, not given back
      client.release(failure);
    }
  }

  /** Leases of messages held longer than half the visibility timeout are renewed, so no other relay takes them. */
  private extendLeases(): void {
    const now = Date.now();
    const due = now - this.config.visibilityMs / 2;
    for (const claim of this.inFlight) {
      if (claim.held !== undefined || claim.leasedAt > due) continue;
      claim.leasedAt = now;
      for (const token of claim.tokens) if (!token.settled) this.settle({ kind: 'extend', token });
    }
  }

  /** Settlements of leased rows are sent together at the end of the tick, in statements of their own. */
  private settle(settlement: Settlement): void {
    this.pending.push(settlement);
    if (this.pending.length >= SETTLE_CHUNK) this.flush();
    else
      this.flushScheduled ??= setImmediate(() => {
        this.flushScheduled = undefined;
        this.flush();
      });
  }

  /** Sends what is pending now. */
  private flush(): void {
    if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
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
    this.flush();
    this.wake();
  }

  async close(): Promise<void> {
    if (this.extendTimer !== undefined) clearInterval(this.extendTimer);
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    for (;;) {
      this.flush();
      if (this.settling.size === 0) {
        // claims still held have rows the pipeline will not settle any more: their transactions end, and those rows
        // are visible again
        const held = [...this.inFlight].filter((claim) => claim.held !== undefined);
        if (held.length === 0) break;
        for (const claim of held) this.endHold(claim, false);
        continue;
      }
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
