// Sources and sinks in tests: writing messages through a sink and waiting for each outcome, and the endpoints a test
// file opens with a shared environment, closed after each test.
import type { Subscription } from 'rxjs';
import { source, sink } from '../../lib/endpoints';
import { Message, type MessageInit } from '../../lib/message';
import type { Sink } from '../../lib/sink';
import { sleep, waitFor } from './wait';

/** Writes one message through `target`; resolves with its outcome once settled (undefined = confirmed). */
export function write(target: { next(message: Message): void }, init: MessageInit): Promise<Error | undefined> {
  return new Promise((resolve) => target.next(Message.create(init, (error) => resolve(error))));
}

/** Writes messages through `target`; resolves with each one's outcome once all are settled. */
export function send(target: { next(message: Message): void }, inits: readonly MessageInit[]): Promise<(Error | undefined)[]> {
  return Promise.all(inits.map((init) => write(target, init)));
}

/**
 * A sink for `start()` that keeps every message it gets, in order, in `received` (or in the array given), and hands
 * each to `onMessage`: by default nothing, the test settles them; `(message) => message.ack()` confirms each at once.
 */
export function collectingSink(
  onMessage: (message: Message) => void = () => undefined,
  received: Message[] = [],
): Sink & { received: Message[] } {
  return {
    name: 'collector',
    ready: true,
    received,
    next: (message) => {
      received.push(message);
      onMessage(message);
    },
    error: () => undefined,
    complete: () => undefined,
    close: async () => undefined,
  };
}

/**
 * Sends an HTTP request to a source and checks that its answer is held back: once `arrived()` (the message reached the
 * sink) and 100 ms more, none has come. `response` is the answer still to come.
 */
export async function heldRequest(url: string, init: RequestInit, arrived: () => boolean): Promise<{ response: Promise<Response> }> {
  let answered = false;
  const response = fetch(url, init).then((r) => {
    answered = true;
    return r;
  });
  await waitFor(arrived, 'the message at the sink');
  await sleep(100);
  expect(answered).toBe(false);
  return { response };
}

/**
 * The sources and sinks of a test file, opened with one environment (the broker's URL). `closeAll()`, in afterEach,
 * unsubscribes every source and closes every sink; `subscriptions` and `sinks` take others opened by hand.
 */
export class TestEndpoints {
  readonly subscriptions: Subscription[] = [];
  readonly sinks: Sink[] = [];

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  /** Subscribes to `uri`; what it emits is kept, unsettled, in the returned array. */
  readonly collect = (uri: string, options: Parameters<typeof source>[1] = {}): Message[] => {
    const received: Message[] = [];
    this.subscriptions.push(source(uri, { env: this.env, ...options }).subscribe((message) => received.push(message)));
    return received;
  };

  readonly openSink = (uri: string, options: Parameters<typeof sink>[1] = {}): Sink => {
    const opened = sink(uri, { env: this.env, ...options });
    this.sinks.push(opened);
    return opened;
  };

  unsubscribeAll(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
  }

  async closeAll(): Promise<void> {
    this.unsubscribeAll();
    for (const opened of this.sinks.splice(0)) await opened.close();
  }
}
