// redis-stream:// as a source: a pull driver over a consumer group. receiveBatch takes, in this order, the entries
// this consumer held before a restart (its own history), nacked entries whose delay is over (XCLAIM), entries that a
// dead consumer left pending longer than ?claim_idle= (XAUTOCLAIM), and new entries (XREADGROUP ... >, blocking on
// a connection of its own). An entry is XACKed once its message is acked; a nacked one stays pending and comes back
// after ?nack_delay=. Redelivered entries carry Redis's own delivery count (XPENDING), which feeds MAX_DELIVERIES.
// While a message is in flight, its entry's idle time is reset every claim_idle / 3 (XCLAIM JUSTID), so that a slow
// sink never makes another consumer take over entries this live one still holds.
import type { Redis } from 'ioredis';
import type { Delivery, SourceContext, SourceDriver } from '../../source';
import { ConfigError, ConnectorError, MissingResourceError } from '../../errors';
import { exponentialBackoff } from '../../backoff';
import type { Logger } from '../../logging/logger';
import { noteFailure } from '../../deadLetter';
import { connectRedis, newRedisClient, redisErrorCode, type RedisServer, SCHEME } from './connection';
import { entryMessage } from './fields';

/** Most entries one XREADGROUP, XCLAIM or XAUTOCLAIM asks for. */
const MAX_BATCH = 1000;
/** Longest XREADGROUP BLOCK: how long a read waits for new entries before the loop looks at retries and claims. */
const MAX_BLOCK_MS = 2000;
/** Entries per XCLAIM JUSTID of the idle-time refresh. */
const REFRESH_CHUNK = 500;

export interface RedisStreamSourceConfig {
  server: RedisServer;
  stream: string;
  group: string;
  consumer: string;
  /** The consumer name was made up for this process: delete it from the group on a clean close when it holds nothing. */
  generatedConsumer: boolean;
  /** Create the group (and the stream) when missing, starting at `start`. */
  createGroup: boolean;
  start: 'oldest' | 'newest';
  /** Pending entries idle this long belong to a dead consumer and are claimed. */
  claimIdleMs: number;
  /** Delay before a nacked entry comes back, doubled per delivery up to 1 min. */
  nackDelayMs: number;
}

/** What settles one delivery: the entry id and the delivery it was. */
export interface StreamEntryToken {
  readonly entryId: string;
  readonly deliveries: number;
}

type RawEntry = [Buffer, Buffer[] | null];

/** The entries of an XREADGROUP/XCLAIM reply (Buffers): [[stream, [[id, fields]...]]] or [[id, fields]...]. */
function entriesOf(reply: unknown): RawEntry[] {
  return Array.isArray(reply) ? (reply as RawEntry[]) : [];
}

export class RedisStreamSource implements SourceDriver<StreamEntryToken> {
  readonly scheme = SCHEME;
  readonly maxBatch = MAX_BATCH;
  private readonly reader: Redis;
  private readonly commands: Redis;
  private context: SourceContext<StreamEntryToken> | undefined;
  private readerId: number | undefined;
  /** Entries this consumer delivered and that are not settled yet (in flight, or nacked and waiting). */
  private readonly held = new Set<string>();
  /** Nacked entries, by id: when they may come back. Insertion order is roughly due order. */
  private readonly retries = new Map<string, number>();
  private acks: string[] = [];
  private ackFlush: Promise<void> | undefined;
  private historyDone = false;
  private historyFrom = '0';
  private claimCursor = '0-0';
  private nextClaimAt = 0;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readingNew = false;
  private started = false;
  private stopping = false;
  private closed = false;

