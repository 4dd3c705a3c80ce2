// awssqs:// and awssns:// against the fauxqs emulator: what the conformance suite does not cover (ids, binary bodies,
// size and attribute limits, per-entry failures, nack backoff, visibility extension, dead-lettering by receive
// count, SNS envelopes, FIFO order, connection loss) and the URI errors.
import { type Message } from '../../lib/message';
import { source, sink } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { type SinkRuntime, type Sink, type SinkOptions } from '../../lib/sink';
import type { SourceOptions } from '../../lib/source';
import { ConfigError, ConnectorError, MissingResourceError, PermanentError } from '../../lib/errors';
import { DEAD_LETTER_REASON } from '../../lib/deadLetter';
import pino from 'pino';
import { closestScheme, supportedSchemes, lookupScheme, paramNames } from '../../lib/registry';
import { connectorPage, expectDeclaredAndNamed } from '../helpers/paramsTable';
import { memTopic } from '../../lib/connectors/local/mem';
import { sleep, uniqueName, waitFor } from '../helpers/wait';
import { ACCOUNT, AWS_TEST_ENV, Fauxqs, type QueueInfo } from './fauxqs';
import { HoldingProxy } from './holdingProxy';
import { runBinToEnd } from '../helpers/bin';
import os from 'node:os';
import { collectingSink, send } from '../helpers/endpoints';
import { pipelineParts } from '../../lib/run';

/** For collectingSink(): confirm each message as it arrives (a dead letter, or a source drained to look into). */
const ackEach = (message: Message): void => message.ack();

