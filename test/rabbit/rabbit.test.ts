// Behaviour of the rabbit:// connector on the shared broker beyond the conformance suite: properties and headers <->
// metadata, the default exchange, routing by a metadata field, unroutable and missing targets, the broker's
// redelivery and reconnection (the dead letter after MAX_DELIVERIES is the conformance suite's, on both queue kinds).
import { source, start } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import { rabbitAdmin, uniqueQueue, drainQueue, type RabbitAdmin, RABBIT_URL } from './helpers';
import { CuttableProxy } from './proxy';
import { sleep, waitFor } from '../helpers/wait';
import { collectingSink, send, TestEndpoints, write } from '../helpers/endpoints';
import { pipelineParts } from '../../lib/run';

const env = { RABBIT_SERVER_URL: RABBIT_URL };
let admin: RabbitAdmin;
const queues: string[] = [];
const exchanges: string[] = [];
const endpoints = new TestEndpoints(env);
const { collect, openSink } = endpoints;

beforeAll(async () => {
  admin = await rabbitAdmin();
});

afterEach(async () => {
  await endpoints.closeAll();
  await sleep(50);
  for (const queue of queues.splice(0)) await admin.channel.deleteQueue(queue).catch(() => undefined);
  for (const exchange of exchanges.splice(0)) await admin.channel.deleteExchange(exchange).catch(() => undefined);
});

afterAll(async () => {
  await admin.close();
});

async function newQueue(
  prefix: string,
  options: Parameters<RabbitAdmin['channel']['assertQueue']>[1] = { durable: false },
): Promise<string> {
  const queue = uniqueQueue(prefix);
  await admin.channel.assertQueue(queue, options);
  queues.push(queue);
  return queue;
}

test('rabbit://?routing_key=QUEUE publishes straight to a queue; metadata maps to properties and headers', async () => {
  const queue = await newQueue('default');
  const outcome = await write(openSink(`rabbit://?routing_key=${queue}`), {
    id: 'order-1',
    key: 'ignored-with-a-fixed-routing-key',
    body: '{"total":3}',
    metadata: { 'content-type': 'application/json', 'correlation-id': 'c-9', priority: '5', 'x-tenant': 'acme', 'user-id': 'not-me' },
  });
  expect(outcome).toBeUndefined();
  const got = await admin.channel.get(queue, { noAck: true });
  if (got === false) throw new Error('nothing in the queue');
  expect(got.content.toString()).toBe('{"total":3}');
  expect(got.properties).toMatchObject({
    messageId: 'order-1',
    contentType: 'application/json',
    correlationId: 'c-9',
    priority: 5,
    deliveryMode: 2,
    headers: { 'x-tenant': 'acme' },
  });
  expect(got.properties.userId).toBeUndefined();
});

test('a delivery becomes a message: message-id the id, routing key the key, properties and headers the metadata', async () => {
  const queue = await newQueue('properties');
  admin.channel.sendToQueue(queue, Buffer.from('hi'), {
    messageId: 'm-7',
    contentType: 'text/plain',
    replyTo: 'answers',
    timestamp: 1700000000,
    headers: { 'x-count': 3, 'x-flag': true, 'x-raw': Buffer.from('bytes'), 'x-death': [{ count: 1 }] },
  });
  const received = collect(`rabbit://${queue}`);
  await waitFor(() => received.length === 1, 'the delivery');
  const [message] = received;
  expect(message.id).toBe('m-7');
  expect(message.key).toBe(queue);
  expect(message.text()).toBe('hi');
  expect(message.metadata).toEqual({
    'x-count': '3',
    'x-flag': 'true',
    'x-raw': 'bytes',
    'content-type': 'text/plain',
    'reply-to': 'answers',
    timestamp: '1700000000',
  });
  message.ack();
});

