// The Pub/Sub test server against the real client library: what it implements behaves like Pub/Sub, and what it
// does not implement says so (UNIMPLEMENTED), so that a test passing against it means something.
import { type Message as PubSubMessage, v1 } from '@google-cloud/pubsub';
import { credentials, status as grpcStatus } from '@grpc/grpc-js';
import { pubsubFixture, type PubSubFixture, PROJECT } from './helpers';
import { uniqueName, waitFor } from '../helpers/wait';

let fixture: PubSubFixture;

beforeAll(async () => {
  fixture = await pubsubFixture();
});
afterEach(async () => {
  await fixture.cleanup();
});
afterAll(async () => {
  await fixture.close();
});

function codeOf(promise: Promise<unknown>): Promise<number | undefined> {
  return promise.then(
    () => undefined,
    (error: { code?: number }) => error.code,
  );
}

describe('the Pub/Sub test server', () => {
  test('publish and streaming pull with the real client: data, attributes, ordering key, message ids', async () => {
    const { topic, subscription } = await fixture.topicWithSubscription();
    const publisher = fixture.admin.topic(topic, { messageOrdering: true });
    const ids = await Promise.all([
      publisher.publishMessage({ data: Buffer.from('one'), attributes: { a: '1' }, orderingKey: 'k' }),
      publisher.publishMessage({ data: Buffer.from('two'), attributes: { a: '2' } }),
    ]);
    expect(new Set(ids).size).toBe(2);
    const received: PubSubMessage[] = [];
    const sub = fixture.admin.subscription(subscription);
    sub.on('message', (message: PubSubMessage) => {
      received.push(message);
      message.ack();
    });
    await waitFor(() => received.length >= 2, 'two messages');
    await sub.close();
    const one = received.find((message) => message.data.toString() === 'one');
    expect(one?.attributes).toEqual({ a: '1' });
    expect(one?.orderingKey).toBe('k');
    expect(ids).toContain(one?.id);
    await waitFor(() => fixture.server.stats.acknowledged >= 2, 'the acks to reach the server');
    expect(fixture.server.backlog(`projects/${PROJECT}/subscriptions/${subscription}`)).toHaveLength(0);
  });

  test('a nack (ModifyAckDeadline 0) redelivers at once; with a dead-letter policy the delivery attempt rises', async () => {
    const deadLetter = await fixture.createTopic();
    const { topic, subscription } = await fixture.topicWithSubscription({ deadLetterTopic: deadLetter, maxDeliveryAttempts: 5 });
    await fixture.admin.topic(topic).publishMessage({ data: Buffer.from('again') });
    const attempts: number[] = [];
    const sub = fixture.admin.subscription(subscription);
    sub.on('message', (message: PubSubMessage) => {
      attempts.push(message.deliveryAttempt);
      if (attempts.length < 3) message.nack();
      else message.ack();
    });
    await waitFor(() => attempts.length >= 3, 'three deliveries');
    await sub.close();
    expect(attempts).toEqual([1, 2, 3]);
    expect(fixture.server.stats.nacked).toBeGreaterThanOrEqual(2);
  });

  test('after max_delivery_attempts, Pub/Sub itself forwards the message to the dead-letter topic', async () => {
    const deadLetterTopic = await fixture.createTopic();
    const deadLetterSubscription = uniqueName('dlq');
    await fixture.admin.topic(deadLetterTopic).createSubscription(deadLetterSubscription);
    const { topic, subscription } = await fixture.topicWithSubscription({ deadLetterTopic, maxDeliveryAttempts: 5 });
    await fixture.admin.topic(topic).publishMessage({ data: Buffer.from('poison') });
    let deliveries = 0;
    const sub = fixture.admin.subscription(subscription);
    sub.on('message', (message: PubSubMessage) => {
      deliveries++;
      message.nack();
    });
    const dead = fixture.server;
    await waitFor(() => dead.backlog(`projects/${PROJECT}/subscriptions/${deadLetterSubscription}`).length === 1, 'the dead letter');
    await sub.close();
    await fixture.admin.subscription(deadLetterSubscription).delete();
    expect(deliveries).toBe(5);
  });

  test('an unsettled message whose lease is not extended comes back after the ack deadline', async () => {
    const { topic, subscription } = await fixture.topicWithSubscription();
    await fixture.admin.topic(topic).publishMessage({ data: Buffer.from('slow') });
    const client = new v1.SubscriberClient({ servicePath: '127.0.0.1', port: fixture.server.port, sslCreds: credentials.createInsecure() });
    const name = `projects/${PROJECT}/subscriptions/${subscription}`;
    const stream = client.streamingPull();
    const got: string[] = [];
    stream.on('data', (response: { receivedMessages: { ackId: string }[] }) => {
      for (const received of response.receivedMessages) got.push(received.ackId);
    });
    stream.on('error', () => undefined);
    stream.write({ subscription: name, streamAckDeadlineSeconds: 10 });
    await waitFor(() => got.length === 1, 'the first delivery');
    const started = Date.now();
    await waitFor(() => got.length === 2, 'the redelivery after the lease ran out', 15_000);
    expect(Date.now() - started).toBeGreaterThan(9000);
    expect(got[0]).not.toBe(got[1]);
    stream.write({ ackIds: [got[1]] });
    await waitFor(() => fixture.server.backlog(name).length === 0, 'the ack');
    stream.end();
    stream.cancel();
    await client.close();
  }, 30_000);

  test('methods and fields it does not implement answer UNIMPLEMENTED, never a silent success', async () => {
    const topic = await fixture.createTopic();
    expect(await codeOf(fixture.admin.getTopics())).toBe(grpcStatus.UNIMPLEMENTED);
    expect(await codeOf(fixture.admin.topic(topic).createSubscription(uniqueName('sub'), { filter: 'attributes.a = "1"' }))).toBe(
      grpcStatus.UNIMPLEMENTED,
    );
    expect(await codeOf(fixture.admin.topic(topic).createSubscription(uniqueName('sub'), { enableMessageOrdering: true }))).toBe(
      grpcStatus.UNIMPLEMENTED,
    );
    const { subscription } = await fixture.topicWithSubscription();
    expect(await codeOf(fixture.admin.subscription(subscription).seek(new Date()))).toBe(grpcStatus.UNIMPLEMENTED);
  });

  test('errors like Pub/Sub: unknown topic NOT_FOUND, duplicate ALREADY_EXISTS, oversized attribute INVALID_ARGUMENT', async () => {
    expect(await codeOf(fixture.admin.topic(uniqueName('missing')).publishMessage({ data: Buffer.from('x') }))).toBe(grpcStatus.NOT_FOUND);
    const topic = await fixture.createTopic();
    expect(await codeOf(fixture.admin.createTopic(topic))).toBe(grpcStatus.ALREADY_EXISTS);
    expect(await codeOf(fixture.admin.topic(topic).publishMessage({ data: Buffer.from('x'), attributes: { a: 'v'.repeat(2000) } }))).toBe(
      grpcStatus.INVALID_ARGUMENT,
    );
    expect(await codeOf(fixture.admin.createTopic('goog-reserved'))).toBe(grpcStatus.INVALID_ARGUMENT);
  });
});