  constructor(
    private readonly config: RedisStreamSourceConfig,
    private readonly logger: Logger,
  ) {
    const name = `wasm-pipes ${config.stream}/${config.group}/${config.consumer}`;
    // the blocking reads get a connection of their own, so that acks and claims never wait behind a BLOCK
    this.reader = newRedisClient(config.server, `${name} reader`.replace(/\s+/g, '-'), { commandTimeout: undefined });
    this.commands = newRedisClient(config.server, name.replace(/\s+/g, '-'), { commandTimeout: 10_000 });
    for (const client of [this.reader, this.commands]) {
      // after start, connection trouble is the pull loop's to report (it backs off and logs); keep ioredis quiet
      client.on('error', (error: Error) => this.logger.debug({ err: error }, `${SCHEME}: connection error: ${error.message}`));
    }
    this.reader.on('ready', () => {
      this.readerId = undefined;
      this.reader.client('ID').then(
        (id) => (this.readerId = Number(id)),
        () => undefined,
      );
    });
  }

  get ready(): boolean {
    return this.started && !this.stopping && this.reader.status === 'ready' && this.commands.status === 'ready';
  }

  private get host(): string {
    return this.config.server.address;
  }

  async start(context: SourceContext<StreamEntryToken>): Promise<void> {
    this.context = context;
    const { stream, group, consumer } = this.config;
    await connectRedis(this.commands, this.config.server, this.logger, 'source');
    await this.checkGroup();
    await connectRedis(this.reader, this.config.server, this.logger, 'source');
    const refreshEvery = Math.max(50, Math.floor(this.config.claimIdleMs / 3));
    this.refreshTimer = setInterval(() => void this.refreshHeld(), refreshEvery);
    this.refreshTimer.unref();
    this.started = true;
    context.logger.info(
      { stream, group, consumer, claimIdleMs: this.config.claimIdleMs },
      `${SCHEME}: reading stream '${stream}' as consumer '${consumer}' of group '${group}' (XACK after settlement, at least once)`,
    );
  }

  /** The group must exist (or is created with ?create_group=true); a missing one stops the start with what to run. */
  private async checkGroup(): Promise<void> {
    const { stream, group, createGroup, start } = this.config;
    if (createGroup) {
      await this.createGroup();
      return;
    }
    let groups: unknown;
    try {
      groups = await this.commands.xinfo('GROUPS', stream);
    } catch (error) {
      if (redisErrorCode(error) === 'ERR') {
        // ERR no such key
        throw new MissingResourceError(
          `stream '${stream}' does not exist; create it with its group (redis-cli XGROUP CREATE ${stream} ${group} ${start === 'oldest' ? '0' : '$'} MKSTREAM), or add ?create_group=true`,
          { scheme: SCHEME, host: this.host, cause: error },
        );
      }
      throw this.failure(`XINFO GROUPS ${stream} failed`, error);
    }
    const names = (Array.isArray(groups) ? groups : []).map((fields) => {
      const list = fields as unknown[];
      const index = list.indexOf('name');
      return index >= 0 ? String(list[index + 1]) : '';
    });
    if (!names.includes(group)) {
      throw new MissingResourceError(
        `stream '${stream}' has no consumer group '${group}'${names.length > 0 ? ` (it has ${names.map((name) => `'${name}'`).join(', ')})` : ''}; create it (redis-cli XGROUP CREATE ${stream} ${group} ${start === 'oldest' ? '0' : '$'}), or add ?create_group=true`,
        { scheme: SCHEME, host: this.host },
      );
    }
  }

  private async createGroup(): Promise<void> {
    const { stream, group, start } = this.config;
    try {
      await this.commands.xgroup('CREATE', stream, group, start === 'oldest' ? '0' : '$', 'MKSTREAM');
      this.logger.info(
        { stream, group, start },
        `${SCHEME}: created consumer group '${group}' on stream '${stream}' (from the ${start} entry)`,
      );
    } catch (error) {
      if (redisErrorCode(error) === 'BUSYGROUP') return;
      throw this.failure(`creating group '${group}' on stream '${stream}' failed`, error);
    }
  }

  private failure(what: string, error: unknown, retryable = true): ConnectorError {
    if (error instanceof ConnectorError || error instanceof ConfigError) return error as ConnectorError;
    return new ConnectorError(`${what}: ${(error as Error).message}`, { scheme: SCHEME, host: this.host, retryable, cause: error });
  }

