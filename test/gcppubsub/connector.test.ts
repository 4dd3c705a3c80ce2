// gcppubsub:// beyond the conformance suite: URIs and configuration errors, Pub/Sub's own delivery counts and the dead letter,
// lazy nacks, ordering keys, message ids, service errors, and a server that goes away and comes back.
import { PubSub } from '@google-cloud/pubsub';
import { lookupScheme, paramNames } from '../../lib/registry';
import { connectorPage, expectDeclaredAndNamed } from '../helpers/paramsTable';
import { source, sink } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { type Message } from '../../lib/message';
import { ConnectorError, PermanentError } from '../../lib/errors';
import type { Sink } from '../../lib/sink';
import { DEAD_LETTER_REASON } from '../../lib/deadLetter';
import { startPubSubServer } from '../fixtures/pubsub/server';
import { pubsubFixture, pubsubEnv, type PubSubFixture, PROJECT } from './helpers';
import { freePort, sleep, uniqueName, waitFor } from '../helpers/wait';
import { configError } from '../helpers/configError';
import { collectingSink, write } from '../helpers/endpoints';
import { pipelineParts } from '../../lib/run';

let fixture: PubSubFixture;
let env: NodeJS.ProcessEnv;
const toClose: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  fixture = await pubsubFixture();
  env = { ...fixture.env };
});
afterEach(async () => {
  for (const closable of toClose.splice(0).reverse()) await closable.close();
  await fixture.cleanup();
});
afterAll(async () => {
  await fixture.close();
});

const subscriptionUri = (subscription: string): string => `gcppubsub://projects/${PROJECT}/subscriptions/${subscription}`;
const topicUri = (topic: string): string => `gcppubsub://projects/${PROJECT}/topics/${topic}`;
const subscriptionPath = (subscription: string): string => `projects/${PROJECT}/subscriptions/${subscription}`;

function openSink(uri: string, options: Parameters<typeof sink>[1] = {}): Sink {
  const opened = sink(uri, { env, ...options });
  toClose.push(opened);
  return opened;
}

