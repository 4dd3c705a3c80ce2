// What the conformance suite needs of its test runner and of the library: the runner's globals (looked up when
// conformance() is called, so that importing this package never needs jest), waiting for conditions, and writing
// messages through a sink while keeping each one's outcome.
import { Message, type MessageInit } from '../message';
import type { Sink } from '../sink';

type Body = () => void | Promise<void>;

/** The globals of jest (and of runners that copy them, such as vitest with `globals: true`) that the suite calls. */
export interface TestRunner {
  describe(name: string, body: () => void): void;
  test: (name: string, body: Body, timeoutMs?: number) => void;
  beforeAll: (body: Body, timeoutMs?: number) => void;
  afterAll: (body: Body, timeoutMs?: number) => void;
  beforeEach: (body: Body, timeoutMs?: number) => void;
  afterEach: (body: Body, timeoutMs?: number) => void;
}

const RUNNER_GLOBALS = ['describe', 'test', 'beforeAll', 'afterAll', 'beforeEach', 'afterEach'] as const;

/** The running test framework's globals; a clear error when conformance() is called outside a test file. */
export function testRunner(): TestRunner {
  const scope = globalThis as unknown as Partial<Record<(typeof RUNNER_GLOBALS)[number], unknown>>;
  const absent = RUNNER_GLOBALS.filter((name) => typeof scope[name] !== 'function');
  if (absent.length > 0) {
    throw new Error(
      `conformance() declares tests, so it must be called from a test file run by jest (or a runner with jest's globals, ` +
        `such as vitest with globals: true); missing globals: ${absent.join(', ')}`,
    );
  }
  return scope as unknown as TestRunner;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Resolves once `condition` holds, asking again every `everyMs`; rejects naming `what` after `timeoutMs`. Every wait
 * of the suite is for a condition, so that a loaded machine makes it slower, never wrong.
 */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs: number, everyMs = 10): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= giveUpAt) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Writes each message through `target`; resolves with the outcomes once every one is settled (undefined = confirmed). */
export function writeAll(target: Pick<Sink, 'next'>, messages: readonly MessageInit[]): Promise<(Error | undefined)[]> {
  return Promise.all(messages.map((init) => new Promise<Error | undefined>((settled) => target.next(Message.create(init, settled)))));
}

/** A sink for start() that keeps what it is given, in order, and passes each message to `onMessage` (to settle it). */
export function holdingSink(received: Message[], onMessage?: (message: Message) => void): Sink {
  return {
    name: 'conformance',
    ready: true,
    next: (message) => {
      received.push(message);
      onMessage?.(message);
    },
    error: () => undefined,
    complete: () => undefined,
    close: async () => undefined,
  };
}

/** The first error in `error`'s cause chain named `name` (the class may come from another copy of the package). */
export function errorNamed(error: unknown, name: string): Error | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 10; current = current.cause, depth++) {
    if (current.name === name) return current;
  }
  return undefined;
}

/** Active handles by type, to prove that a closed pipeline leaves nothing open. */
export function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** The handle types of which there are more now than in `baseline`. */
export function extraResources(baseline: ReadonlyMap<string, number>): string[] {
  const extra: string[] = [];
  for (const [type, count] of resourceCounts()) {
    const more = count - (baseline.get(type) ?? 0);
    if (more > 0) extra.push(`${type} x${more}`);
  }
  return extra;
}

/** A name unique to this process and moment, for the suite's own mem:// topics. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e9).toString(36)}`;
}
