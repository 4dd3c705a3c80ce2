// route, fallback, batchMessages and unbatch keep settlement: a nack from any sink reaches the right parents, a drained
// stop leaves nothing unsettled, and in-flight never passes maxInFlight.
import { merge } from 'rxjs';
import { source } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { memTopic } from '../../lib/connectors/local/mem';
import { Message } from '../../lib/message';
import { type Sink, type SinkDriver, SinkRuntime, type WriteResult } from '../../lib/sink';
import { ConfigError, PermanentError } from '../../lib/errors';
import { batchMessages, fallback, mapMessages, route, unbatch } from '../../operators';
import { sleep, uniqueName, waitFor } from '../helpers/wait';
import { pipelineParts } from '../../lib/run';

/** A sink driver over an in-test list; `fail` decides per message whether its write fails (permanently). */
function listDriver(fail: (message: Message) => boolean = () => false): SinkDriver & { stored: Message[]; writes: number } {
  const driver = {
    scheme: 'list',
    stored: [] as Message[],
    writes: 0,
    write(batch: readonly Message[]): WriteResult {
      driver.writes++;
      return batch.map((message) => {
        if (fail(message)) return new PermanentError(`refused ${message.text()}`);
        driver.stored.push(message);
        return undefined;
      });
    },
    close: async () => undefined,
  };
  return driver;
}

function listSink(name: string, fail?: (message: Message) => boolean): SinkRuntime & { list: ReturnType<typeof listDriver> } {
  const driver = listDriver(fail);
  return Object.assign(new SinkRuntime(name, driver, { retry: { maxAttempts: 1 } }), { list: driver });
}

/** Publishes `bodies` to a fresh mem:// topic and returns its URI. */
function topicWith(bodies: readonly string[], prefix: string, keys?: readonly string[]): string {
  const topic = uniqueName(prefix);
  const input = memTopic(topic);
  bodies.forEach((body, i) => input.publish({ id: `${prefix}-${i}`, body, key: keys?.[i] }));
  return `mem://${topic}?redelivery_delay=5ms`;
}

/** A message with no source whose outcome is recorded. */
function tracked(
  body: string,
  outcomes: Map<string, Error | undefined>,
  init: { key?: string; metadata?: Record<string, string> } = {},
): Message {
  return Message.create({ id: body, body, ...init }, (error) => outcomes.set(body, error));
}