  async receiveBatch(max: number, signal: AbortSignal): Promise<readonly Delivery<StreamEntryToken>[]> {
    if (this.stopping || signal.aborted) return [];
    try {
      if (!this.historyDone) {
        const history = await this.readHistory(max);
        if (history.length > 0) return history;
      }
      const due = this.dueRetries(max);
      if (due.length > 0) {
        const reclaimed = await this.claim(due);
        if (reclaimed.length > 0) return reclaimed;
      }
      if (Date.now() >= this.nextClaimAt) {
        const claimed = await this.claimFromDeadConsumers(max);
        if (claimed.length > 0) return claimed;
      }
      return await this.readNew(max, signal);
    } catch (error) {
      if (redisErrorCode(error) === 'NOGROUP') {
        if (this.config.createGroup) {
          await this.createGroup();
          return [];
        }
        throw new ConnectorError(
          `consumer group '${this.config.group}' of stream '${this.config.stream}' no longer exists (deleted while the source was reading); re-create it, or use ?create_group=true`,
          { scheme: SCHEME, host: this.host, retryable: false, cause: error },
        );
      }
      throw this.failure(`reading stream '${this.config.stream}' failed`, error);
    }
  }

  /**
   * XREADGROUP as this consumer of the group on `client`: at most `max` entries from `from` (`>`: never delivered), waiting
   * up to `block` ms for the first when given.
   */
  private async readGroup(client: Redis, max: number, from: string, block?: number): Promise<RawEntry[]> {
    const { stream, group, consumer } = this.config;
    const wait = block === undefined ? [] : ['BLOCK', String(Math.ceil(block))];
    const reply = await client.callBuffer('XREADGROUP', 'GROUP', group, consumer, 'COUNT', String(max), ...wait, 'STREAMS', stream, from);
    return entriesOf((reply as [Buffer, unknown][] | null)?.[0]?.[1]);
  }

  /** Entries this consumer name held when its last process stopped (a restart with the same ?consumer=). */
  private async readHistory(max: number): Promise<Delivery<StreamEntryToken>[]> {
    const entries = await this.readGroup(this.commands, max, this.historyFrom);
    if (entries.length === 0) {
      this.historyDone = true;
      return [];
    }
    this.historyFrom = entries[entries.length - 1][0].toString();
    const deliveries = await this.withDeliveryCounts(entries);
    if (deliveries.length > 0) {
      this.context?.logger.info(
        { entries: deliveries.length },
        `${SCHEME}: taking back ${deliveries.length} entries this consumer held before it restarted`,
      );
    }
    return deliveries;
  }

  /** Nacked entries whose delay is over, oldest first, at most `max`. */
  private dueRetries(max: number): string[] {
    if (this.retries.size === 0) return [];
    const now = Date.now();
    const due: string[] = [];
    for (const [entryId, at] of this.retries) {
      if (at > now) continue;
      due.push(entryId);
      this.retries.delete(entryId);
      if (due.length >= max) break;
    }
    return due;
  }

  /** XCLAIM `entryIds` to this consumer (counted as a delivery by Redis) and returns them with their counts. */
  private async claim(entryIds: string[]): Promise<Delivery<StreamEntryToken>[]> {
    const { stream, group, consumer } = this.config;
    let reply: unknown;
    try {
      reply = await this.commands.callBuffer('XCLAIM', stream, group, consumer, '0', ...entryIds);
    } catch (error) {
      // not claimed: they wait for the next try
      for (const entryId of entryIds) this.retries.set(entryId, Date.now());
      throw error;
    }
    const entries = entriesOf(reply);
    const returned = new Set(entries.map(([entryId]) => entryId.toString()));
    // an entry trimmed or deleted from the stream meanwhile cannot come back
    for (const entryId of entryIds) if (!returned.has(entryId)) this.held.delete(entryId);
    for (const [entryId] of entries) this.held.delete(entryId.toString());
    return this.withDeliveryCounts(entries);
  }

