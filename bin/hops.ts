// The hop count against message loops: every relay adds one to the `wasm-pipes-hops` metadata (a header on every
// broker that carries metadata), and a message that has already been relayed MAX_HOPS times is dead-lettered or
// dropped instead of going round for ever (the seed's HTTP -> NATS -> HTTP example circulated ~1 700 a second).
import type { MonoTypeOperatorFunction } from 'rxjs';
import type { Message } from '../lib/message';
import type { Sink } from '../lib/sink';
import type { Logger } from '../lib/logging/logger';
import { messageOperator } from '../lib/messageOperator';
import { deadLetterCopy } from '../lib/deadLetter';
import { RateLimitedWarning } from '../lib/logging/rateLimitedWarning';

/** The metadata name of the hop count; lower case, as HTTP delivers header names. */
export const HOPS_METADATA = 'wasm-pipes-hops';
export const DEFAULT_MAX_HOPS = 32;

export interface HopLimitOptions {
  /** Relays a message may go through; one that arrives with this many hops is not relayed again. */
  maxHops: number;
  /** Where a looping message goes; without it, the message is dropped (acked). */
  deadLetter?: Sink;
  /**
   * Whether a message without a count gets one. The bin says no when its only sinks are stdout:// or file://, which
   * no source reads back, so that their output does not change; a message that has a count always has it raised.
   */
  addCount: boolean;
  logger: Logger;
}

/** Raised into the dead letter's `dead-letter-reason`. */
export class HopLimitError extends Error {
  override readonly name = 'HopLimitError';
}

/** The metadata name that holds the count: the lower-case one, or any case a broker delivered. */
function hopsName(metadata: Readonly<Record<string, string>>): string | undefined {
  if (metadata[HOPS_METADATA] !== undefined) return HOPS_METADATA;
  for (const name in metadata) if (name.length === HOPS_METADATA.length && name.toLowerCase() === HOPS_METADATA) return name;
  return undefined;
}

/** Counts hops and stops loops; a message-aware step, so that what it drops is acked, never left unsettled. */
export function hopLimit(options: HopLimitOptions): MonoTypeOperatorFunction<Message> {
  const warning = new RateLimitedWarning(options.logger);
  return messageOperator('hopLimit', (message, output) => {
    const name = hopsName(message.metadata);
    if (name === undefined && !options.addCount) {
      output.emit(message);
      return;
    }
    // a count that is not a number (another program's header) counts as 0: relaying it is what was asked
    const text = name === undefined ? '0' : message.metadata[name];
    const hops = /^\d{1,9}$/.test(text) ? Number(text) : 0;
    if (hops >= options.maxHops) {
      const reason = `the message has been relayed ${hops} times (MAX_HOPS ${options.maxHops}): a loop between relays?`;
      if (options.deadLetter !== undefined) {
        output.stats.deadLettered++;
        options.deadLetter.next(deadLetterCopy(message, new HopLimitError(reason), 'hopLimit'));
      } else {
        output.stats.dropped++;
        message.ack();
      }
      const action = options.deadLetter !== undefined ? 'sent to the dead letter' : 'dropped (acked)';
      warning.warn(
        { id: message.id, hops, maxHops: options.maxHops },
        `${reason} ${action}; raise MAX_HOPS if the chain is that long on purpose`,
      );
      return;
    }
    const metadata: Record<string, string> = { ...message.metadata };
    if (name !== undefined && name !== HOPS_METADATA) delete metadata[name];
    metadata[HOPS_METADATA] = String(hops + 1);
    output.emit(message.with({ metadata }));
  });
}
