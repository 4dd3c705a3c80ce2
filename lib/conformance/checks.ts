// The checks every connector passes, in the spirit of gocloud's drivertest: round trip, ack, nack and redelivery,
// bounded in-flight, drain, clean close, a missing queue, permanent failures, the dead letter after maxDeliveries,
// order through batching, and harmless double settlement. They use only what users use: source(), sink(), start().
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type Message, type MessageInit } from '../message';
import { source, sink } from '../endpoints';
import { start, type RunningPipeline } from '../run';
import { type Sink, type SinkOptions, SinkRuntime } from '../sink';
import type { SourceOptions } from '../source';
import { lookupScheme, parseEndpointUri } from '../registry';
import { DEAD_LETTER_REASON } from '../deadLetter';
import { memTopic } from '../connectors/local/mem';
import type { ConformanceEndpoints, ConformanceTarget, MissingEndpoint } from './target';
import { errorNamed, extraResources, holdingSink, resourceCounts, sleep, type TestRunner, uniqueName, until, writeAll } from './harness';

/** What a check's pipeline hands the test: the messages in arrival order, and the pipeline. */
interface Held {
  readonly received: Message[];
  readonly running: RunningPipeline;
}

/** The target's options with its shared `env`, which beforeAll may have filled in since the target was written. */
export function sourceOptionsOf(target: ConformanceTarget): SourceOptions {
  return { ...(target.env === undefined ? {} : { env: target.env }), ...target.sourceOptions };
}

export function sinkOptionsOf(target: ConformanceTarget): SinkOptions {
  return { ...(target.env === undefined ? {} : { env: target.env }), ...target.sinkOptions };
}

