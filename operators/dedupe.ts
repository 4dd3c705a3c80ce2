import { randomBytes } from 'node:crypto';
import type { OperatorFunction } from 'rxjs';
import { type Message, observeSettlement } from '../lib/message';
import type { Cache, SyncCacheOperations } from '../lib/cache/types';
import { parseDuration } from '../lib/config';
import { ConfigError } from '../lib/errors';
import { rootLogger } from '../lib/logging/logger';
import { concurrentMessages, DEFAULT_OPERATOR_CONCURRENCY, type MessageHandlerResult } from '../lib/concurrentMessages';

export interface DedupeOptions {
  /** What makes two messages the same (an event id); undefined or null passes the message on unchecked. */
  key: (message: Message) => string | undefined | null;
  /** How long a key is remembered after its message was delivered (`10m`, or ms). */
  ttl: number | string;
  /**
   * How long a claim by a message still on its way may block copies in other processes: after a crash, its copies
   * pass once this is over. Keep it above the pipeline's ackTimeout. Default 2m.
   */
  pendingTtl?: number | string;
  /** Prepended to the keys in the cache, so that dedupe never collides with cacheSet data. Default `dedupe:`. */
  prefix?: string;
  /** Checks in progress at once (asynchronous caches). Default 128. */
  concurrency?: number;
  /** The stage name in ackTimeout warnings. Default `dedupe`. */
  name?: string;
}

type Verdict = 'claimed' | 'seen' | 'busy';
type Step = { op: 'add' | 'set'; value: Buffer; ttlMs: number } | { op: 'get' };
type StepResult = boolean | Buffer | undefined | void;

const DONE = Buffer.from('done');
const PENDING_PREFIX = 'pending:';
const DEFAULT_PENDING_TTL_MS = 120_000;

function pendingValue(instance: string): Buffer {
  return Buffer.from(`${PENDING_PREFIX}${instance}:${Date.now()}`);
}

function parsePending(value: Buffer): { instance: string; at: number } | undefined {
  const text = value.toString('latin1');
  if (!text.startsWith(PENDING_PREFIX)) return undefined;
  const separator = text.lastIndexOf(':');
  return { instance: text.slice(PENDING_PREFIX.length, separator), at: Number(text.slice(separator + 1)) };
}

/**
 * The claim protocol, written once for synchronous and asynchronous caches: `add` a pending claim; if the key is
 * there already, a delivered key ("done", or any value not written by dedupe) means a duplicate, a fresh claim by
 * another process means "busy" (that copy may still fail), and a claim of our own that we no longer track, or one
 * older than pendingTtl (its process crashed), is taken over.
 */
function* claim(instance: string, pendingTtlMs: number): Generator<Step, Verdict, StepResult> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const pending = pendingValue(instance);
    if ((yield { op: 'add', value: pending, ttlMs: pendingTtlMs }) === true) return 'claimed';
    const current = (yield { op: 'get' }) as Buffer | undefined;
    if (current === undefined) continue; // expired or released in between: try again
    const holder = parsePending(current);
    if (holder === undefined) return 'seen';
    if (holder.instance === instance || !(Date.now() - holder.at < pendingTtlMs)) {
      yield { op: 'set', value: pending, ttlMs: pendingTtlMs };
      return 'claimed';
    }
    return 'busy';
  }
  return 'busy';
}

function runSync(steps: Generator<Step, Verdict, StepResult>, sync: SyncCacheOperations, key: string): Verdict {
  let next = steps.next();
  while (!next.done) {
    const step = next.value;
    const result =
      step.op === 'add' ? sync.add(key, step.value, step.ttlMs) : step.op === 'get' ? sync.get(key) : sync.set(key, step.value, step.ttlMs);
    next = steps.next(result);
  }
  return next.value;
}

async function runAsync(steps: Generator<Step, Verdict, StepResult>, cache: Cache, key: string): Promise<Verdict> {
  let next = steps.next();
  while (!next.done) {
    const step = next.value;
    const result =
      step.op === 'add'
        ? await cache.add(key, step.value, step.ttlMs)
        : step.op === 'get'
          ? await cache.get(key)
          : await cache.set(key, step.value, step.ttlMs);
    next = steps.next(result);
  }
  return next.value;
}

/** A key this process is delivering: copies that arrive meanwhile follow its outcome. */
interface Claim {
  readonly at: number;
  state: 'checking' | 'delivering' | 'acked' | 'nacked';
  followers: Message[];
}

/**
 * Passes the first message for each key and drops (acks) the copies that come within `ttl`. With a Redis or
 * NATS KV cache this holds across several pipeline processes. It keeps at-least-once: a key counts as seen only
 * once its first message was acked by the sinks; if that message fails, the claim is released and a redelivered
 * copy passes. Copies that arrive while the first is still on its way follow its outcome (in this process), or
 * are nacked for redelivery (when another process holds the claim). A failed check nacks that message only.
 *
 * @example
 * import { source, sink, run, cache } from 'wasm-pipes';
 * import { dedupe } from 'wasm-pipes/operators';
 *
 * const seen = cache('redis://127.0.0.1:6379/0');
 * await run(
 *   source('http://:9000/events').pipe(dedupe(seen, { key: (m) => m.json<{ id: string }>().id, ttl: '10m' })),
 *   sink('stdout://'),
 * );
 *
 * @see cacheLookup
 * @see cacheSet
 */