describe('gcppubsub:// URIs and configuration', () => {
  test('long and short forms; the wrong kind, bad ids and bad variables are ConfigErrors that show a valid URI', () => {
    // neither opening connects: these would fail at once if they did (nothing listens on port 9)
    const offline = { PUBSUB_EMULATOR_HOST: '127.0.0.1:9' };
    expect(() => source('gcppubsub://projects/p1/subscriptions/orders', { env: offline })).not.toThrow();
    expect(() => source('gcppubsub://p1/orders', { env: offline })).not.toThrow();
    expect(() => sink('gcppubsub://projects/p1/topics/orders', { env: offline })).not.toThrow();
    expect(() => sink('gcppubsub://p1/orders', { env: offline })).not.toThrow();

    const wrongKind = configError(() => sink('gcppubsub://projects/p1/subscriptions/orders', { env: offline, variable: 'SINK_URI' }));
    expect(wrongKind.message).toContain('SINK_URI');
    expect(wrongKind.message).toContain('a sink publishes to a topic');
    expect(wrongKind.message).toContain('gcppubsub://projects/my-project/topics/my-topic');
    expect(configError(() => source('gcppubsub://projects/p1/topics/orders', { env: offline })).message).toContain(
      'a source reads a subscription',
    );
    expect(configError(() => source('gcppubsub://just-one-part', { env: offline })).message).toContain('names no Pub/Sub subscription');
    expect(configError(() => sink('gcppubsub://p1/goog-topic', { env: offline })).message).toContain('not start with goog');
    expect(configError(() => sink('gcppubsub://p1/ab', { env: offline })).message).toContain("'ab' is not a valid topic id");
    expect(configError(() => source('gcppubsub://p1/orders?streams=0', { env: offline })).message).toContain('streams');

    const emulator = configError(() => sink('gcppubsub://p1/orders', { env: { PUBSUB_EMULATOR_HOST: 'not a host' } }));
    expect(emulator.variable).toBe('PUBSUB_EMULATOR_HOST');
    expect(emulator.message).toContain('localhost:8085');
    const credentials = configError(() =>
      sink('gcppubsub://p1/orders', { env: { GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/key.json' } }),
    );
    expect(credentials.variable).toBe('GOOGLE_APPLICATION_CREDENTIALS');
    expect(credentials.message).toContain('/nonexistent/key.json');
    expect(configError(() => sink('gcppubsub://p1/orders', { env: { ...offline, PUBSUB_PUBLISH_TIMEOUT: 'soon' } })).variable).toBe(
      'PUBSUB_PUBLISH_TIMEOUT',
    );
  });

  test('every parameter is declared with a description and a default, and docs/connectors/gcppubsub.md names each', () => {
    const page = connectorPage('gcppubsub');
    const definition = lookupScheme('gcppubsub', 'SOURCE_URI');
    expect(paramNames(definition.sourceParams)).toEqual(['nacklazy', 'streams']);
    expect(definition.sinkParams).toEqual([]);
    expectDeclaredAndNamed(definition.sourceParams ?? [], page);
  });

  test('a subscription that does not exist fails the start-up, naming it', async () => {
    const missing = uniqueName('missing');
    const running = start(source(subscriptionUri(missing), { env }), openSink(topicUri(await fixture.createTopic())), {
      handleSignals: false,
    });
    const failure = await running.started.then(
      () => undefined,
      (error: unknown) => error,
    );
    await running.done.catch(() => undefined);
    expect(failure).toBeInstanceOf(ConnectorError);
    expect((failure as ConnectorError).message).toContain(`subscriptions/${missing} does not exist`);
    expect((failure as ConnectorError).message).toContain(fixture.server.host);
  });
  test('a subscription deleted while the pipeline runs fails it with a ConnectorError that names the subscription', async () => {
    const { subscription } = await fixture.topicWithSubscription();
    const running = start(
      source(subscriptionUri(subscription), { env }),
      collectingSink((message) => message.ack()),
      { handleSignals: false },
    );
    await running.started;
    const outcome = running.done.then(
      () => undefined,
      (error: unknown) => error,
    );
    await fixture.admin.subscription(subscription).delete();
    const failure = await outcome;
    expect(failure).toBeInstanceOf(ConnectorError);
    expect((failure as Error).message).toContain(`subscriptions/${subscription} does not exist`);
  });
});

describe('gcppubsub:// delivery', () => {
  test('the short sink form publishes; the message id and key survive Pub/Sub -> Pub/Sub', async () => {
    const { topic, subscription } = await fixture.topicWithSubscription();
    expect(
      await write(openSink(`gcppubsub://${PROJECT}/${topic}`), { id: 'order-17', body: 'x', key: 'customer-3', metadata: { a: 'b' } }),
    ).toBeUndefined();
    const collector = collectingSink((message) => message.ack());
    const { received } = collector;
    const running = start(source(`gcppubsub://${PROJECT}/${subscription}`, { env }), collector, { handleSignals: false });
    toClose.push({ close: () => running.stop() });
    await waitFor(() => received.length === 1, 'the message');
    expect(received[0].id).toBe('order-17');
    expect(received[0].key).toBe('customer-3');
    expect(received[0].metadata).toEqual({ a: 'b' });
    await waitFor(() => fixture.server.backlog(subscriptionPath(subscription)).length === 0, 'the ack to reach Pub/Sub');
  });

  test('a slow sink: the window bounds what the pipeline holds, and the streams bound what the client leases', async () => {
    const { topic, subscription } = await fixture.topicWithSubscription();
    const publisher = fixture.admin.topic(topic);
    await Promise.all(Array.from({ length: 100 }, (_, i) => publisher.publishMessage({ data: Buffer.from(String(i)) })));
    const stuck = collectingSink();
    const held = stuck.received;
    const leased = (): number => fixture.server.backlog(subscriptionPath(subscription)).filter((entry) => entry.leased).length;

    const one = start(source(`${subscriptionUri(subscription)}?streams=1`, { env, maxInFlight: 5 }), stuck, {
      handleSignals: false,
      shutdownTimeout: 1000,
    });
    await waitFor(() => held.length === 5, 'a full window');
    await sleep(500);
    expect(held).toHaveLength(5);
    expect(leased()).toBe(5); // one stream, and Pub/Sub's flow control on it is the window
    await one.stop();
    await waitFor(() => leased() === 0, 'the drain to hand everything back');

    held.length = 0;
    const five = start(source(subscriptionUri(subscription), { env, maxInFlight: 5 }), stuck, {
      handleSignals: false,
      shutdownTimeout: 1000,
    });
    toClose.push({ close: () => five.stop() });
    await waitFor(() => held.length === 5, 'a full window');
    await sleep(500);
    expect(held).toHaveLength(5);
    expect(leased()).toBeLessThanOrEqual(25); // five streams of five: what waits beyond the window stays leased
    held[0].ack();
    await waitFor(() => held.length === 6, 'one more after an ack');
  });

  test('messages with the same key are published in their order, with many writes in parallel', async () => {
    const { subscription, topic } = await fixture.topicWithSubscription();
    const target = openSink(topicUri(topic), { concurrency: 16, batch: { count: 3 } });
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, (_, i) => write(target, { body: String(i), key: i % 2 === 0 ? 'even' : 'odd' })),
    );
    expect(outcomes.every((outcome) => outcome === undefined)).toBe(true);
    const stored = fixture.server.backlog(subscriptionPath(subscription)).map((entry) => entry.message);
    for (const key of ['even', 'odd']) {
      const bodies = stored.filter((message) => message.orderingKey === key).map((message) => Number(message.data.toString()));
      expect(bodies).toHaveLength(30);
      expect(bodies).toEqual([...bodies].sort((a, b) => a - b));
    }
  });

  test('nack -> redelivery with the delivery count Pub/Sub reports rising, then the dead letter after MAX_DELIVERIES', async () => {
    // a dead-letter policy makes Pub/Sub count deliveries (its own forwarding is set far away, at 100)
    const parking = await fixture.createTopic();
    const { topic, subscription } = await fixture.topicWithSubscription({ deadLetterTopic: parking, maxDeliveryAttempts: 100 });
    const deadLetters = await fixture.topicWithSubscription();
    await fixture.admin.topic(topic).publishMessage({ data: Buffer.from('poison'), attributes: { kind: 'bad' } });
    const deadLetter = openSink(topicUri(deadLetters.topic));
    // two pipelines one after the other: the count goes on rising, so it is Pub/Sub's, not this process's.
    // The first nacks delivery 1 and holds delivery 2, which its drain nacks.
    const firstSeen: Message[] = [];
    const first = start(
      source(subscriptionUri(subscription), { env, maxDeliveries: 3, deadLetter }),
      collectingSink((message) => {
        if (firstSeen.length === 1) message.nack(new Error('cannot handle it'));
      }, firstSeen),
      { handleSignals: false, shutdownTimeout: 200 },
    );
    await waitFor(() => firstSeen.length === 2, 'two deliveries');
    await first.stop();
    // the second sees delivery 3 and nacks it; delivery 4 is more than maxDeliveries: the dead letter
    const secondSeen: Message[] = [];
    const second = start(
      source(subscriptionUri(subscription), { env, maxDeliveries: 3, deadLetter }),
      collectingSink((message) => message.nack(new Error('cannot handle it')), secondSeen),
      { handleSignals: false },
    );
    toClose.push({ close: () => second.stop() });
    await waitFor(() => fixture.server.backlog(subscriptionPath(deadLetters.subscription)).length === 1, 'the dead letter');
    await waitFor(() => fixture.server.backlog(subscriptionPath(subscription)).length === 0, 'the original to be acked');
    expect(firstSeen).toHaveLength(2);
    expect(secondSeen).toHaveLength(1);
    const dead = fixture.server.backlog(subscriptionPath(deadLetters.subscription))[0].message;
    expect(dead.data.toString()).toBe('poison');
    expect(dead.attributes.kind).toBe('bad');
    expect(dead.attributes[DEAD_LETTER_REASON]).toContain('delivered 4 times, more than maxDeliveries (3)');
    expect(second.stats().deadLettered).toBe(1);
  });

  test('?nacklazy: a nack sends no ModifyAckDeadline(0); the message comes back when its lease runs out', async () => {
    const { topic, subscription } = await fixture.topicWithSubscription();
    await fixture.admin.topic(topic).publishMessage({ data: Buffer.from('later') });
    const deliveredAt: number[] = [];
    const running = start(
      source(`${subscriptionUri(subscription)}?nacklazy`, { env }),
      {
        name: 'nack-once',
        ready: true,
        next: (message) => {
          deliveredAt.push(Date.now());
          if (deliveredAt.length === 1) message.nack(new Error('later, please'));
          else message.ack();
        },
        error: () => undefined,
        complete: () => undefined,
        close: async () => undefined,
      },
      { handleSignals: false },
    );
    toClose.push({ close: () => running.stop() });
    await waitFor(() => deliveredAt.length === 1, 'the first delivery');
    const nacksBefore = fixture.server.stats.nacked;
    const expiredBefore = fixture.server.stats.expired;
    await waitFor(() => deliveredAt.length === 2, 'the redelivery after the lease ran out', 20_000);
    expect(fixture.server.stats.nacked).toBe(nacksBefore);
    expect(fixture.server.stats.expired).toBe(expiredBefore + 1);
    expect(deliveredAt[1] - deliveredAt[0]).toBeGreaterThan(5000);
  }, 30_000);
});

describe('gcppubsub:// sink errors', () => {
  test('an invalid message fails alone and permanently; the rest of its batch is published', async () => {
    const { topic, subscription } = await fixture.topicWithSubscription();
    const target = openSink(topicUri(topic), { batch: { count: 10, linger: 20 } });
    const [good, tooLong, reserved, alsoGood] = await Promise.all([
      write(target, { body: 'good' }),
      write(target, { body: 'x', metadata: { note: 'v'.repeat(2000) } }),
      write(target, { body: 'x', metadata: { 'goog-thing': '1' } }),
      write(target, { body: 'also good' }),
    ]);
    expect(good).toBeUndefined();
    expect(alsoGood).toBeUndefined();
    expect(tooLong).toBeInstanceOf(PermanentError);
    expect(tooLong?.message).toContain("the value of metadata 'note' is longer than 1024 bytes");
    expect(reserved).toBeInstanceOf(PermanentError);
    expect(reserved?.message).toContain('goog');
    expect(
      fixture.server
        .backlog(subscriptionPath(subscription))
        .map((entry) => entry.message.data.toString())
        .sort(),
    ).toEqual(['also good', 'good']);
  });

  test('a topic that does not exist fails without retries, naming the topic and the host', async () => {
    const missing = uniqueName('missing');
    const calls = fixture.server.stats.publishCalls;
    const outcome = await write(openSink(topicUri(missing), { retry: { maxAttempts: 5, initialDelay: 10 } }), { body: 'x' });
    expect(outcome).toBeInstanceOf(ConnectorError);
    expect((outcome as ConnectorError).retryable).toBe(false);
    expect(outcome?.message).toContain(`gcppubsub (${fixture.server.host})`);
    expect(outcome?.message).toContain(`topics/${missing} does not exist`);
    expect(fixture.server.stats.publishCalls).toBe(calls + 1);
  });
});

describe('gcppubsub:// connection loss', () => {
  test('the server goes away: ready turns false, the source and the sink reconnect and go on when it is back', async () => {
    const port = await freePort();
    const lossEnv = pubsubEnv(`127.0.0.1:${port}`);
    let server = await startPubSubServer({ port });
    const topic = uniqueName('topic');
    const subscription = uniqueName('sub');
    async function create(): Promise<PubSub> {
      const admin = new PubSub({ projectId: PROJECT, apiEndpoint: `127.0.0.1:${port}` });
      await admin.createTopic(topic);
      await admin.topic(topic).createSubscription(subscription);
      return admin;
    }
    let admin = await create();
    const received: string[] = [];
    const target = sink(`gcppubsub://${PROJECT}/${topic}`, { env: lossEnv, retry: { maxAttempts: 1 } });
    const running = start(
      source(`gcppubsub://${PROJECT}/${subscription}`, { env: lossEnv }),
      {
        name: 'collect',
        ready: true,
        next: (message) => {
          received.push(message.text());
          message.ack();
        },
        error: () => undefined,
        complete: () => undefined,
        close: async () => undefined,
      },
      { handleSignals: false },
    );
    try {
      await running.started;
      const driver = pipelineParts(running).sources[0].driver;
      await waitFor(() => driver.ready === true, 'the source to be ready');
      expect(await write(target, { body: 'before' })).toBeUndefined();
      await waitFor(() => received.includes('before'), 'the first message');

      await admin.close();
      await server.close();
      await waitFor(() => driver.ready === false, 'ready to turn false');
      // a write while the server is away waits (the client retries within PUBSUB_PUBLISH_TIMEOUT) and goes through
      const during = write(target, { body: 'during' });
      await sleep(500);
      // the service comes back with its topics and subscriptions, as Pub/Sub does after an outage
      server = await startPubSubServer({ port, state: server.state });
      admin = new PubSub({ projectId: PROJECT, apiEndpoint: `127.0.0.1:${port}` });
      expect(await during).toBeUndefined();
      await waitFor(() => received.includes('during'), 'a message after the reconnect', 30_000);
      expect(driver.ready).toBe(true);
    } finally {
      await running.stop();
      await target.close();
      await admin.close();
      await server.close();
    }
  }, 60_000);
});