describe('awssqs:// and awssns:// on fauxqs', () => {
  let fauxqs: Fauxqs;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    fauxqs = await Fauxqs.start();
  });
  afterAll(async () => {
    await fauxqs.stop();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function queue(attributes: Record<string, string> = {}, suffix = ''): Promise<QueueInfo> {
    const created = await fauxqs.createQueue(`${uniqueName('sqs')}${suffix}`, attributes);
    cleanups.push(() => fauxqs.deleteQueue(created));
    return created;
  }

  /** The queue's contents once nothing is in flight any more (deletes are batched on the next turn). */
  async function emptied(q: QueueInfo): Promise<Awaited<ReturnType<Fauxqs['inspect']>>> {
    let view = await fauxqs.inspect(q);
    for (let i = 0; i < 100 && view.inflight.length + view.ready.length > 0; i++) {
      await sleep(50);
      view = await fauxqs.inspect(q);
    }
    return view;
  }

  function openSink(uri: string, options: SinkOptions = {}): Sink {
    const opened = sink(uri, options);
    cleanups.push(() => opened.close());
    return opened;
  }

  /** Runs `uri` into a sink that keeps each message (and acks it when `autoAck`); stopped and closed after the test. */
  function collect(uri: string, options: SourceOptions = {}, autoAck = true): Message[] {
    const keeper = collectingSink(autoAck ? ackEach : undefined);
    const running = start(source(uri, options), keeper, { handleSignals: false, shutdownTimeout: 1000 });
    cleanups.push(() => running.stop());
    return keeper.received;
  }

  test('the id, key, metadata and a binary body survive SQS -> SQS', async () => {
    const q = await queue();
    const out = openSink(fauxqs.sqsUri(q.name));
    const binary = Buffer.from([0xff, 0x00, 0x7f, 0xc3]);
    expect(
      await send(out, [
        { id: 'order-17', key: 'customer-3', body: binary, metadata: { 'content-type': 'application/octet-stream', region: 'eu' } },
      ]),
    ).toEqual([undefined]);
    // on the wire the body is base64 and marked as such (the gocloud convention), so other consumers can decode it
    const onQueue = await fauxqs.inspect(q);
    expect(onQueue.ready).toEqual([binary.toString('base64')]);
    const received = collect(fauxqs.sqsUri(q.name));
    await waitFor(() => received.length === 1, 'the message');
    expect(received[0].id).toBe('order-17');
    expect(received[0].key).toBe('customer-3');
    expect(received[0].body.equals(binary)).toBe(true);
    expect(received[0].metadata).toEqual({ 'content-type': 'application/octet-stream', region: 'eu' });
  });

  test('a message without our id attribute gets the SQS MessageId; attributes of other producers become metadata', async () => {
    const q = await queue();
    await fauxqs.fill(q, [
      {
        MessageBody: 'from another producer',
        MessageAttributes: { origin: { DataType: 'String', StringValue: 'cli' }, n: { DataType: 'Number', StringValue: '42' } },
      },
    ]);
    const received = collect(fauxqs.sqsUri(q.name));
    await waitFor(() => received.length === 1, 'the message');
    expect(received[0].id).toMatch(/^[0-9a-f-]{36}$/);
    expect(received[0].metadata).toEqual({ origin: 'cli', n: '42' });
    expect(received[0].text()).toBe('from another producer');
  });

  test('an oversized message fails permanently (dead letter, no retries); its batch-mates are delivered', async () => {
    const q = await queue();
    const deadLetter = collectingSink(ackEach);
    const out = openSink(fauxqs.sqsUri(q.name), { deadLetter, retry: { maxAttempts: 5, initialDelay: 5000 } });
    const big = 'x'.repeat(256 * 1024 + 1);
    const outcomes = await send(out, [{ body: 'small-1' }, { id: 'too-big', body: big }, { body: 'small-2' }]);
    expect(outcomes).toEqual([undefined, undefined, undefined]); // the big one is acked once the dead letter has it
    expect(deadLetter.received.map((message) => message.id)).toEqual(['too-big']);
    expect(deadLetter.received[0].metadata[DEAD_LETTER_REASON]).toMatch(
      /PermanentError: .*too-big is 262\d+ bytes.*over the 262144-byte limit/,
    );
    expect((await fauxqs.inspect(q)).ready.sort()).toEqual(['small-1', 'small-2']);
  });

  test('max_message_size raises the limit up to the 1 MiB that SQS allows', async () => {
    const q = await queue();
    const out = openSink(fauxqs.sqsUri(q.name, { max_message_size: '1mb' }));
    expect(await send(out, [{ body: 'y'.repeat(600 * 1024) }])).toEqual([undefined]);
    expect(() => sink(fauxqs.sqsUri(q.name, { max_message_size: '2mb' }))).toThrow(/max_message_size=2mb is out of range/);
  });

  test('a per-entry refusal by the queue fails only that message, permanently', async () => {
    // the queue takes at most 1 KiB: the sink's own 256 KiB check passes, SQS refuses the entry (sender fault)
    const q = await queue({ MaximumMessageSize: '1024' });
    const out = openSink(fauxqs.sqsUri(q.name), { retry: { maxAttempts: 5, initialDelay: 5000 } });
    const outcomes = await send(out, [{ body: 'fits' }, { id: 'over-queue-limit', body: 'z'.repeat(2048) }, { body: 'fits too' }]);
    expect(outcomes[0]).toBeUndefined();
    expect(outcomes[2]).toBeUndefined();
    expect(outcomes[1]).toBeInstanceOf(PermanentError);
    expect(outcomes[1]?.message).toMatch(/SQS refused message over-queue-limit/);
    expect((await fauxqs.inspect(q)).ready.sort()).toEqual(['fits', 'fits too']);
  });

  test('more than 10 metadata entries is a clear permanent error, not a retry loop', async () => {
    const q = await queue();
    const out = openSink(fauxqs.sqsUri(q.name), { retry: { maxAttempts: 5, initialDelay: 5000 } });
    const metadata = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`m${i}`, `v${i}`]));
    const [outcome] = await send(out, [{ id: 'crowded', body: 'x', metadata }]);
    expect(outcome).toBeInstanceOf(PermanentError);
    expect(outcome?.message).toMatch(/message crowded has 11 metadata entries .* at most 10 message attributes/);
    // ten fit, and then the id rides along only if there is room: the metadata wins
    const ten = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`m${i}`, `v${i}`]));
    expect(await send(out, [{ id: 'full', body: 'y', metadata: ten }])).toEqual([undefined]);
    const received = collect(fauxqs.sqsUri(q.name));
    await waitFor(() => received.length === 1, 'the message with ten attributes');
    expect(received[0].metadata).toEqual(ten);
  });

  test('metadata names SQS cannot carry are refused with the name in the error', async () => {
    const q = await queue();
    const out = openSink(fauxqs.sqsUri(q.name));
    const [outcome] = await send(out, [{ body: 'x', metadata: { 'bad name!': 'v' } }]);
    expect(outcome?.message).toMatch(/metadata name 'bad name!'.*rename it with mapMessages/);
  });

  test('nack makes the message visible again after nack_delay (0 = at once), counting deliveries', async () => {
    const q = await queue();
    await fauxqs.fill(q, [{ MessageBody: 'again' }]);
    const received = collect(fauxqs.sqsUri(q.name, { nack_delay: '2s' }), {}, false);
    await waitFor(() => received.length === 1, 'the first delivery');
    received[0].nack(new Error('try later'));
    await sleep(1000);
    expect(received).toHaveLength(1); // still invisible: the backoff holds it
    expect((await fauxqs.inspect(q)).inflight).toEqual(['again']);
    await waitFor(() => received.length === 2, 'the redelivery after the backoff');
    received[1].ack();

    const q2 = await queue();
    await fauxqs.fill(q2, [{ MessageBody: 'at once' }]);
    const immediate = collect(fauxqs.sqsUri(q2.name, { nack_delay: '0' }), {}, false);
    await waitFor(() => immediate.length === 1, 'the first delivery');
    immediate[0].nack(new Error('again now'));
    await waitFor(() => immediate.length === 2, 'the immediate redelivery', 1500);
    immediate[1].ack();
  });

  test('a long poll still open when the pipeline stops: stop() does not wait for it, and what it takes is visible again at once', async () => {
    const q = await queue();
    // SQS serves a long poll whose connection closed, so the source must neither cut it nor keep what it brings
    const proxy = await HoldingProxy.start(fauxqs.endpoint);
    cleanups.push(() => proxy.stop());
    const received: Message[] = [];
    const running = start(source(fauxqs.sqsUri(q.name, { endpoint: proxy.endpoint, pollers: '1' })), collectingSink(undefined, received), {
      handleSignals: false,
      shutdownTimeout: 1000,
    });
    await running.started;
    await waitFor(() => proxy.longPolls === 1, 'the long poll');
    await fauxqs.fill(q, [{ MessageBody: 'late' }]);
    // the poll took the message; its answer is held back until the pipeline has stopped
    await waitFor(() => proxy.held.length === 1, 'the answer of the long poll');
    expect(proxy.held[0].bodies).toEqual(['late']);
    expect((await fauxqs.inspect(q)).inflight).toEqual(['late']);
    await running.stop();
    proxy.held[0].release();
    // the 30 s visibility timeout it was received with did not hide it: released, for the next reader
    await waitFor(async () => (await fauxqs.inspect(q)).ready.includes('late'), 'the message to be visible again', 10_000);
    expect(received).toHaveLength(0);
  });

  test('a slow message keeps its visibility extended: no second delivery while it is in flight', async () => {
    const q = await queue();
    await fauxqs.fill(q, [{ MessageBody: 'slow' }]);
    const received = collect(fauxqs.sqsUri(q.name, { visibility: '1s' }), {}, false);
    await waitFor(() => received.length === 1, 'the delivery');
    await sleep(3500); // three and a half visibility timeouts
    expect(received).toHaveLength(1);
    expect((await fauxqs.inspect(q)).inflight).toEqual(['slow']);
    received[0].ack();
    expect(await emptied(q)).toEqual({ ready: [], inflight: [], delayed: [] });
  });

  test("without a dead letter, the queue's own redrive policy moves a message nacked maxReceiveCount times", async () => {
    const deadQueue = await queue();
    const q = await queue({ RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadQueue.arn, maxReceiveCount: 2 }) });
    await fauxqs.fill(q, [{ MessageBody: 'poison for SQS' }]);
    const received = collect(fauxqs.sqsUri(q.name, { nack_delay: '0' }), {}, false);
    await waitFor(() => received.length === 1, 'delivery 1');
    received[0].nack(new Error('bad'));
    await waitFor(() => received.length === 2, 'delivery 2');
    received[1].nack(new Error('bad'));
    let moved: string[] = [];
    for (let i = 0; i < 100 && moved.length === 0; i++) {
      await sleep(50);
      moved = (await fauxqs.inspect(deadQueue)).ready;
    }
    expect(moved).toEqual(['poison for SQS']);
    expect(received).toHaveLength(2);
  });

  test('SNS -> SQS -> pipeline: the envelope is unwrapped; raw=true keeps it; raw delivery needs no unwrapping', async () => {
    const name = uniqueName('sns');
    const topicArn = await fauxqs.createTopic(name);
    cleanups.push(() => fauxqs.deleteTopic(topicArn));
    const enveloped = await queue();
    const rawDelivered = await queue();
    await fauxqs.subscribe(topicArn, enveloped, false);
    await fauxqs.subscribe(topicArn, rawDelivered, true);
    const out = openSink(fauxqs.snsUri(topicArn));
    const binary = Buffer.from([1, 2, 3, 0xfe]);
    expect(
      await send(out, [
        { id: 'evt-1', key: 'k1', body: '{"event":"created"}', metadata: { 'content-type': 'application/json' } },
        { id: 'evt-2', body: binary },
      ]),
    ).toEqual([undefined, undefined]);

    // the queue holds SNS envelopes
    const stored = (await fauxqs.inspect(enveloped)).ready.map((body) => JSON.parse(body) as { Type: string; Message: string });
    expect(stored.map((envelope) => envelope.Type)).toEqual(['Notification', 'Notification']);

    const unwrapped = collect(fauxqs.sqsUri(enveloped.name));
    await waitFor(() => unwrapped.length === 2, 'two unwrapped messages');
    const byId = new Map(unwrapped.map((message) => [message.id, message]));
    expect(byId.get('evt-1')?.text()).toBe('{"event":"created"}');
    expect(byId.get('evt-1')?.key).toBe('k1');
    expect(byId.get('evt-1')?.metadata).toEqual({ 'content-type': 'application/json', 'sns-topic-arn': topicArn });
    expect(byId.get('evt-2')?.body.equals(binary)).toBe(true);

    const direct = collect(fauxqs.sqsUri(rawDelivered.name));
    await waitFor(() => direct.length === 2, 'two raw-delivered messages');
    expect(new Map(direct.map((message) => [message.id, message.text()])).get('evt-1')).toBe('{"event":"created"}');
    expect(direct.find((message) => message.id === 'evt-2')?.body.equals(binary)).toBe(true);

    // raw=true: the envelope itself is the body
    const again = await queue();
    await fauxqs.subscribe(topicArn, again, false);
    expect(await send(out, [{ id: 'evt-3', body: 'plain' }])).toEqual([undefined]);
    const asIs = collect(fauxqs.sqsUri(again.name, { raw: 'true' }));
    await waitFor(() => asIs.length === 1, 'the enveloped message');
    const envelope = asIs[0].json<{ Type: string; Message: string; TopicArn: string }>();
    expect(envelope).toMatchObject({ Type: 'Notification', Message: 'plain', TopicArn: topicArn });
  });

  test('FIFO: order per group is preserved end to end (mem -> SQS FIFO -> pipeline -> SQS FIFO), and ids deduplicate', async () => {
    const first = await queue({ FifoQueue: 'true' }, '.fifo');
    const second = await queue({ FifoQueue: 'true' }, '.fifo');
    const groups = ['g0', 'g1', 'g2'];
    const perGroup = 60;
    // a source with no ordering of its own, into a FIFO sink writing many batches at once
    const topic = uniqueName('fifo-in');
    for (let i = 0; i < perGroup; i++) {
      for (const group of groups) memTopic(topic).publish({ id: `${group}-${i}`, key: group, body: `${group}:${i}` });
    }
    cleanups.push(async () => memTopic(topic).delete());
    const intoFirst = start(source(`mem://${topic}`), sink(fauxqs.sqsUri(first.name), { concurrency: 8, batch: { count: 4 } }), {
      handleSignals: false,
    });
    await waitFor(() => intoFirst.stats().acked === groups.length * perGroup, 'the first leg', 20_000);
    await intoFirst.stop();

    // SQS FIFO -> SQS FIFO through a pipeline
    const relay = start(source(fauxqs.sqsUri(first.name)), sink(fauxqs.sqsUri(second.name)), { handleSignals: false });
    cleanups.push(() => relay.stop());
    await waitFor(() => relay.stats().acked === groups.length * perGroup, 'the relay', 20_000);

    const received = collect(fauxqs.sqsUri(second.name));
    await waitFor(() => received.length >= groups.length * perGroup, 'every message at the end', 20_000);
    for (const group of groups) {
      const sequence = received.filter((message) => message.key === group).map((message) => Number(message.text().split(':')[1]));
      expect(sequence).toEqual(Array.from({ length: perGroup }, (_, i) => i));
    }
    expect(received.find((message) => message.key === 'g1')?.id).toBe('g1-0');

    // the message id is the deduplication id: writing the same id again within the window adds nothing
    const out = openSink(fauxqs.sqsUri(second.name));
    expect(await send(out, [{ id: 'g0-0', key: 'g0', body: 'g0:duplicate' }])).toEqual([undefined]);
    await sleep(300);
    expect(received.some((message) => message.text() === 'g0:duplicate')).toBe(false);
  });

  test('connection loss: the source reports not ready, retries with backoff, and receives again after a restart', async () => {
    const own = await Fauxqs.start();
    const port = own.port;
    const name = uniqueName('loss');
    await own.createQueue(name);
    const uri = own.sqsUri(name, { waittime: '1s' });
    const received: Message[] = [];
    const running = start(source(uri), collectingSink(ackEach, received), { handleSignals: false });
    await running.started;
    const driver = pipelineParts(running).sources[0].driver;
    expect(driver.ready).toBe(true);
    await own.stop();
    await waitFor(() => driver.ready === false, 'ready to turn false', 10_000);
    const revived = await Fauxqs.start(port);
    try {
      const q = await revived.createQueue(name);
      await revived.fill(q, [{ MessageBody: 'after the outage' }]);
      await waitFor(() => received.length === 1, 'the message after the restart', 40_000);
      expect(received[0].text()).toBe('after the outage');
      expect(driver.ready).toBe(true);
      await running.stop();
    } finally {
      await revived.stop();
    }
  });

  test('a sink whose endpoint is down is not ready, retries, then nacks (nothing confirmed that was not written)', async () => {
    const own = await Fauxqs.start();
    const name = uniqueName('down');
    await own.createQueue(name);
    const uri = own.sqsUri(name);
    await own.stop();
    const out = openSink(uri, { retry: { maxAttempts: 2, initialDelay: 10 } });
    const [outcome] = await send(out, [{ body: 'nowhere' }]);
    expect(outcome?.message).toMatch(/awssqs \(127\.0\.0\.1:\d+\): GetQueueUrl|SendMessageBatch failed/);
    expect(outcome?.message).toMatch(/gave up after 2 attempts/);
    expect(out.ready).toBe(false);
  });

  test('a queue that does not exist fails the start-up of a source with a MissingResourceError naming it and how to create it', async () => {
    const name = uniqueName('missing');
    const running = start(source(fauxqs.sqsUri(name)), collectingSink(ackEach), { handleSignals: false });
    const failure = await running.started.then(
      () => undefined,
      (error: unknown) => error,
    );
    await running.stop().catch(() => undefined);
    expect(failure).toBeInstanceOf(MissingResourceError);
    expect((failure as Error).message).toBe(
      `awssqs (127.0.0.1:${fauxqs.port}): queue '${name}' does not exist (GetQueueUrl: QueueDoesNotExist: The specified queue does not exist.); ` +
        `create it (aws sqs create-queue --queue-name ${name}), or correct the queue URL (awssqs://<host>/<account id>/<queue name>) and the region`,
    );
  });

  test('a queue or topic that does not exist fails the start-up of a sink (a FIFO one with the attribute to create it)', async () => {
    /** Opens a sink on `uri` (closed after the test) and resolves to what its start-up failed with, if it failed. */
    const startFailure = async (uri: string): Promise<unknown> => {
      const opened = sink(uri);
      cleanups.push(() => opened.close());
      return (opened as SinkRuntime).start().then(
        () => undefined,
        (error: unknown) => error,
      );
    };

    const fifo = `${uniqueName('missing')}.fifo`;
    const queueFailure = await startFailure(fauxqs.sqsUri(fifo));
    expect(queueFailure).toBeInstanceOf(MissingResourceError);
    expect((queueFailure as Error).message).toContain(`queue '${fifo}' does not exist (GetQueueUrl: QueueDoesNotExist`);
    expect((queueFailure as Error).message).toContain(`aws sqs create-queue --queue-name ${fifo} --attributes FifoQueue=true`);

    const arn = `arn:aws:sns:us-east-1:${ACCOUNT}:${uniqueName('missing')}`;
    const topicFailure = await startFailure(fauxqs.snsUri(arn));
    expect(topicFailure).toBeInstanceOf(MissingResourceError);
    expect((topicFailure as Error).message).toContain(`topic '${arn}' does not exist (GetTopicAttributes: NotFound`);
    expect((topicFailure as Error).message).toContain(`aws sns create-topic --name ${arn.split(':')[5]})`);
  });

  test('a queue deleted while a sink writes: each write fails naming the queue, retryably (it may be re-created)', async () => {
    const q = await queue();
    const out = openSink(fauxqs.sqsUri(q.name), { retry: { maxAttempts: 2, initialDelay: 10 } });
    await (out as SinkRuntime).start();
    await fauxqs.deleteQueue(q);
    const [outcome] = await send(out, [{ body: 'to a deleted queue' }]);
    expect(outcome?.message).toMatch(/gave up after 2 attempts/);
    const cause = outcome?.cause;
    expect(cause).toBeInstanceOf(ConnectorError);
    expect(cause).not.toBeInstanceOf(MissingResourceError);
    expect((cause as ConnectorError).retryable).toBe(true);
    expect((cause as Error).message).toContain(`queue '${q.name}' does not exist (SendMessageBatch: QueueDoesNotExist`);
  });
});

