// Sources and sinks in tests: writing messages through a sink and waiting for each outcome.
import { Message, MessageInit } from '../../lib/message';

/** Writes one message through `target`; resolves with its outcome once settled (undefined = confirmed). */
export function write(target: { next(message: Message): void }, init: MessageInit): Promise<Error | undefined> {
  return new Promise((resolve) => target.next(Message.create(init, (error) => resolve(error))));
}

/** Writes messages through `target`; resolves with each one's outcome once all are settled. */
export function send(target: { next(message: Message): void }, inits: readonly MessageInit[]): Promise<(Error | undefined)[]> {
  return Promise.all(inits.map((init) => write(target, init)));
}