  /** One step of the sweep over the group's pending entries: those idle longer than claim_idle are taken over. */
  private async claimFromDeadConsumers(max: number): Promise<Delivery<StreamEntryToken>[]> {
    const { stream, group, consumer, claimIdleMs } = this.config;
    const reply = (await this.commands.callBuffer(
      'XAUTOCLAIM',
      stream,
      group,
      consumer,
      String(claimIdleMs),
      this.claimCursor,
      'COUNT',
      String(max),
    )) as [Buffer, unknown, unknown?];
    this.claimCursor = reply[0].toString();
    if (this.claimCursor === '0-0') {
      // a full sweep is over: the next one after a pause
      this.nextClaimAt = Date.now() + Math.min(5000, Math.max(50, Math.floor(claimIdleMs / 2)));
    }
    // entries this consumer holds itself (its refresh came late) are not delivered twice
    const entries = entriesOf(reply[1]).filter(([entryId]) => !this.held.has(entryId.toString()));
    const deliveries = await this.withDeliveryCounts(entries);
    if (deliveries.length > 0) {
      this.context?.logger.info(
        { entries: deliveries.length, claimIdleMs },
        `${SCHEME}: claimed ${deliveries.length} entries left pending longer than ${claimIdleMs} ms by another consumer (XAUTOCLAIM)`,
      );
    }
    return deliveries;
  }

  /** New entries, waiting for the first up to MAX_BLOCK_MS (less when a retry or a claim sweep is due sooner). */
  private async readNew(max: number, signal: AbortSignal): Promise<Delivery<StreamEntryToken>[]> {
    const { stream } = this.config;
    const now = Date.now();
    let block = Math.min(MAX_BLOCK_MS, Math.max(1, this.nextClaimAt - now));
    for (const at of this.retries.values()) block = Math.min(block, Math.max(1, at - now));
    const unblock = (): void => {
      // CLIENT UNBLOCK ends the BLOCK as a timeout would: no entry is taken and then lost
      if (this.readerId !== undefined) this.commands.client('UNBLOCK', this.readerId).catch(() => undefined);
    };
    signal.addEventListener('abort', unblock);
    this.readingNew = true;
    let entries: RawEntry[];
    try {
      entries = await this.readGroup(this.reader, max, '>', block);
    } finally {
      this.readingNew = false;
      signal.removeEventListener('abort', unblock);
    }
    const deliveries: Delivery<StreamEntryToken>[] = [];
    for (const [rawId, fields] of entries) {
      const entryId = rawId.toString();
      const token: StreamEntryToken = { entryId, deliveries: 1 };
      this.held.add(entryId);
      deliveries.push({ message: entryMessage(stream, entryId, fields ?? [], 1), token });
    }
    return deliveries;
  }

  /** Deliveries of entries delivered again, with Redis's delivery count of each (XPENDING, one round trip). */
  private async withDeliveryCounts(entries: RawEntry[]): Promise<Delivery<StreamEntryToken>[]> {
    const { stream, group } = this.config;
    const live = entries.filter(([, fields]) => fields !== null);
    const gone = entries.filter(([, fields]) => fields === null).map(([entryId]) => entryId.toString());
    // a pending entry deleted from the stream: nothing to deliver; acked so that it leaves the pending list
    if (gone.length > 0) this.queueAcks(gone);
    if (live.length === 0) return [];
    const pipeline = this.commands.pipeline();
    for (const [entryId] of live) pipeline.xpending(stream, group, entryId.toString(), entryId.toString(), 1);
    const results = (await pipeline.exec()) ?? [];
    return live.map(([rawId, fields], index) => {
      const entryId = rawId.toString();
      const [error, pending] = results[index] ?? [null, []];
      const row = error === null && Array.isArray(pending) ? (pending[0] as unknown[] | undefined) : undefined;
      const count = Number(row?.[3]);
      const deliveries = Number.isInteger(count) && count > 0 ? count : 2;
      this.held.add(entryId);
      return { message: entryMessage(stream, entryId, fields ?? [], deliveries), token: { entryId, deliveries } };
    });
  }

