// Where a failed message goes, decided in one place for every stage (source, operator, sink): the dead-letter sink
// when one is configured (the original is acked once the dead letter confirms the copy), else a nack so that the
// source redelivers it. Both are counted on the stage and logged at warn, rate-limited per stage and kind.
import { type Message } from './message';
import type { Sink } from './sink';
import type { Logger } from './logging/logger';
import type { StageMetrics } from './metrics';

export const DEAD_LETTER_REASON = 'dead-letter-reason';
export const DEAD_LETTER_ORIGIN = 'dead-letter-origin';
export const DEAD_LETTER_TIME = 'dead-letter-time';

/** The copy of a failed message for the dead letter: same body, key and settlement, plus metadata that says why. */
export function deadLetterCopy(message: Message, reason: Error, origin: string): Message {
  return message.with({
    metadata: {
      ...message.metadata,
      [DEAD_LETTER_REASON]: `${reason.name}: ${reason.message}`,
      [DEAD_LETTER_ORIGIN]: origin,
      [DEAD_LETTER_TIME]: new Date().toISOString(),
    },
  });
}

/** What failMessage() needs of the stage that gives up on a message. */
export interface FailureContext {
  /** The stage's name, written into the copy's `dead-letter-origin`. */
  readonly origin: string;
  readonly stats: StageMetrics;
  readonly logger: Logger;
  readonly deadLetter?: Sink;
}

/**
 * Gives up on `message` in this stage: to the dead letter when the context has one, else nacked. Returns what
 * happened, for callers that count more.
 */
export function failMessage(message: Message, reason: Error, context: FailureContext): 'deadLettered' | 'nacked' {
  if (context.deadLetter !== undefined) {
    context.stats.deadLettered++;
    noteFailure(
      context.logger,
      'dead_lettered',
      { id: message.id, reason: reason.message },
      `message ${message.id} sent to the dead letter: ${reason.message}`,
    );
    context.deadLetter.next(deadLetterCopy(message, reason, context.origin));
    return 'deadLettered';
  }
  context.stats.nacked++;
  noteFailure(
    context.logger,
    'nacked',
    { id: message.id, reason: reason.message },
    `message ${message.id} failed and was nacked: ${reason.message}`,
  );
  message.nack(reason);
  return 'nacked';
}

interface WarnWindow {
  start: number;
  written: number;
  suppressed: number;
  timer: NodeJS.Timeout | undefined;
}

/** At most this many warnings per logger and kind each second; the rest are counted and reported in one line. */
const WARNINGS_PER_SECOND = 5;
const windows = new WeakMap<Logger, Map<string, WarnWindow>>();

/**
 * Logs a failed message at warn, at most WARNINGS_PER_SECOND lines a second per logger (stage) and kind; past that,
 * lines are counted and one line says how many were left out, so that a burst of failures cannot flood the log.
 */
export function noteFailure(logger: Logger, kind: string, fields: Record<string, unknown>, text: string): void {
  let byKind = windows.get(logger);
  if (byKind === undefined) {
    byKind = new Map();
    windows.set(logger, byKind);
  }
  let window = byKind.get(kind);
  const now = Date.now();
  if (window === undefined) {
    window = { start: now, written: 0, suppressed: 0, timer: undefined };
    byKind.set(kind, window);
  }
  if (now - window.start >= 1000) {
    window.start = now;
    window.written = 0;
  }
  if (window.written < WARNINGS_PER_SECOND) {
    window.written++;
    logger.warn(fields, text);
    return;
  }
  window.suppressed++;
  if (window.timer === undefined) {
    const reported = window;
    reported.timer = setTimeout(() => {
      reported.timer = undefined;
      const count = reported.suppressed;
      reported.suppressed = 0;
      if (count > 0)
        logger.warn(
          { kind, suppressed: count },
          `${count} more message(s) ${kind.replace(/_/g, ' ')} in the last second (not logged one by one)`,
        );
    }, 1000);
    reported.timer.unref();
  }
}
