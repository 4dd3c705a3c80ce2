// What the NATS and RabbitMQ links share: the first connection, retried with a doubling delay until a deadline
// (NATS_CONNECT_TIMEOUT, RABBIT_CONNECT_TIMEOUT), a sleep between attempts that closing the link cuts short, and the
// error log of why a link cannot connect, once per distinct reason (a refused password retried on every write
// would otherwise fill the log, or, at debug, never reach it). And what the MQTT and Redis clients share: the wait for
// the first connection of a client that reconnects by itself (mqtt.js, ioredis).
import { ConnectorError } from '../errors';
import { exponentialBackoff } from '../backoff';
import type { Logger } from '../logging/logger';

/** Delay before the second attempt; it doubles after each failure, up to MAX_RETRY_DELAY_MS. */
const FIRST_RETRY_DELAY_MS = 200;
const MAX_RETRY_DELAY_MS = 2000;
/** Distinct reasons remembered; beyond it the oldest is forgotten (and would be logged again). */
const MAX_REASONS = 100;

/** A sleep that wake() ends at once (a link closed while it waits to try again). */
export class WakeableSleep {
  private wakeSleeper: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeSleeper = done;
    });
  }

  wake(): void {
    this.wakeSleeper?.();
  }
}

/** Logs a connection failure at error the first time its reason is seen, and at debug after that. */
export class DistinctReasonLog {
  private readonly seen = new Set<string>();

  constructor(private readonly logger: Logger) {}

  error(error: Error, fields: Record<string, unknown> = {}): void {
    const reason = error.message;
    if (this.seen.has(reason)) {
      this.logger.debug({ ...fields, err: error }, reason);
      return;
    }
    if (this.seen.size >= MAX_REASONS) this.seen.delete(this.seen.values().next().value as string);
    this.seen.add(reason);
    this.logger.error({ ...fields, err: error }, reason);
  }
}

export interface ConnectRetryOptions<T> {
  /** When to stop trying (Date.now() based). */
  deadline: number;
  sleeper: WakeableSleep;
  /** One attempt, allowed `timeoutMs`; a ConnectorError it throws ends the retries at once. */
  attempt(timeoutMs: number): Promise<T>;
  /** Whether the link was closed meanwhile: the retries end with `closedError()`. */
  closed(): boolean;
  closedError(): Error;
  /** The error for a failure that retrying cannot fix (refused credentials), else undefined. */
  refused(error: unknown, reason: string): Error | undefined;
  /** The error once the next attempt would start after the deadline. */
  gaveUp(error: unknown, reason: string): Error;
  /** Told that an attempt failed and another follows; at most once every 5 s. */
  warn(reason: string): void;
}

/** Attempts a connection until one succeeds, waiting 200 ms, then twice as long each time up to 2 s, in between. */
export async function connectWithRetry<T>(options: ConnectRetryOptions<T>): Promise<T> {
  const { deadline } = options;
  let warned = 0;
  for (let failures = 1; ; failures++) {
    if (options.closed()) throw options.closedError();
    try {
      return await options.attempt(Math.max(1000, Math.min(10_000, deadline - Date.now())));
    } catch (error) {
      if (error instanceof ConnectorError) throw error;
      const reason = (error as Error).message;
      const refused = options.refused(error, reason);
      if (refused !== undefined) throw refused;
      const delay = exponentialBackoff(FIRST_RETRY_DELAY_MS, failures, MAX_RETRY_DELAY_MS);
      if (Date.now() + delay > deadline) throw options.gaveUp(error, reason);
      if (Date.now() - warned > 5000) {
        warned = Date.now();
        options.warn(reason);
      }
      await options.sleeper.sleep(delay);
    }
  }
}

/** The events of such a client, as far as the wait needs them (mqtt.js types its own, ioredis has node's). */
export interface ConnectingClient {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

export interface FirstConnectionOptions<T> {
  scheme: string;
  /** The server, as the errors and the log name it. */
  host: string;
  /** `source` or `sink`, for the log. */
  role: string;
  logger: Logger;
  /** The event that says the client is connected, and what the wait resolves to from its arguments. */
  connectedEvent: string;
  connected(...args: unknown[]): T;
  /** How long to wait, and the variable that sets it. */
  timeoutMs: number;
  timeoutVariable: string;
  /** The ConfigError for an error that retrying cannot fix (refused credentials), else undefined. */
  refused(error: Error): Error | undefined;
  /** Stops the client, and its reconnecting, once the wait failed. */
  abandon(): void;
}

/**
 * Resolves once `client`, which reconnects by itself, emits `connectedEvent`. Until then each distinct reason it
 * cannot connect is logged; a refusal fails the wait at once (a ConfigError: exit 2 in the bin), and so does the
 * client ending; after `timeoutMs` it fails with a ConnectorError that gives the last reason. A failed wait abandons
 * the client.
 */
export function firstConnection<T>(client: ConnectingClient, options: FirstConnectionOptions<T>): Promise<T> {
  const { scheme, host } = options;
  const reasons = new DistinctReasonLog(options.logger);
  return new Promise<T>((resolve, reject) => {
    let lastError: Error | undefined;
    const finish = (outcome: { value: T } | { error: Error }): void => {
      clearTimeout(timer);
      client.off(options.connectedEvent, onConnected);
      client.off('error', onError);
      client.off('end', onEnd);
      if ('value' in outcome) resolve(outcome.value);
      else {
        options.abandon();
        reject(outcome.error);
      }
    };
    const onConnected = (...args: unknown[]): void => finish({ value: options.connected(...args) });
    // closed while connecting (the pipeline stopped during its start)
    const onEnd = (): void => finish({ error: new ConnectorError('closed before it connected', { scheme, host, retryable: false }) });
    const onError = (reported: unknown): void => {
      const error = reported as Error; // what both clients emit
      lastError = error;
      const refused = options.refused(error);
      if (refused !== undefined) finish({ error: refused });
      else reasons.error(new Error(`${scheme} ${options.role} cannot connect to ${host}: ${error.message}; trying again`));
    };
    const timer = setTimeout(() => {
      const reason = lastError ? `: ${lastError.message}` : '';
      finish({
        error: new ConnectorError(`could not connect within ${options.timeoutVariable} (${options.timeoutMs} ms)${reason}`, {
          scheme,
          host,
          retryable: false,
          cause: lastError,
        }),
      });
    }, options.timeoutMs);
    client.on(options.connectedEvent, onConnected);
    client.on('error', onError);
    client.on('end', onEnd);
  });
}
