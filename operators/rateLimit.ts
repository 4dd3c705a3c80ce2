import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { LRUCache } from 'lru-cache';
import { markStage, type Message } from '../lib/message';
import { parseRate } from '../lib/tokenBucket';
import { ConfigError } from '../lib/errors';
import { linkObserver } from '../lib/source';
import { openStage, closeStage } from '../lib/metrics';
import { Fifo } from '../lib/fifo';
import { equalJitter, exponentialBackoff } from '../lib/backoff';
import type { Cache } from '../lib/cache/types';
import { noteFailure } from '../lib/deadLetter';
import { rootLogger } from '../lib/logging/logger';

export interface RateLimitOptions {
  /** The rate: `1000/s`, `60/m`, `10/100ms`, or messages per second as a number. */
  rate: string | number;
  /** Most messages let through at once after a quiet spell. Default: one second's worth (at least 1). */
  burst?: number;
  /** A rate per key: messages whose `key` returns different values are limited separately (undefined: the shared one). */
  key?: (message: Message) => string | undefined;
  /**
   * A cache several processes share (`cache('redis://...')`): the rate is then shared by every copy of the pipeline
   * using it, on the cache server's clock. Without it, the rate is this process's.
   */
  shared?: Cache;
  /** The name of the limit in the shared cache (so that pipelines limiting different things do not mix). Default `rate`. */
  sharedName?: string;
  /** The name in stats and /metrics. Default `rateLimit`. */
  name?: string;
}

/** Most distinct keys whose schedules are kept in this process (the least recently used are forgotten). */
const MAX_KEYS = 10_000;
/**
 * How late a timer (or a round trip to the shared cache) may be made up: a lane that fell this far behind its schedule
 * may send what it owes at once, so that the average rate holds; one further behind (idle) starts afresh, with `burst`.
 */
export const RATE_CATCH_UP_MS = 100;
/** Most tokens asked of a shared bucket in one request. */
const MAX_SHARED_TAKE = 256;
const ALL = '';

interface Lane {
  readonly key: string;
  readonly waiting: Fifo<Message>;
  timer: NodeJS.Timeout | undefined;
  /** A request to the shared bucket is on its way. */
  asking: boolean;
  failures: number;
}

/**
 * Lets messages through at most at `rate`: a token bucket that holds messages (never drops them) until their turn.
 * Messages held here still count against their source's credit window, so a source slows down to the rate instead of
 * filling memory. With `key`, each key has its own rate; with `shared` (a Redis cache), every process using that cache
 * shares the rate. Order is kept (per key with `key`).
 *
 * @example
 * import { source, sink, run, cache } from 'wasm-pipes';
 * import { rateLimit } from 'wasm-pipes/operators';
 *
 * // at most 50 requests a second to the partner's API, shared by every copy of this relay
 * await run(
 *   source('nats://orders?queue=relay').pipe(rateLimit({ rate: '50/s', shared: cache('redis://127.0.0.1:6379/0') })),
 *   sink('http://127.0.0.1:8080/orders'),
 * );
 *
 * @see batchMessages
 */