export function dedupe(cache: Cache, options: DedupeOptions): OperatorFunction<Message, Message> {
  const { key, prefix = 'dedupe:', concurrency = DEFAULT_OPERATOR_CONCURRENCY, name = 'dedupe' } = options;
  if (options.ttl === undefined) throw new ConfigError("dedupe needs a ttl, for example dedupe(cache, { key, ttl: '10m' })");
  const ttlMs = parseDuration(options.ttl, 'dedupe ttl');
  const pendingTtlMs = parseDuration(options.pendingTtl ?? DEFAULT_PENDING_TTL_MS, 'dedupe pendingTtl');
  if (ttlMs <= 0 || pendingTtlMs <= 0) throw new ConfigError("dedupe: ttl and pendingTtl must be more than 0, for example ttl: '10m'");
  const instance = `${process.pid.toString(36)}.${randomBytes(6).toString('hex')}`;
  const logger = rootLogger().child({ operator: name, cache: cache.name });
  const claims = new Map<string, Claim>();
  const sync = cache.sync;

  const end = (cacheKey: string, record: Claim): void => {
    if (claims.get(cacheKey) === record) claims.delete(cacheKey);
  };

  const settleFollowers = (record: Claim, error: Error | undefined): void => {
    const followers = record.followers;
    record.followers = [];
    for (const follower of followers) {
      if (error === undefined) follower.ack();
      else follower.nack(error);
    }
  };

  /** The first message was settled by the sinks: remember the key, or release it for a redelivered copy. */
  const delivered = (cacheKey: string, record: Claim, error: Error | undefined): void => {
    if (error === undefined) {
      record.state = 'acked';
      settleFollowers(record, undefined);
      if (sync !== undefined) {
        sync.set(cacheKey, DONE, ttlMs);
        end(cacheKey, record);
        return;
      }
      cache.set(cacheKey, DONE, ttlMs).then(
        () => end(cacheKey, record),
        (failure: unknown) => {
          // the pending claim stays until pendingTtl: copies may pass again after it (duplicates, never a loss)
          logger.debug({ err: failure, key: cacheKey }, 'dedupe could not mark a key as delivered');
          end(cacheKey, record);
        },
      );
      return;
    }
    record.state = 'nacked';
    const retry = new Error(`dedupe: the first copy of '${cacheKey}' failed (${error.message}); this copy will be redelivered`);
    if (sync !== undefined) {
      sync.delete(cacheKey);
      end(cacheKey, record);
      settleFollowers(record, retry);
      return;
    }
    cache.delete(cacheKey).then(
      () => {
        end(cacheKey, record);
        settleFollowers(record, retry);
      },
      (failure: unknown) => {
        // the claim stays until pendingTtl (or is taken over by this process); copies are retried meanwhile
        logger.debug({ err: failure, key: cacheKey }, 'dedupe could not release a claim');
        end(cacheKey, record);
        settleFollowers(record, retry);
      },
    );
  };

  const decide = (message: Message, cacheKey: string, record: Claim, verdict: Verdict): MessageHandlerResult => {
    if (verdict === 'claimed') {
      record.state = 'delivering';
      return observeSettlement(message, (error) => delivered(cacheKey, record, error));
    }
    end(cacheKey, record);
    if (verdict === 'seen') {
      logger.trace({ key: cacheKey, id: message.id }, 'dedupe dropped a copy');
      message.ack();
      settleFollowers(record, undefined);
    } else {
      const busy = new Error(
        `dedupe: an earlier copy of '${cacheKey}' is still on its way in another process; this copy will be redelivered`,
      );
      logger.debug({ key: cacheKey, id: message.id }, busy.message);
      message.nack(busy);
      settleFollowers(record, busy);
    }
    return null;
  };

  return concurrentMessages(
    name,
    (message) => {
      const id = key(message);
      if (id === undefined || id === null) return message;
      const cacheKey = prefix + id;
      const existing = claims.get(cacheKey);
      if (existing !== undefined && Date.now() - existing.at < pendingTtlMs) {
        if (existing.state === 'acked') message.ack();
        else existing.followers.push(message);
        return null;
      }
      const record: Claim = { at: Date.now(), state: 'checking', followers: [] };
      claims.set(cacheKey, record);
      if (sync !== undefined) {
        let verdict: Verdict;
        try {
          verdict = runSync(claim(instance, pendingTtlMs), sync, cacheKey);
        } catch (error) {
          end(cacheKey, record);
          throw error;
        }
        return decide(message, cacheKey, record, verdict);
      }
      return runAsync(claim(instance, pendingTtlMs), cache, cacheKey).then(
        (verdict) => decide(message, cacheKey, record, verdict),
        (error: unknown) => {
          end(cacheKey, record);
          settleFollowers(record, error instanceof Error ? error : new Error(String(error)));
          throw error;
        },
      );
    },
    concurrency,
  );
}