describe('route', () => {
  test('sends each message to the first case it matches: key, metadata, JSON field, predicate; default for the rest', async () => {
    const [byKey, byMeta, byJson, byWhen, other] = ['key', 'meta', 'json', 'when', 'other'].map((name) => listSink(name));
    const router = route(
      [
        { key: 'eu', to: byKey },
        { metadata: { kind: ['a', 'b'] }, to: byMeta },
        { json: { 'order.type': 'refund' }, to: byJson },
        { when: (m) => m.text().startsWith('!'), to: byWhen },
      ],
      { default: other },
    );
    const outcomes = new Map<string, Error | undefined>();
    router.next(tracked('k', outcomes, { key: 'eu' }));
    router.next(tracked('m', outcomes, { metadata: { kind: 'b' } }));
    router.next(tracked('{"order":{"type":"refund"}}', outcomes));
    router.next(tracked('!urgent', outcomes));
    router.next(tracked('{"order":{"type":"sale"}}', outcomes));
    await router.close();
    expect(byKey.list.stored.map((m) => m.text())).toEqual(['k']);
    expect(byMeta.list.stored.map((m) => m.text())).toEqual(['m']);
    expect(byJson.list.stored.map((m) => m.text())).toEqual(['{"order":{"type":"refund"}}']);
    expect(byWhen.list.stored.map((m) => m.text())).toEqual(['!urgent']);
    expect(other.list.stored.map((m) => m.text())).toEqual(['{"order":{"type":"sale"}}']);
    expect([...outcomes.values()].every((error) => error === undefined)).toBe(true);
  });

  test('a case with several conditions, or several metadata names or JSON fields, matches only when all of them hold', async () => {
    const [both, fields, other] = ['both', 'fields', 'other'].map((name) => listSink(name));
    const router = route(
      [
        { key: 'eu', metadata: { kind: 'a', tier: 'gold' }, to: both },
        { json: { type: 'refund', 'order.region': 'eu' }, to: fields },
      ],
      { default: other },
    );
    const outcomes = new Map<string, Error | undefined>();
    router.next(tracked('all', outcomes, { key: 'eu', metadata: { kind: 'a', tier: 'gold' } }));
    router.next(tracked('wrong-key', outcomes, { key: 'us', metadata: { kind: 'a', tier: 'gold' } }));
    router.next(tracked('one-name', outcomes, { key: 'eu', metadata: { kind: 'a' } }));
    router.next(tracked('{"type":"refund","order":{"region":"eu"}}', outcomes));
    router.next(tracked('{"type":"refund","order":{"region":"us"}}', outcomes));
    router.next(tracked('not json', outcomes));
    await router.close();
    expect(both.list.stored.map((m) => m.text())).toEqual(['all']);
    expect(fields.list.stored.map((m) => m.text())).toEqual(['{"type":"refund","order":{"region":"eu"}}']);
    expect(other.list.stored.map((m) => m.text())).toEqual([
      'wrong-key',
      'one-name',
      '{"type":"refund","order":{"region":"us"}}',
      'not json',
    ]);
    expect([...outcomes.values()].every((error) => error === undefined)).toBe(true);
  });

  test('a case with several sinks fans out: acked when all confirmed, nacked when one refused', async () => {
    const good = listSink('good');
    const picky = listSink('picky', (m) => m.text() === 'bad');
    const router = route([{ key: 'x', to: [good, picky] }]);
    const outcomes = new Map<string, Error | undefined>();
    router.next(tracked('ok', outcomes, { key: 'x' }));
    router.next(tracked('bad', outcomes, { key: 'x' }));
    await router.close();
    expect(outcomes.get('ok')).toBeUndefined();
    expect(outcomes.get('bad')?.message).toBe('refused bad');
  });

  test('unmatched without a default: acked and counted as unrouted, or dead-lettered when asked', async () => {
    const topicUri = topicWith(['a', 'b', 'c'], 'unrouted', ['x', 'y', 'x']);
    const xs = listSink('xs');
    const running = start(source(topicUri), route([{ key: 'x', to: xs }]), { handleSignals: false });
    await waitFor(() => running.stats().acked === 3, 'every message settled');
    expect(running.stats().unrouted).toBe(1);
    expect(running.stats().stages.find((stage) => stage.stage === 'route')?.unrouted).toBe(1);
    await running.stop();

    const dead = listSink('dead');
    const strict = route([{ key: 'x', to: listSink('xs2') }], { unrouted: 'deadLetter', deadLetter: dead });
    const outcomes = new Map<string, Error | undefined>();
    strict.next(tracked('nowhere', outcomes, { key: 'z' }));
    await strict.close();
    await dead.close();
    expect(dead.list.stored.map((m) => m.metadata['dead-letter-reason'])).toEqual(["Error: matched no route of 'route'"]);
    expect(outcomes.get('nowhere')).toBeUndefined();
  });

  test('refuses cases without a sink or a condition, and deadLetter without a sink', () => {
    expect(() => route([])).toThrow(ConfigError);
    expect(() => route([{ to: listSink('x') }])).toThrow('has no condition');
    expect(() => route([{ key: 'x' } as never])).toThrow("has no 'to'");
    expect(() => route([{ key: 'x', to: listSink('x') }], { unrouted: 'deadLetter' })).toThrow('needs a deadLetter sink');
  });
});

describe('fallback', () => {
  test('tries each sink in order: acked by the first that confirms, nacked when the last fails', async () => {
    const primary = listSink('primary', (m) => m.text() !== 'p');
    const secondary = listSink('secondary', (m) => m.text() === 'none');
    const sink = fallback(primary, secondary);
    const outcomes = new Map<string, Error | undefined>();
    for (const body of ['p', 's', 'none']) sink.next(tracked(body, outcomes));
    await sink.close();
    expect(primary.list.stored.map((m) => m.text())).toEqual(['p']);
    expect(secondary.list.stored.map((m) => m.text())).toEqual(['s']);
    expect(outcomes.get('p')).toBeUndefined();
    expect(outcomes.get('s')).toBeUndefined();
    expect(outcomes.get('none')?.message).toBe('refused none');
  });

  test('in a pipeline: every message ends acked, the window is given back, and a nack from the last sink redelivers', async () => {
    const uri = topicWith(['a', 'b', 'c', 'd'], 'fallback');
    const primary = listSink('primary', (m) => m.text() === 'b' || m.text() === 'd');
    let refusals = 0;
    const secondary = listSink('secondary', (m) => m.text() === 'd' && ++refusals <= 2);
    const running = start(source(uri, { maxInFlight: 2, maxDeliveries: 10 }), fallback(primary, secondary), { handleSignals: false });
    await waitFor(() => running.stats().acked === 4, 'all acked');
    expect(primary.list.stored.map((m) => m.text()).sort()).toEqual(['a', 'c']);
    expect(secondary.list.stored.map((m) => m.text()).sort()).toEqual(['b', 'd']);
    expect(running.stats().nacked).toBe(2); // d, refused twice by both, came back twice
    expect(pipelineParts(running).sources[0].liveCount).toBe(0);
    await running.stop();
  });
});