export function rateLimit(options: RateLimitOptions): MonoTypeOperatorFunction<Message> {
  const perSecond = typeof options.rate === 'number' ? options.rate : parseRate(options.rate, 'rateLimit rate').perSecond;
  if (!(Number.isFinite(perSecond) && perSecond > 0)) {
    throw new ConfigError(`rate must be above 0, like '1000/s', not ${String(options.rate)}`, { variable: 'rateLimit' });
  }
  const burst = options.burst ?? Math.max(1, Math.floor(perSecond));
  if (!(Number.isFinite(burst) && burst >= 1)) {
    throw new ConfigError(`burst must be at least 1, not ${String(options.burst)}`, { variable: 'rateLimit' });
  }
  const shared = options.shared;
  if (shared !== undefined && shared.takeTokens === undefined) {
    throw new ConfigError(`the shared rate needs a cache several processes share (redis://), not ${shared.name}`, {
      variable: 'rateLimit',
    });
  }
  const keyOf = options.key;
  const name = options.name ?? 'rateLimit';
  const sharedName = `ratelimit:${options.sharedName ?? 'rate'}:`;
  const logger = rootLogger().child({ stage: name });

  return (upstream) =>
    new Observable<Message>((subscriber) => {
      const stats = openStage('operator', name);
      // the schedule of each key (GCRA): the time its next message is due; `burst` lets that many through at once
      const due = new LRUCache<string, { at: number }>({ max: MAX_KEYS });
      const interval = 1000 / perSecond;
      const tolerance = (burst - 1) * interval;
      const lanes = new Map<string, Lane>();
      let upstreamDone = false;
      let stopped = false;

      const scheduleOf = (key: string, now: number): { at: number } => {
        let schedule = due.get(key);
        if (schedule === undefined) {
          schedule = { at: now };
          due.set(key, schedule);
        }
        // idle for longer than a late timer explains: start afresh (the burst, not everything owed since)
        if (schedule.at < now - RATE_CATCH_UP_MS) schedule.at = now;
        return schedule;
      };

      const emit = (message: Message): void => {
        // settled while it waited (timed out, nacked by a shutdown): nothing to send
        if (message.settled) return;
        stats.emitted++;
        markStage(message, name);
        subscriber.next(message);
      };

      const finishLane = (lane: Lane): void => {
        if (lane.waiting.length > 0 || lane.timer !== undefined || lane.asking) return;
        lanes.delete(lane.key);
        if (upstreamDone && lanes.size === 0 && !stopped) subscriber.complete();
      };

      const later = (lane: Lane, ms: number): void => {
        lane.timer = setTimeout(() => {
          lane.timer = undefined;
          drain(lane);
        }, ms);
      };

      const drainLocal = (lane: Lane): void => {
        const now = performance.now();
        const schedule = scheduleOf(lane.key, now);
        while (lane.waiting.length > 0) {
          const early = schedule.at - tolerance - now;
          if (early > 0) {
            later(lane, Math.max(1, Math.ceil(early)));
            return;
          }
          // the next one is due an interval after this one was due, not after now: a late timer is made up
          schedule.at += interval;
          emit(lane.waiting.shift() as Message);
        }
      };

      const drainShared = (lane: Lane): void => {
        if (lane.asking || lane.waiting.length === 0) return;
        lane.asking = true;
        const wanted = Math.min(lane.waiting.length, MAX_SHARED_TAKE, burst);
        (shared as Required<Pick<Cache, 'takeTokens'>>).takeTokens(sharedName + lane.key, perSecond, burst, wanted, RATE_CATCH_UP_MS).then(
          ({ taken, waitMs }) => {
            lane.asking = false;
            lane.failures = 0;
            if (stopped) return;
            for (let i = 0; i < taken && lane.waiting.length > 0; i++) emit(lane.waiting.shift() as Message);
            if (lane.waiting.length > 0) {
              if (taken === 0) later(lane, waitMs);
              else drainShared(lane);
            }
            finishLane(lane);
          },
          (error: unknown) => {
            lane.asking = false;
            if (stopped) return;
            // the messages wait (they are not dropped); the cache is asked again after a backoff
            lane.failures++;
            stats.error('shared_rate');
            const delay = equalJitter(exponentialBackoff(100, lane.failures, 5000));
            noteFailure(
              logger,
              'shared_rate',
              { err: error, delayMs: Math.round(delay) },
              `the shared rate could not be read from ${(shared as Cache).name}; asking again in ${Math.round(delay)} ms`,
            );
            later(lane, delay);
          },
        );
      };

      const drain = (lane: Lane): void => {
        if (stopped) return;
        if (shared === undefined) drainLocal(lane);
        else drainShared(lane);
        finishLane(lane);
      };

      const subscription = upstream.subscribe(
        linkObserver<Message>(subscriber, {
          next(message) {
            stats.received++;
            let key = ALL;
            if (keyOf !== undefined) {
              try {
                key = keyOf(message) ?? ALL;
              } catch (error) {
                stats.nacked++;
                stats.error('handler');
                message.nack(error as Error);
                return;
              }
            }
            let lane = lanes.get(key);
            if (lane === undefined) {
              lane = { key, waiting: new Fifo<Message>(), timer: undefined, asking: false, failures: 0 };
              lanes.set(key, lane);
            }
            lane.waiting.push(message);
            // a lane that waits for its timer or the shared cache goes on from there
            if (lane.timer === undefined && !lane.asking) drain(lane);
          },
          error: (error) => subscriber.error(error),
          complete: () => {
            upstreamDone = true;
            if (lanes.size === 0) subscriber.complete();
          },
        }),
      );
      return () => {
        stopped = true;
        for (const lane of lanes.values()) if (lane.timer !== undefined) clearTimeout(lane.timer);
        subscription.unsubscribe();
        closeStage(stats);
      };
    });
}