  ack(token: StreamEntryToken): void {
    this.held.delete(token.entryId);
    this.retries.delete(token.entryId);
    this.queueAcks([token.entryId]);
  }

  nack(token: StreamEntryToken, _error: Error): void {
    if (this.stopping || this.closed) {
      // left pending: this consumer takes it back after a restart with the same name, another one after claim_idle
      this.held.delete(token.entryId);
      return;
    }
    const delay = exponentialBackoff(this.config.nackDelayMs, token.deliveries, 60_000);
    this.retries.set(token.entryId, Date.now() + delay);
    if (this.readingNew && delay < MAX_BLOCK_MS && this.readerId !== undefined) {
      // a read blocked for longer than the delay would hold the retry back
      this.commands.client('UNBLOCK', this.readerId).catch(() => undefined);
    }
  }

  /** Acks of one tick go out as one XACK. */
  private queueAcks(entryIds: string[]): void {
    for (const entryId of entryIds) this.acks.push(entryId);
    if (this.ackFlush === undefined) this.ackFlush = Promise.resolve().then(() => this.flushAcks());
  }

  private async flushAcks(): Promise<void> {
    while (this.acks.length > 0) {
      const entryIds = this.acks;
      this.acks = [];
      try {
        await this.commands.xack(this.config.stream, this.config.group, ...entryIds);
      } catch (error) {
        // the entries stay pending: they are delivered again (after a restart, or a claim), never lost
        this.context?.stats.error('ack_failed', entryIds.length);
        noteFailure(
          this.logger,
          'ack_failed',
          { err: error, entries: entryIds.length },
          `${SCHEME}: XACK of ${entryIds.length} entries failed (${(error as Error).message}); they stay pending and will be delivered again`,
        );
      }
    }
    this.ackFlush = undefined;
  }

  /** Resets the idle time of the entries this consumer holds, so that no other consumer claims them while it lives. */
  private async refreshHeld(): Promise<void> {
    if (this.held.size === 0 || this.closed || this.commands.status !== 'ready') return;
    const { stream, group, consumer } = this.config;
    const entryIds = [...this.held];
    for (let start = 0; start < entryIds.length; start += REFRESH_CHUNK) {
      const chunk = entryIds.slice(start, start + REFRESH_CHUNK);
      // JUSTID: the idle time is reset and the delivery count left alone
      await this.commands
        .call('XCLAIM', stream, group, consumer, '0', ...chunk, 'JUSTID')
        .catch((error: Error) => this.logger.debug({ err: error }, `${SCHEME}: refreshing held entries failed: ${error.message}`));
    }
  }

  stopIntake(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.retries.clear();
    if (this.readerId !== undefined && this.readingNew) this.commands.client('UNBLOCK', this.readerId).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.stopIntake();
    this.closed = true;
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    try {
      await this.ackFlush;
      if (this.started && this.config.generatedConsumer && this.held.size === 0) await this.forgetConsumer();
    } finally {
      this.reader.disconnect();
      if (this.commands.status === 'ready') await this.commands.quit().catch(() => undefined);
      this.commands.disconnect();
    }
  }

  /** A made-up consumer name will never be used again: leave no empty consumer behind in the group. */
  private async forgetConsumer(): Promise<void> {
    const { stream, group, consumer } = this.config;
    try {
      const pending = await this.commands.xpending(stream, group, '-', '+', 1, consumer);
      if (pending.length === 0) await this.commands.xgroup('DELCONSUMER', stream, group, consumer);
    } catch (error) {
      this.logger.debug({ err: error }, `${SCHEME}: removing consumer '${consumer}' failed: ${(error as Error).message}`);
    }
  }
}