describe('batchMessages and unbatch', () => {
  test('N messages become one; acking the batch acks all N, nacking it nacks all N', async () => {
    const uri = topicWith(['1', '2', '3', '4', '5', 'x'], 'batch');
    let failOnce = true;
    const bulk = listSink('bulk', (m) => {
      if (m.text().includes('"x"') && failOnce) {
        failOnce = false;
        return true;
      }
      return false;
    });
    const running = start(source(uri, { maxDeliveries: 10 }).pipe(batchMessages({ count: 3, time: 50 })), bulk, { handleSignals: false });
    await waitFor(() => running.stats().acked === 6, 'every part acked');
    const bodies = bulk.list.stored.map((m) => m.text());
    expect(bodies[0]).toBe('[1,2,3]');
    // the batch holding x failed once: its three parts were nacked together and came back
    expect(running.stats().nacked).toBe(3);
    expect(bodies.flatMap((body) => JSON.parse(body) as unknown[]).sort()).toEqual([1, 2, 3, 4, 5, 'x']);
    expect(bulk.list.stored[0].metadata['batch-count']).toBe('3');
    await running.stop();
  });

  test('a batch waiting for its count goes out when the window is full (no deadlock with maxInFlight below count)', async () => {
    const uri = topicWith(['a', 'b', 'c', 'd', 'e'], 'batch-window');
    const bulk = listSink('bulk');
    const running = start(source(uri, { maxInFlight: 2 }).pipe(batchMessages({ count: 100, time: 1000, format: 'lines' })), bulk, {
      handleSignals: false,
    });
    // two by two as the window fills, long before the batch's time
    await waitFor(() => running.stats().acked === 4, 'the first four parts', 500);
    expect(bulk.list.stored.map((m) => m.text())).toEqual(['a\nb', 'c\nd']);
    // the last one waits for its time: the window is not full, more could come
    await waitFor(() => running.stats().acked === 5, 'the last part after its time', 3000);
    expect(bulk.list.stored.map((m) => m.text())).toEqual(['a\nb', 'c\nd', 'e']);
    await running.stop();
  });

  test('unbatch gives back the original messages of an unchanged batch, each settled on its own', async () => {
    const uri = topicWith(['a', 'b', 'c'], 'unbatch', ['k1', 'k2', 'k3']);
    const out = listSink('out', (m) => m.text() === 'b');
    const running = start(source(uri, { maxDeliveries: 1 }).pipe(batchMessages({ count: 3 }), unbatch()), out, { handleSignals: false });
    await waitFor(() => running.stats().acked + running.stats().nacked >= 3, 'the parts settled');
    await sleep(50);
    expect(out.list.stored.map((m) => [m.text(), m.key])).toEqual([
      ['a', 'k1'],
      ['c', 'k3'],
    ]);
    // only b was nacked: a and c were acked by their own writes
    expect(running.stats().nacked).toBe(1);
    await running.stop();
  });

  test('unbatch of a JSON array from elsewhere splits it; its parts settle it together', async () => {
    const uri = topicWith(['["a",{"b":1}]'], 'unbatch-json');
    const out = listSink('out');
    const running = start(source(uri).pipe(unbatch()), out, { handleSignals: false });
    await waitFor(() => running.stats().acked === 1, 'the batch acked');
    expect(out.list.stored.map((m) => m.text())).toEqual(['a', '{"b":1}']);
    await running.stop();
  });

  test('merged sources into batches and a route: in flight never passes the windows, and a drained stop leaves nothing unsettled', async () => {
    const count = 300;
    const a = topicWith(
      Array.from({ length: count }, (_, i) => `{"n":${i},"side":"a"}`),
      'merge-a',
    );
    const b = topicWith(
      Array.from({ length: count }, (_, i) => `{"n":${i},"side":"b"}`),
      'merge-b',
    );
    let peak = 0;
    const sides = { a: listSink('side-a'), b: listSink('side-b') };
    const slowly = (sink: Sink): Sink => ({
      ...sink,
      name: sink.name,
      ready: true,
      next: (m: Message) => setTimeout(() => sink.next(m), 2),
      error: sink.error.bind(sink),
      complete: sink.complete.bind(sink),
      close: sink.close.bind(sink),
    });
    const pipeline = merge(source(a, { maxInFlight: 16 }), source(b, { maxInFlight: 16 })).pipe(
      mapMessages((m) => {
        return m.with({});
      }),
      batchMessages({ count: 8, time: 5 }),
      unbatch(),
    );
    const running = start(
      pipeline,
      route([
        { json: { side: 'a' }, to: slowly(sides.a) },
        { json: { side: 'b' }, to: slowly(sides.b) },
      ]),
      { handleSignals: false },
    );
    const watch = setInterval(() => {
      for (const runtime of pipelineParts(running).sources) peak = Math.max(peak, runtime.liveCount);
    }, 1);
    await waitFor(() => running.stats().acked === 2 * count, 'every message', 20_000);
    clearInterval(watch);
    expect(peak).toBeLessThanOrEqual(16);
    expect(sides.a.list.stored).toHaveLength(count);
    expect(sides.b.list.stored).toHaveLength(count);
    await running.stop();
    expect(running.stats().inFlight).toBe(0);
  });
});