describe('awssqs:// and awssns:// URIs', () => {
  test('the seed README forms open without connecting', () => {
    expect(() => source('awssqs://sqs.us-east-2.amazonaws.com/123456789012/myqueue?region=us-east-2')).not.toThrow();
    expect(() => sink('awssqs://sqs.us-east-2.amazonaws.com/123456789012/myqueue?region=us-east-2')).not.toThrow();
    expect(() => sink('awssns:///arn:aws:sns:us-east-2:123456789012:mytopic?region=us-east-2')).not.toThrow();
  });

  test("the seed's garbled 'myqueueawssqs://' gets 'awssqs://' suggested", () => {
    expect(supportedSchemes()).toEqual(expect.arrayContaining(['awssqs', 'awssns']));
    expect(closestScheme('myqueueawssqs')).toBe('awssqs');
    expect(() => sink('myqueueawssqs://sqs.us-east-2.amazonaws.com/123456789012/?region=us-east-2', { variable: 'SINK_URI' })).toThrow(
      "SINK_URI: unknown scheme 'myqueueawssqs://'. Did you mean 'awssqs://'?",
    );
  });

  test.each([
    [
      'awssqs://sqs.us-east-2.amazonaws.com/123456789012/?region=us-east-2',
      /does not name a queue: write awssqs:\/\/<host>\/<account id>\/<queue name>/,
    ],
    ['awssqs://sqs.us-east-2.amazonaws.com/myqueue', /does not name a queue/],
    ['awssqs://sqs.us-east-2.amazonaws.com/123456789012/my%20queue', /'my queue' is not a queue name/],
    ['awssqs://h/1/q?waittime=30s', /waittime=30s is out of range: use between 0s and 20s/],
    ['awssqs://h/1/q?visibility=soon', /'soon' is not a duration/],
    ['awssqs://h/1/q?raw=maybe', /'maybe' is not a boolean/],
    ['awssqs://h/1/q?endpoint=localhost:4566', /endpoint 'localhost:4566' must be an http:\/\/ or https:\/\/ URL/],
    ['awssqs://h/1/q?region=US%20East', /'US East' is not an AWS region/],
  ])('source %s is refused with a ConfigError', (uri, message) => {
    expect(() => source(uri, { variable: 'SOURCE_URI' })).toThrow(ConfigError);
    expect(() => source(uri, { variable: 'SOURCE_URI' })).toThrow(message);
  });

  test('an SNS URI needs the topic ARN after three slashes', () => {
    expect(() => sink('awssns://arn:aws:sns:us-east-2:123456789012:mytopic')).toThrow(ConfigError);
    expect(() => sink('awssns:///mytopic')).toThrow(/awssns:\/\/\/<topic ARN> \(three slashes\)/);
    expect(() => source('awssns:///arn:aws:sns:us-east-2:123456789012:mytopic')).toThrow(/can only be a sink/);
  });

  test('every parameter is declared with a description and a default, and docs/connectors/aws.md names each', () => {
    const page = connectorPage('aws');
    const sqs = lookupScheme('awssqs', 'SOURCE_URI');
    const sns = lookupScheme('awssns', 'SINK_URI');
    const declared = [...(sqs.sourceParams ?? []), ...(sqs.sinkParams ?? []), ...(sns.sinkParams ?? [])];
    expect(paramNames(sqs.sourceParams)).toEqual([
      'region',
      'endpoint',
      'waittime',
      'visibility',
      'raw',
      'pollers',
      'nack_delay',
      'nack_delay_max',
    ]);
    expect(paramNames(sqs.sinkParams)).toEqual(['region', 'endpoint', 'max_message_size']);
    expect(paramNames(sns.sinkParams)).toEqual(['region', 'endpoint']);
    expectDeclaredAndNamed(declared, page);
  });

  test('no region anywhere fails the start-up with what to set, for a source and for a sink (not a retry loop)', async () => {
    const { AWS_REGION: _region, ...credentials } = AWS_TEST_ENV;
    const noProfile = {
      ...credentials,
      HOME: os.tmpdir(),
      AWS_CONFIG_FILE: '/nonexistent/config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
    };
    // an endpoint override names no region in its host; nothing listens there: the check comes before any request
    const queueUri = 'awssqs://127.0.0.1:9/000000000000/orders?endpoint=http://127.0.0.1:9';
    const [asSource, asSink] = await Promise.all([
      runBinToEnd({ ...noProfile, SOURCE_URI: queueUri, SINK_URI: 'stdout://' }, '', { timeoutMs: 20_000 }),
      runBinToEnd({ ...noProfile, SOURCE_URI: `mem://${uniqueName('idle')}`, SINK_URI: queueUri }, '', { timeoutMs: 20_000 }),
    ]);
    for (const run of [asSource, asSink]) {
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(
        'awssqs (127.0.0.1:9): no AWS region for SQS: add ?region=us-east-2 (for example) to the URI, or set AWS_REGION',
      );
    }
  });

  test('an unknown parameter is warned about, naming the known ones', () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    source('awssqs://h/000000000000/q?region=us-east-1&wait_time=5', { logger });
    expect(lines.join('')).toMatch(/wait_time.*waittime/);
  });
});