test('?key_name routes by a metadata field; a message without it fails without retries', async () => {
  const exchange = uniqueQueue('regions');
  await admin.channel.assertExchange(exchange, 'direct', { durable: false });
  exchanges.push(exchange);
  const europe = await newQueue('eu');
  await admin.channel.bindQueue(europe, exchange, 'eu');
  const out = openSink(`rabbit://${exchange}?key_name=region`);
  expect(await write(out, { body: 'for eu', metadata: { region: 'eu' } })).toBeUndefined();
  const missing = await write(out, { body: 'nowhere' });
  expect(missing?.name).toBe('PermanentError');
  expect(missing?.message).toContain("no metadata 'region'");
  expect((await drainQueue(admin.channel, europe)).map((message) => message.body)).toEqual(['for eu']);
});

test('an unroutable message is not acked: the broker returns it and the write fails', async () => {
  const exchange = uniqueQueue('nowhere');
  await admin.channel.assertExchange(exchange, 'topic', { durable: false });
  exchanges.push(exchange);
  const error = await write(openSink(`rabbit://${exchange}`, { retry: { maxAttempts: 1 } }), { body: 'lost?', key: 'no.binding' });
  expect(error?.message).toContain(`no queue is bound to exchange '${exchange}' for routing key 'no.binding'`);
});

test('in one batch, only the returned messages fail: a return is matched to its own message, not to the batch', async () => {
  const exchange = uniqueQueue('some');
  await admin.channel.assertExchange(exchange, 'direct', { durable: false });
  exchanges.push(exchange);
  const bound = await newQueue('bound');
  await admin.channel.bindQueue(bound, exchange, 'bound');
  const out = openSink(`rabbit://${exchange}`, { retry: { maxAttempts: 1 }, batch: { count: 20, linger: 50 } });
  const keys = Array.from({ length: 20 }, (_, i) => (i % 3 === 1 ? 'unbound' : 'bound'));
  const outcomes = await send(
    out,
    keys.map((key, i) => ({ id: `r-${i}`, body: `m${i}`, key })),
  );
  expect(
    outcomes.map((outcome) =>
      outcome === undefined ? 'ok' : outcome.message.includes("routing key 'unbound'") ? 'returned' : outcome.message,
    ),
  ).toEqual(keys.map((key) => (key === 'bound' ? 'ok' : 'returned')));
  expect((await drainQueue(admin.channel, bound)).map((message) => message.body).sort()).toEqual(
    keys.flatMap((key, i) => (key === 'bound' ? [`m${i}`] : [])).sort(),
  );
});

test('a missing exchange and a missing queue are reported with how to declare them', async () => {
  const error = await write(openSink('rabbit://no-such-exchange-wasm-pipes', { retry: { maxAttempts: 1 } }), { body: 'x' });
  expect(error?.message).toContain("rabbit (127.0.0.1:5672): exchange 'no-such-exchange-wasm-pipes' does not exist");
  const running = start(source('rabbit://no-such-queue-wasm-pipes', { env }), openSink('mem://unused-rabbit'), { handleSignals: false });
  await expect(running.started).rejects.toThrow("queue 'no-such-queue-wasm-pipes' does not exist; declare it first");
  await running.done.catch(() => undefined);
  memTopic('unused-rabbit').delete();
});

test('a prefetch above the window: deliveries beyond it wait in order and, when the pipeline stops, go back to the queue', async () => {
  const queue = await newQueue('prefetch');
  for (let i = 0; i < 10; i++) admin.channel.sendToQueue(queue, Buffer.from(`m${i}`), { messageId: `m-${i}` });
  const received = collect(`rabbit://${queue}?prefetch_count=10`, { maxInFlight: 3 });
  await waitFor(() => received.length === 3, 'a full window');
  await sleep(300);
  expect(received).toHaveLength(3);
  // two settle: the next two of those waiting come, oldest first
  received[0].ack();
  received[1].ack();
  await waitFor(() => received.length === 5, 'two more');
  expect(received.map((message) => message.id)).toEqual(['m-0', 'm-1', 'm-2', 'm-3', 'm-4']);
  // stopping: the three in flight are nacked and the five still waiting are given back, all requeued
  endpoints.unsubscribeAll();
  await waitFor(async () => (await admin.channel.checkQueue(queue)).messageCount === 8, 'the 8 unsettled back in the queue');
  expect((await drainQueue(admin.channel, queue)).map((message) => message.id).sort()).toEqual([
    'm-2',
    'm-3',
    'm-4',
    'm-5',
    'm-6',
    'm-7',
    'm-8',
    'm-9',
  ]);
});

