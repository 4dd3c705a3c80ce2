// The conformance suite: one set of tests that every connector must pass, from mem:// to azuresb://. A connector
// test file calls conformanceSuite() with how to get fresh URIs and what the service can do.
import { Observable, Subscription } from 'rxjs';
import { Message } from '../../lib/message';
import { source, sink } from '../../lib/endpoints';
import { start } from '../../lib/run';
import type { SourceOptions } from '../../lib/source';
import type { Sink, SinkOptions } from '../../lib/sink';
import { sleep, waitFor } from '../helpers/wait';
import { send } from '../helpers/endpoints';

export interface ConformanceEndpoints {
  sourceUri: string;
  sinkUri: string;
  /** Deletes what the test created (queues, streams, files). */
  cleanup?(): Promise<void>;
}

export interface ConformanceTarget {
  name: string;
  /** Fresh, unique endpoints for one test. */
  endpoints(): Promise<ConformanceEndpoints>;
  /** Whether a nacked message comes back (false for core NATS, which is at most once). */
  redelivery: boolean;
  /** Whether the source must be subscribed before the sink writes (true for HTTP and core NATS). */
  subscribeFirst: boolean;
  /** Whether the message key survives the round trip. */
  keys?: boolean;
  /** Extra options for every source and sink of this target (env, timeouts). */
  sourceOptions?: SourceOptions;
  sinkOptions?: SinkOptions;
  /** How long to wait for deliveries (slow emulators). Default 10 s. */
  timeoutMs?: number;
  /** How long "nothing more arrives" is watched. Default 400 ms. */
  quietMs?: number;
  beforeAll?(): Promise<void>;
  afterAll?(): Promise<void>;
}

interface Collector {
  received: Message[];
  subscription: Subscription;
}

function collect(observable: Observable<Message>, autoAck: boolean): Collector {
  const received: Message[] = [];
  const subscription = observable.subscribe({
    next: (message) => {
      received.push(message);
      if (autoAck) message.ack();
    },
  });
  return { received, subscription };
}

/** Active handles by type, to prove that a closed pipeline leaves nothing open. */
function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

function extraResources(baseline: Map<string, number>): string[] {
  const extra: string[] = [];
  for (const [type, count] of resourceCounts()) {
    if (count > (baseline.get(type) ?? 0)) extra.push(`${type} x${count - (baseline.get(type) ?? 0)}`);
  }
  return extra;
}

