// The one driver model: the runtime owns the pull loop (never asking for more than the window has room for, backing off
// after a retryable failure, failing on a permanent one, ending on null) and the push buffer (delivering while there is
// room, in order, and giving back what waits when intake stops).
import { createSource, type Delivery, type SourceContext, type SourceDriver, type SourceOptions } from '../../lib/source';
import { start, type RunningPipeline } from '../../lib/run';
import { type Message } from '../../lib/message';
import type { Sink } from '../../lib/sink';
import { ConnectorError, ShutdownError } from '../../lib/errors';
import { capturingLogger, sleep, waitFor } from '../helpers/wait';

function holding(into: Message[]): Sink {
  return {
    name: 'holding',
    ready: true,
    next: (m) => void into.push(m),
    error: () => undefined,
    complete: () => undefined,
    close: async () => undefined,
  };
}

/**
 * Starts `driver` as a source named `uri`, with `options`, into a sink that keeps what it gets in `held`, unsettled
 * (the test settles); a stop gives what is still held 200 ms.
 */
function startHolding<T>(uri: string, driver: SourceDriver<T>, options: SourceOptions = {}): { held: Message[]; running: RunningPipeline } {
  const held: Message[] = [];
  const running = start(
    createSource(uri, () => driver, options),
    holding(held),
    { handleSignals: false, shutdownTimeout: 200 },
  );
  return { held, running };
}

/** A pull driver over an in-test list of bodies; records what it was asked. */
class ListPull implements SourceDriver<string> {
  readonly scheme = 'list';
  readonly asked: number[] = [];
  readonly acked: string[] = [];
  readonly nacked: string[] = [];
  failures: Error[] = [];
  inFlightCalls = 0;
  maxInFlightCalls = 0;
  constructor(
    private readonly items: string[],
    readonly maxBatch?: number,
    readonly receivers?: number,
    private readonly end = false,
  ) {}
  start(): void {}
  async receiveBatch(max: number, signal: AbortSignal): Promise<readonly Delivery<string>[] | null> {
    this.asked.push(max);
    this.inFlightCalls++;
    this.maxInFlightCalls = Math.max(this.maxInFlightCalls, this.inFlightCalls);
    try {
      await sleep(5);
      const failure = this.failures.shift();
      if (failure) throw failure;
      if (this.items.length === 0) {
        if (this.end) return null;
        await new Promise((resolve) => (signal.aborted ? resolve(undefined) : signal.addEventListener('abort', resolve)));
        return [];
      }
      return this.items.splice(0, max).map((body) => ({ message: { id: body, body }, token: body }));
    } finally {
      this.inFlightCalls--;
    }
  }
  ack(token: string): void {
    this.acked.push(token);
  }
  nack(token: string): void {
    this.nacked.push(token);
  }
  async close(): Promise<void> {}
}

const bodies = (count: number): string[] => Array.from({ length: count }, (_, i) => `m${i}`);

describe('pull drivers', () => {
  test('are never asked for more than the room in the window, nor more than their maxBatch', async () => {
    const driver = new ListPull(bodies(50), 4);
    const { held, running } = startHolding('list://', driver, { maxInFlight: 10 });
    await waitFor(() => held.length === 10, 'a full window');
    await sleep(50);
    expect(held).toHaveLength(10);
    expect(Math.max(...driver.asked)).toBeLessThanOrEqual(4);
    for (const message of held.splice(0, 3)) message.ack();
    await waitFor(() => held.length === 10, 'three more');
    await running.stop();
  });

  test('several receivers ask at once, together never more than the room', async () => {
    const driver = new ListPull(bodies(200), 10, 3);
    const { held, running } = startHolding('list://', driver, { maxInFlight: 100 });
    await waitFor(() => held.length === 100, 'a full window');
    expect(driver.maxInFlightCalls).toBeGreaterThan(1);
    expect(driver.maxInFlightCalls).toBeLessThanOrEqual(3);
    await running.stop();
  });

  test('a retryable failure is logged and tried again after a backoff; a permanent one fails the source', async () => {
    const { logger, lines } = capturingLogger();
    const driver = new ListPull(bodies(3));
    driver.failures.push(new ConnectorError('the service hiccupped', { scheme: 'list' }));
    const { held, running } = startHolding('list://', driver, { logger });
    await waitFor(() => held.length === 3, 'the messages after the failure');
    expect(lines().some((line) => line.level === 40 && line.msg.includes('receiving failed: list: the service hiccupped'))).toBe(true);
    await running.stop();

    const broken = new ListPull(bodies(3));
    broken.failures.push(new ConnectorError('no such list', { scheme: 'list', retryable: false }));
    const failing = start(
      createSource('list://', () => broken),
      holding([]),
      { handleSignals: false },
    );
    await expect(failing.done).rejects.toThrow('no such list');
  });

  test('null ends the input: the source completes once every message is settled', async () => {
    const driver = new ListPull(bodies(3), undefined, undefined, true);
    const running = start(
      createSource('list://', () => driver),
      { ...holding([]), next: (m: Message) => m.ack() },
      { handleSignals: false },
    );
    await running.done;
    expect(driver.acked).toEqual(['m0', 'm1', 'm2']);
  });
});

/** A push driver: the test pushes through the context it was given. */
class Pushing implements SourceDriver<string> {
  readonly scheme = 'push';
  context: SourceContext<string> | undefined;
  readonly nacked: [string, Error][] = [];
  start(context: SourceContext<string>): void {
    this.context = context;
  }
  push(body: string): void {
    this.context?.push({ id: body, body }, body);
  }
  ack(): void {}
  nack(token: string, error: Error): void {
    this.nacked.push([token, error]);
  }
  async close(): Promise<void> {}
}

describe('push drivers', () => {
  test('what arrives while the window is full waits in the runtime, in order, and goes in as room comes back', async () => {
    const driver = new Pushing();
    const { held, running } = startHolding('push://', driver, { maxInFlight: 2 });
    await running.started;
    for (const body of bodies(5)) driver.push(body);
    expect(held.map((m) => m.id)).toEqual(['m0', 'm1']);
    expect(driver.context?.buffered).toBe(3);
    held[0].ack();
    held[1].ack();
    expect(held.map((m) => m.id)).toEqual(['m0', 'm1', 'm2', 'm3']);
    // stopping: what still waits was never received, and goes back to the service
    await running.stop();
    expect(driver.nacked.map(([token]) => token)).toContain('m4');
    expect(driver.nacked.find(([token]) => token === 'm4')?.[1]).toBeInstanceOf(ShutdownError);
    expect(running.stats().received).toBe(4);
  });
});