/** A sink over the target's driver that counts, per message id, how many writes the message was part of. */
function countingSink(uri: string, options: SinkOptions): { sink: Sink; attempts: Map<string, number> } {
  const parsed = parseEndpointUri(uri, 'sink URI');
  const definition = lookupScheme(parsed.scheme, 'sink URI');
  assert.ok(definition.openSink, `${parsed.scheme}:// has no sink`);
  const driver = definition.openSink(parsed, options);
  const attempts = new Map<string, number>();
  const counted = new Proxy(driver, {
    get(target, property) {
      if (property === 'write') {
        return (batch: readonly Message[]) => {
          for (const message of batch) attempts.set(message.id, (attempts.get(message.id) ?? 0) + 1);
          return target.write(batch);
        };
      }
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { sink: new SinkRuntime(parsed.raw, counted, options, definition.sinkDefaults), attempts };
}

/** The error's own text, and its causes', for an assertion message. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return `${error.name}: ${error.message}${error.cause === undefined ? '' : ` (cause: ${describeError(error.cause)})`}`;
}

function assertNamesMissing(failure: unknown, missing: MissingEndpoint, where: string): void {
  assert.ok(failure !== undefined, `${where}: using '${missing.name}', which does not exist, did not fail`);
  // MissingResourceError is the ConnectorError for exactly this (names are compared: the error may come from another realm)
  const connectorError = errorNamed(failure, 'ConnectorError') ?? errorNamed(failure, 'MissingResourceError');
  assert.ok(connectorError, `${where}: expected a ConnectorError naming '${missing.name}', got ${describeError(failure)}`);
  assert.ok(
    connectorError.message.includes(missing.name),
    `${where}: the ConnectorError does not name '${missing.name}': ${connectorError.message}`,
  );
}

export function declareChecks(runner: TestRunner, target: ConformanceTarget): void {
  const timeout = target.timeoutMs ?? 10_000;
  const quiet = target.quietMs ?? 400;
  // a check waits for a few deliveries, each up to `timeout`
  const testTimeout = Math.max(60_000, timeout * 4);
  const { test, beforeEach, afterEach } = runner;

  let endpoints: ConformanceEndpoints | undefined;
  const toClose: { close(): Promise<void> }[] = [];
  const memTopics: string[] = [];

  beforeEach(async () => {
    endpoints = await target.endpoints();
  });
  afterEach(async () => {
    for (const closable of toClose.splice(0).reverse()) await closable.close();
    for (const topic of memTopics.splice(0)) memTopic(topic).delete();
    await endpoints?.cleanup?.();
    endpoints = undefined;
  });

  /** This test's endpoints (beforeEach made them). */
  function current(): ConformanceEndpoints {
    if (endpoints === undefined) throw new Error(`the endpoints() of '${target.name}' failed before this test`);
    return endpoints;
  }

  function openSink(options: SinkOptions = {}): Sink {
    const opened = sink(current().sinkUri, { ...sinkOptionsOf(target), ...options });
    toClose.push(opened);
    return opened;
  }

  /** A dead letter of the test's own, on mem://, read back with hold(`mem://${topic}`). */
  function openDeadLetter(): { sink: Sink; topic: string } {
    const topic = uniqueName('conformance-dead-letter');
    memTopics.push(topic);
    const opened = sink(`mem://${topic}`);
    toClose.push(opened);
    return { sink: opened, topic };
  }

  /** Starts a pipeline from `uri` into the test's hands and resolves once its source listens. */
  async function hold(uri: string, options: SourceOptions, onMessage?: (message: Message) => void): Promise<Held> {
    const received: Message[] = [];
    const running = start(source(uri, { ...sourceOptionsOf(target), ...options }), holdingSink(received, onMessage), {
      handleSignals: false,
      shutdownTimeout: Math.max(1000, quiet * 2),
    });
    // stopped after the test; a drain that overran (the test held messages on purpose) is not the test's failure
    toClose.push({ close: () => running.stop().catch(() => undefined) });
    await running.started;
    return { received, running };
  }

  /**
   * Writes `messages` and starts a pipeline that reads them, in the order the service needs: reading first (HTTP, core
   * NATS: the sink's confirmation may wait for the consumer), or written first (files: the source reads what exists).
   */
  async function sendAndHold(
    messages: readonly MessageInit[],
    options: SourceOptions,
    onMessage?: (message: Message) => void,
    sinkOptions: SinkOptions = {},
  ): Promise<{ held: Held; outcomes: Promise<(Error | undefined)[]> }> {
    if (target.subscribeFirst) {
      const held = await hold(current().sourceUri, options, onMessage);
      return { held, outcomes: writeAll(openSink(sinkOptions), messages) };
    }
    const outcomes = await writeAll(openSink(sinkOptions), messages);
    assert.deepEqual(
      outcomes,
      messages.map(() => undefined),
    );
    return { held: await hold(current().sourceUri, options, onMessage), outcomes: Promise.resolve(outcomes) };
  }

  const ack = (message: Message): void => message.ack();

  /** Bodies in the order they first arrived (a redelivered copy is not counted twice). */
  const firstArrivals = (received: readonly Message[]): string[] => [...new Set(received.map((message) => message.text()))];

  test(
    'round trip: body, metadata (and key) arrive intact, and the sink confirms every write',
    async () => {
      const messages = Array.from({ length: 20 }, (_, i) => ({
        body: i === 0 ? Buffer.from([0, 1, 2, 250, 255]) : JSON.stringify({ n: i, text: `héllo ${i}` }),
        metadata: { 'x-conformance': `value-${i}`, 'content-type': i === 0 ? 'application/octet-stream' : 'application/json' },
        key: target.keys ? `key-${i % 3}` : undefined,
      }));
      const { held, outcomes } = await sendAndHold(messages, {}, ack);
      assert.deepEqual(
        await outcomes,
        messages.map(() => undefined),
      );
      await until(() => held.received.length >= messages.length, `${messages.length} messages`, timeout);
      const byBody = new Map(held.received.map((message) => [message.body.toString('base64'), message]));
      for (const sent of messages) {
        const got = byBody.get(Buffer.from(sent.body).toString('base64'));
        assert.ok(got, `message ${sent.metadata['x-conformance']} did not arrive`);
        assert.equal(got.metadata['x-conformance'], sent.metadata['x-conformance']);
        if (target.keys) assert.equal(got.key, sent.key);
      }
    },
    testTimeout,
  );

  test(
    'ack: an acked message is not delivered again',
    async () => {
      const { held, outcomes } = await sendAndHold([{ body: 'once' }, { body: 'twice?' }], {}, ack);
      assert.deepEqual(await outcomes, [undefined, undefined]);
      await until(() => held.received.length >= 2, 'two messages', timeout);
      await sleep(quiet * 2);
      assert.deepEqual(held.received.map((message) => message.text()).sort(), ['once', 'twice?']);
    },
    testTimeout,
  );

  if (target.redelivery) {
    test(
      'nack: a nacked message is delivered again',
      async () => {
        const { held, outcomes } = await sendAndHold([{ body: 'retry me', metadata: { 'x-conformance': 'nack' } }], {});
        const { received } = held;
        await until(() => received.length >= 1, 'the first delivery', timeout);
        received[0].nack(new Error('conformance: nack on purpose'));
        await until(() => received.length >= 2, 'the redelivery', timeout);
        assert.equal(received[1].text(), 'retry me');
        assert.equal(received[1].metadata['x-conformance'], 'nack');
        received[1].ack();
        assert.deepEqual(await outcomes, [undefined]);
      },
      testTimeout,
    );
  } else {
    test(
      'nack: the source declares no redelivery (at most once), and a nacked message does not come back',
      async () => {
        const { received } = await hold(current().sourceUri, {});
        assert.deepEqual(await writeAll(openSink(), [{ body: 'at most once' }]), [undefined]);
        await until(() => received.length >= 1, 'the delivery', timeout);
        received[0].nack(new Error('conformance: nack on purpose'));
        await sleep(quiet * 2);
        assert.equal(received.length, 1);
      },
      testTimeout,
    );
  }

  test(
    'credit: never more than maxInFlight unsettled messages, and one more per settlement',
    async () => {
      const maxInFlight = 5;
      const sent = Array.from({ length: 30 }, (_, i) => ({ body: `credit-${i}` }));
      const { held, outcomes } = await sendAndHold(sent, { maxInFlight });
      const { received } = held;
      await until(() => received.length >= maxInFlight, `${maxInFlight} messages`, timeout);
      await sleep(quiet);
      assert.equal(received.length, maxInFlight);
      received[0].ack();
      await until(() => received.length >= maxInFlight + 1, 'one more message after an ack', timeout);
      await sleep(quiet);
      assert.equal(received.length, maxInFlight + 1);
      // settle everything as it comes: all 30 arrive, the window never passes 5
      let acked = 1;
      let peak = 0;
      await until(
        () => {
          peak = Math.max(peak, received.filter((message) => !message.settled).length);
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
      assert.ok(peak <= maxInFlight, `${peak} messages were unsettled at once, more than maxInFlight (${maxInFlight})`);
      assert.equal(new Set(received.map((message) => message.text())).size, sent.length);
      assert.ok((await outcomes).every((error) => error === undefined));
    },
    testTimeout,
  );

  test(
    'drain: stop() waits for in-flight messages to settle, takes nothing new, and completes',
    async () => {
      const written: Message[] = [];
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const slowSink = holdingSink(written, (message) => void released.then(() => message.ack()));
      const out = openSink();
      const messages = Array.from({ length: 6 }, (_, i) => ({ body: `drain-${i}` }));
      let outcomes: Promise<(Error | undefined)[]> | undefined;
      if (!target.subscribeFirst)
        assert.deepEqual(
          await writeAll(out, messages),
          messages.map(() => undefined),
        );
      const running = start(source(current().sourceUri, { ...sourceOptionsOf(target), maxInFlight: 3 }), slowSink, {
        handleSignals: false,
        shutdownTimeout: timeout,
      });
      toClose.push({ close: () => running.stop() });
      await running.started;
      if (target.subscribeFirst) outcomes = writeAll(out, messages);
      await until(() => written.length >= 3, 'three messages in flight', timeout);
      const stopped = running.stop();
      await sleep(quiet);
      assert.equal(written.length, 3, 'intake stopped: nothing new while draining');
      release();
      await stopped;
      assert.ok(written.every((message) => message.settled));
      assert.equal(running.stats().acked, 3);
      assert.equal(running.stats().nacked, 0);
      // the three not taken are still owed to their writer: closing the sink settles them (redelivery or failure)
      await out.close();
      if (outcomes !== undefined) assert.equal((await outcomes).length, messages.length);
    },
    testTimeout,
  );

  test(
    'close: a closed pipeline leaves no open handles behind',
    async () => {
      await sleep(100); // let handles closed by earlier tests and hooks go away first
      const baseline = resourceCounts();
      const { held, outcomes } = await sendAndHold([{ body: 'close-1' }, { body: 'close-2' }], {}, ack);
      assert.deepEqual(await outcomes, [undefined, undefined]);
      await until(() => held.received.length >= 2, 'two messages', timeout);
      for (const closable of toClose.splice(0).reverse()) await closable.close();
      let extra: string[] = [];
      await until(() => (extra = extraResources(baseline)).length === 0, 'handles to close', 5000).catch(() => undefined);
      assert.deepEqual(extra, []);
    },
    testTimeout,
  );

  declareMissing(target.missing);

  function declareMissing(missing: ConformanceTarget['missing']): void {
    if (missing === undefined) {
      test('missing queue: the target declares what a missing queue or topic is (missing: { name, sourceUri, sinkUri } or { alwaysExists })', () => {
        assert.fail(`the conformance target '${target.name}' must declare 'missing'`);
      });
      return;
    }
    // a service where using a name creates it has nothing to miss: the round trip on fresh names proves the rest
    if ('alwaysExists' in missing) return;
    if (missing.sourceUri === undefined && missing.sinkUri === undefined) {
      test('missing queue: the declaration names a source or a sink URI', () => {
        assert.fail(`the conformance target '${target.name}' declares a missing '${missing.name}' with neither sourceUri nor sinkUri`);
      });
    }
    const resolve = (uri: string | (() => string)): string => (typeof uri === 'function' ? uri() : uri);
    const { sourceUri, sinkUri } = missing;
    if (sourceUri !== undefined) {
      test(
        `missing queue: a source reading '${missing.name}', which does not exist, fails with a ConnectorError naming it`,
        async () => {
          let failure: unknown;
          try {
            const running = start(source(resolve(sourceUri), sourceOptionsOf(target)), holdingSink([]), {
              handleSignals: false,
              shutdownTimeout: 1000,
            });
            toClose.push({ close: () => running.stop().catch(() => undefined) });
            running.started.catch(() => undefined);
            // at start, or at the first receive: either way the pipeline fails instead of waiting for ever
            // the timer is cleared once the pipeline has failed, so that it does not hold the test runner open
            let timer: NodeJS.Timeout | undefined;
            failure = await Promise.race([
              running.done.then(
                () => new Error('the pipeline ended without an error'),
                (error: unknown) => error,
              ),
              new Promise<void>((resolve) => {
                timer = setTimeout(resolve, timeout);
              }),
            ]).finally(() => clearTimeout(timer));
          } catch (error) {
            failure = error;
          }
          assertNamesMissing(failure, missing, 'source');
        },
        testTimeout,
      );
    }
    if (sinkUri !== undefined) {
      test(
        `missing queue: a sink writing to '${missing.name}', which does not exist, fails at start or at its first write with a ConnectorError naming it`,
        async () => {
          const out = sink(resolve(sinkUri), { ...sinkOptionsOf(target), retry: { maxAttempts: 1 } });
          toClose.push(out);
          let failure: unknown =
            out instanceof SinkRuntime
              ? await out.start().then(
                  () => undefined,
                  (error: unknown) => error,
                )
              : undefined;
          if (failure === undefined) [failure] = await writeAll(out, [{ body: 'to nowhere' }]);
          assertNamesMissing(failure, missing, 'sink');
        },
        testTimeout,
      );
    }
  }

  const refused = target.refused;
  if (refused === undefined) {
    test('permanent failure: the target declares a message its service refuses (refused: MessageInit, or { refusesNothing })', () => {
      assert.fail(`the conformance target '${target.name}' must declare 'refused'`);
    });
  } else if ('refusesNothing' in refused) {
    test(
      'permanent failure: the service refuses nothing (declared), and a 1 MiB body makes the round trip',
      async () => {
        const body = randomBytes(1024 * 1024);
        const { held, outcomes } = await sendAndHold([{ body }], {}, ack);
        assert.deepEqual(await outcomes, [undefined]);
        await until(() => held.received.length >= 1, 'the 1 MiB message', timeout);
        assert.ok(held.received[0].body.equals(body), 'the 1 MiB body came back changed');
      },
      testTimeout,
    );
  } else {
    test(
      'permanent failure: a message the service refuses is written once, not retried, and goes to the dead letter; the next one is written',
      async () => {
        const deadLetter = openDeadLetter();
        const { sink: out, attempts } = countingSink(current().sinkUri, {
          ...sinkOptionsOf(target),
          retry: { maxAttempts: 4, initialDelay: 10, maxDelay: 50 },
          deadLetter: deadLetter.sink,
        });
        toClose.push(out);
        const bad = { ...refused, id: uniqueName('refused') };
        const good = { body: 'accepted', id: uniqueName('accepted') };
        // a service that needs its reader first (HTTP) gets one, which takes what comes
        if (target.subscribeFirst) await hold(current().sourceUri, {}, ack);
        const [badOutcome] = await writeAll(out, [bad]);
        const [goodOutcome] = await writeAll(out, [good]);
        // the refused one was acked once the dead letter had it: the failure is not the writer's to retry
        assert.equal(badOutcome, undefined, `the refused message was not dead-lettered: ${describeError(badOutcome)}`);
        assert.equal(goodOutcome, undefined, `the message after the refused one failed: ${describeError(goodOutcome)}`);
        assert.equal(attempts.get(bad.id), 1, 'the refused message was written more than once: a permanent failure was retried');
        const dead = await hold(`mem://${deadLetter.topic}`, {}, ack);
        await until(() => dead.received.length >= 1, 'the dead letter', timeout);
        assert.equal(dead.received.length, 1);
        assert.equal(dead.received[0].id, bad.id);
        assert.match(dead.received[0].metadata[DEAD_LETTER_REASON] ?? '', /^PermanentError: /);
      },
      testTimeout,
    );
  }

  const maxDeliveries = 2;
  if (target.redelivery && target.countsDeliveries !== false) {
    test(
      `dead letter: a message delivered more than maxDeliveries (${maxDeliveries}) times goes to the dead letter, and the original is acked`,
      async () => {
        const deadLetter = openDeadLetter();
        const nackEach = (message: Message): void => message.nack(new Error('conformance: poison'));
        const poison = { body: 'poison', metadata: { 'x-conformance': 'dead letter' }, key: target.keys ? 'poison' : undefined };
        const { held } = await sendAndHold([poison], { maxDeliveries, deadLetter: deadLetter.sink }, nackEach);
        const dead = await hold(`mem://${deadLetter.topic}`, {}, ack);
        await until(() => dead.received.length >= 1, 'the dead letter', timeout * 2);
        assert.equal(held.received.length, maxDeliveries, `delivered ${held.received.length} times before the dead letter`);
        assert.equal(dead.received[0].text(), 'poison');
        assert.equal(dead.received[0].metadata['x-conformance'], 'dead letter');
        assert.match(dead.received[0].metadata[DEAD_LETTER_REASON] ?? '', new RegExp(`more than maxDeliveries \\(${maxDeliveries}\\)`));
        // the original was acked once the dead letter had it: it does not come back
        await sleep(quiet * 2);
        assert.equal(held.received.length, maxDeliveries);
        assert.equal(dead.received.length, 1);
        if (target.durableAcks === false) return;
        // nor to a new reader: the ack reached the service (a message written after it arrives first where order is kept)
        await held.running.stop();
        const again = await hold(current().sourceUri, {}, ack);
        assert.deepEqual(await writeAll(openSink(), [{ body: 'after the poison', key: target.keys ? 'poison' : undefined }]), [undefined]);
        await until(
          () => again.received.some((message) => message.text() === 'after the poison'),
          'a message written after the poison',
          timeout * 2,
        );
        await sleep(quiet);
        assert.deepEqual(firstArrivals(again.received), ['after the poison']);
      },
      testTimeout,
    );
  } else if (target.redelivery) {
    test(
      'dead letter: the source counts no deliveries (declared), so a message nacked past maxDeliveries is not dead-lettered by it',
      async () => {
        const deadLetter = openDeadLetter();
        let nacking = true;
        const settle = (message: Message): void => (nacking ? message.nack(new Error('conformance: poison')) : message.ack());
        const { held } = await sendAndHold([{ body: 'poison' }], { maxDeliveries, deadLetter: deadLetter.sink }, settle);
        await until(() => held.received.length >= maxDeliveries + 2, `${maxDeliveries + 2} deliveries`, timeout * 2);
        nacking = false;
        assert.equal(
          memTopic(deadLetter.topic).length,
          0,
          'the source dead-lettered a message although it declares that it counts no deliveries',
        );
      },
      testTimeout,
    );
  }

  test(
    `order: messages${target.keys ? ' of one key' : ''} written in batches, one write at a time, are read back in ${target.ordered === false ? 'some (declared unordered)' : 'their'} order`,
    async () => {
      const messages = Array.from({ length: 40 }, (_, i) => ({
        body: `order-${String(i).padStart(2, '0')}`,
        key: target.keys ? 'order' : undefined,
      }));
      const { held, outcomes } = await sendAndHold(messages, {}, ack, { concurrency: 1, batch: { count: 8 } });
      assert.deepEqual(
        await outcomes,
        messages.map(() => undefined),
      );
      await until(() => firstArrivals(held.received).length >= messages.length, `${messages.length} messages`, timeout);
      const sent = messages.map((message) => message.body);
      const arrived = firstArrivals(held.received);
      if (target.ordered === false) assert.deepEqual([...arrived].sort(), sent);
      else assert.deepEqual(arrived, sent);
    },
    testTimeout,
  );

  test(
    'double settlement: acking or nacking a settled message again does nothing, and the source goes on',
    async () => {
      // a window of two: the third message comes only once the first two are settled (and the driver still works)
      let ackEverything = false;
      const { held, outcomes } = await sendAndHold([{ body: 'one' }, { body: 'two' }, { body: 'three' }], { maxInFlight: 2 }, (message) => {
        if (ackEverything) message.ack();
      });
      const { received } = held;
      await until(() => received.length >= 2, 'two messages', timeout);
      const [acked, nacked] = received;
      acked.ack();
      acked.ack();
      acked.nack(new Error('conformance: nack after ack'));
      nacked.nack(new Error('conformance: nack on purpose'));
      nacked.nack(new Error('conformance: nack twice'));
      nacked.ack();
      ackEverything = true;
      for (const message of received.slice(2)) message.ack();
      const deliveries = (body: string): number => received.filter((message) => message.text() === body).length;
      const [third] = ['one', 'two', 'three'].filter((body) => body !== acked.text() && body !== nacked.text());
      // the first nack won: one redelivery where the service redelivers
      await until(
        () => deliveries(third) >= 1 && (!target.redelivery || deliveries(nacked.text()) >= 2),
        'the rest of the deliveries',
        timeout,
      );
      assert.deepEqual(await outcomes, [undefined, undefined, undefined]);
      await sleep(quiet * 2);
      assert.equal(deliveries(acked.text()), 1, 'the acked message came back');
      assert.equal(deliveries(nacked.text()), target.redelivery ? 2 : 1);
      assert.equal(deliveries(third), 1);
      assert.equal(held.running.stats().acked, target.redelivery ? 3 : 2);
    },
    testTimeout,
  );
}