describe('reconnection (the broker goes away behind a proxy)', () => {
  const proxy = new CuttableProxy(5672);
  beforeAll(() => proxy.start());
  afterAll(() => proxy.stop());

  test('the source reconnects with backoff, ready is false meanwhile, and what it held unacked comes back', async () => {
    const queue = await newQueue('reconnect');
    const proxied = { RABBIT_SERVER_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}/` };
    const collector = collectingSink();
    const { received } = collector;
    const running = start(source(`rabbit://${queue}`, { env: proxied }), collector, { handleSignals: false });
    await running.started;
    const driver = pipelineParts(running).sources[0].driver;
    admin.channel.sendToQueue(queue, Buffer.from('held'), { messageId: 'held-1' });
    await waitFor(() => received.length === 1, 'the first delivery');
    expect(driver.ready).toBe(true);

    proxy.cut(true);
    await waitFor(() => driver.ready === false, 'ready to turn false');
    received[0].ack(); // on a lost channel: not sent; the broker requeued it
    await sleep(500);
    proxy.restore();
    await waitFor(() => driver.ready === true, 'the source to reconnect', 20_000);
    await waitFor(() => received.length === 2, 'the unacked message again');
    expect(received[1].id).toBe('held-1');
    received[1].ack();
    admin.channel.sendToQueue(queue, Buffer.from('after'), { messageId: 'after-1' });
    await waitFor(() => received.length === 3, 'a message published after the reconnection');
    received[2].ack();
    await running.stop();
    await sleep(100);
    expect((await admin.channel.checkQueue(queue)).messageCount).toBe(0);
  });

  test('a publish the broker does not confirm within ?timeout fails, naming the timeout, after its retries; the sink closes after a cut', async () => {
    const queue = await newQueue('confirm-timeout');
    const proxied = { RABBIT_SERVER_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}/` };
    const out = openSink(`rabbit://?routing_key=${queue}&timeout=300ms`, { env: proxied, retry: { maxAttempts: 2, initialDelay: 50 } });
    expect(await write(out, { id: 'one', body: '1' })).toBeUndefined();
    proxy.freeze();
    const began = Date.now();
    // two attempts, each given up after 300 ms without a confirm, then the message is nacked with the reason
    const error = await write(out, { id: 'two', body: '2' });
    expect(error?.message).toMatch(/did not confirm a publish within 300 ms/);
    expect(Date.now() - began).toBeGreaterThanOrEqual(2 * 300);
    // closed at once after the connection dies: amqplib's own close waited forever for the broker's answer
    proxy.cut();
    const closing = Date.now();
    await out.close();
    expect(Date.now() - closing).toBeLessThan(5_000);
  });

  test('the sink reconnects on its next write after a loss', async () => {
    const queue = await newQueue('sink-reconnect');
    const out = openSink(`rabbit://?routing_key=${queue}`, { env: { RABBIT_SERVER_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}/` } });
    expect(await write(out, { id: 'one', body: '1' })).toBeUndefined();
    proxy.cut();
    await waitFor(() => out.ready === false, 'the sink to notice');
    expect(await write(out, { id: 'two', body: '2' })).toBeUndefined();
    expect((await drainQueue(admin.channel, queue)).map((message) => message.id)).toEqual(['one', 'two']);
  });
});