export function conformanceSuite(target: ConformanceTarget): void {
  const timeout = target.timeoutMs ?? 10_000;
  const quiet = target.quietMs ?? 400;
  const sourceOptions = target.sourceOptions ?? {};
  const sinkOptions = target.sinkOptions ?? {};

  describe(`conformance: ${target.name}`, () => {
    let endpoints: ConformanceEndpoints;
    const toClose: { close(): Promise<void> }[] = [];
    const subscriptions: Subscription[] = [];

    beforeAll(async () => {
      await target.beforeAll?.();
    });
    afterAll(async () => {
      await target.afterAll?.();
    });
    beforeEach(async () => {
      endpoints = await target.endpoints();
    });
    afterEach(async () => {
      for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
      for (const closable of toClose.splice(0)) await closable.close();
      await endpoints.cleanup?.();
    });

    function openSink(): Sink {
      const opened = sink(endpoints.sinkUri, sinkOptions);
      toClose.push(opened);
      return opened;
    }

    function openCollector(options: SourceOptions, autoAck: boolean): Collector {
      const collector = collect(source(endpoints.sourceUri, { ...sourceOptions, ...options }), autoAck);
      subscriptions.push(collector.subscription);
      return collector;
    }

    /**
     * Sends `messages` and subscribes, in the order the service needs: subscribed first (HTTP, core NATS: the sink's
     * confirmation may wait for the consumer), or written first (files: the source reads what exists).
     */
    async function sendAndCollect(
      messages: Parameters<typeof send>[1],
      options: SourceOptions,
      autoAck: boolean,
    ): Promise<{ collector: Collector; outcomes: Promise<(Error | undefined)[]> }> {
      if (target.subscribeFirst) {
        const collector = openCollector(options, autoAck);
        await sleep(200);
        return { collector, outcomes: send(openSink(), messages) };
      }
      const outcomes = await send(openSink(), messages);
      expect(outcomes).toEqual(messages.map(() => undefined));
      return { collector: openCollector(options, autoAck), outcomes: Promise.resolve(outcomes) };
    }

    test('round trip: body, metadata (and key) arrive intact, and the sink confirms every write', async () => {
      const messages = Array.from({ length: 20 }, (_, i) => ({
        body: i === 0 ? Buffer.from([0, 1, 2, 250, 255]) : JSON.stringify({ n: i, text: `héllo ${i}` }),
        metadata: { 'x-conformance': `value-${i}`, 'content-type': i === 0 ? 'application/octet-stream' : 'application/json' },
        key: target.keys ? `key-${i % 3}` : undefined,
      }));
      const { collector, outcomes } = await sendAndCollect(messages, {}, true);
      expect(await outcomes).toEqual(messages.map(() => undefined));
      const received = collector.received;
      await waitFor(() => received.length >= messages.length, `${messages.length} messages`, timeout);
      const byBody = new Map(received.map((message) => [message.body.toString('base64'), message]));
      for (const sent of messages) {
        const body = Buffer.isBuffer(sent.body) ? sent.body : Buffer.from(sent.body);
        const got = byBody.get(body.toString('base64'));
        expect(got).toBeDefined();
        expect(got?.metadata['x-conformance']).toBe(sent.metadata['x-conformance']);
        if (target.keys) expect(got?.key).toBe(sent.key);
      }
    });

    test('ack: an acked message is not delivered again', async () => {
      const { collector, outcomes } = await sendAndCollect([{ body: 'once' }, { body: 'twice?' }], {}, true);
      expect(await outcomes).toEqual([undefined, undefined]);
      const received = collector.received;
      await waitFor(() => received.length >= 2, 'two messages', timeout);
      await sleep(quiet * 2);
      expect(received.map((message) => message.text()).sort()).toEqual(['once', 'twice?']);
    });

    if (target.redelivery) {
      test('nack: a nacked message is delivered again', async () => {
        const { collector, outcomes } = await sendAndCollect([{ body: 'retry me', metadata: { 'x-conformance': 'nack' } }], {}, false);
        const received = collector.received;
        await waitFor(() => received.length >= 1, 'the first delivery', timeout);
        received[0].nack(new Error('conformance: nack on purpose'));
        await waitFor(() => received.length >= 2, 'the redelivery', timeout);
        expect(received[1].text()).toBe('retry me');
        expect(received[1].metadata['x-conformance']).toBe('nack');
        received[1].ack();
        expect(await outcomes).toEqual([undefined]);
      });
    } else {
      test('nack: the source declares no redelivery (at most once), and a nacked message does not come back', async () => {
        const collector = openCollector({}, false);
        await sleep(200);
        expect(await send(openSink(), [{ body: 'at most once' }])).toEqual([undefined]);
        await waitFor(() => collector.received.length >= 1, 'the delivery', timeout);
        collector.received[0].nack(new Error('conformance: nack on purpose'));
        await sleep(quiet * 2);
        expect(collector.received).toHaveLength(1);
      });
    }

    test('credit: never more than maxInFlight unsettled messages, and one more per settlement', async () => {
      const maxInFlight = 5;
      const sent = Array.from({ length: 30 }, (_, i) => ({ body: `credit-${i}` }));
      const { collector, outcomes } = await sendAndCollect(sent, { maxInFlight }, false);
      const received = collector.received;
      await waitFor(() => received.length >= maxInFlight, `${maxInFlight} messages`, timeout);
      await sleep(quiet);
      expect(received).toHaveLength(maxInFlight);
      received[0].ack();
      await waitFor(() => received.length >= maxInFlight + 1, 'one more message after an ack', timeout);
      await sleep(quiet);
      expect(received).toHaveLength(maxInFlight + 1);
      // settle everything as it comes: all 30 arrive, the window never passes 5
      let acked = 1;
      let peak = 0;
      await waitFor(
        () => {
          const unsettled = received.filter((message) => !message.settled).length;
          peak = Math.max(peak, unsettled);
          for (const message of received) {
            if (!message.settled) {
              message.ack();
              acked++;
            }
          }
          return acked >= sent.length;
        },
        'all 30 messages',
        timeout * 2,
      );
      expect(peak).toBeLessThanOrEqual(maxInFlight);
      expect(new Set(received.map((message) => message.text())).size).toBe(sent.length);
      expect((await outcomes).every((error) => error === undefined)).toBe(true);
    });

    test('drain: stop() waits for in-flight messages to settle, takes nothing new, and completes', async () => {
      const written: Message[] = [];
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const slowSink: Sink = {
        name: 'slow',
        ready: true,
        next: (message) => {
          written.push(message);
          void released.then(() => message.ack());
        },
        error: () => undefined,
        complete: () => undefined,
        close: async () => undefined,
      };
      const out = openSink();
      const messages = Array.from({ length: 6 }, (_, i) => ({ body: `drain-${i}` }));
      let outcomes: Promise<(Error | undefined)[]> | undefined;
      if (!target.subscribeFirst) expect(await send(out, messages)).toEqual(messages.map(() => undefined));
      const pipeline = source(endpoints.sourceUri, { ...sourceOptions, maxInFlight: 3 });
      const running = start(pipeline, slowSink, { handleSignals: false, shutdownTimeout: timeout });
      toClose.push({ close: () => running.stop() });
      await running.started;
      if (target.subscribeFirst) {
        await sleep(200);
        outcomes = send(out, messages);
      }
      await waitFor(() => written.length >= 3, 'three messages in flight', timeout);
      const stopped = running.stop();
      await sleep(quiet);
      expect(written).toHaveLength(3); // intake stopped: nothing new while draining
      release();
      await stopped;
      expect(written.every((message) => message.settled)).toBe(true);
      expect(running.stats().acked).toBe(3);
      expect(running.stats().nacked).toBe(0);
      // the three not taken are still owed to their writer: closing the sink settles them (redelivery or failure)
      await out.close();
      if (outcomes !== undefined) expect(await outcomes).toHaveLength(messages.length);
    });

    test('close: a closed pipeline leaves no open handles behind', async () => {
      await sleep(100); // let handles closed by earlier tests and hooks (freePort) go away first
      const baseline = resourceCounts();
      const { collector, outcomes } = await sendAndCollect([{ body: 'close-1' }, { body: 'close-2' }], {}, true);
      expect(await outcomes).toEqual([undefined, undefined]);
      const { received, subscription } = collector;
      await waitFor(() => received.length >= 2, 'two messages', timeout);
      subscription.unsubscribe();
      for (const closable of toClose.splice(0)) await closable.close();
      let extra: string[] = [];
      await waitFor(
        () => {
          extra = extraResources(baseline);
          return extra.length === 0;
        },
        'handles to close',
        5000,
      ).catch(() => undefined);
      expect(extra).toEqual([]);
    });
  });
}
