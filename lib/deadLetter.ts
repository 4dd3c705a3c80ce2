// The copy of a failed message that goes to the dead letter: same body, key and settlement (so the original is
// acked when the dead letter confirms it, and nacked when the dead letter fails too), plus metadata that says why.
import { Message } from './message';

export const DEAD_LETTER_REASON = 'dead-letter-reason';
export const DEAD_LETTER_ORIGIN = 'dead-letter-origin';
export const DEAD_LETTER_TIME = 'dead-letter-time';

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
