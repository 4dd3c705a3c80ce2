// What kafka:// promises beyond the conformance suite, against librdkafka's mock cluster (one for the file): commits
// never pass an unsettled offset, nacks retry in-process (for ever without a dead letter; the dead letter after
// maxDeliveries is the conformance suite's), rebalances wait for in-flight messages, and the sink maps keys, headers
// and ids.
import { Observable, type OperatorFunction, type Subscriber, type Subscription } from 'rxjs';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { source, sink } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { type Message, type MessageInit } from '../../lib/message';
import { memTopic } from '../../lib/connectors/local/mem';
import { sleep, uniqueName, waitFor } from '../helpers/wait';
import { send } from '../helpers/endpoints';
import type { MockKafkaCluster } from '../fixtures/kafka/mockCluster';
import {
  captureLogger,
  collectTopic,
  committedOffsets,
  produce,
  startKafkaFixture,
  type KafkaFixture,
  type ProducedRecord,
} from './helpers';
import { pipelineParts } from '../../lib/run';

let fixture: KafkaFixture | undefined;
let cluster: MockKafkaCluster;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;
const subscriptions: Subscription[] = [];

function env(): NodeJS.ProcessEnv {
  return { KAFKA_BROKERS: cluster.bootstrap, KAFKA_COMMIT_INTERVAL: '50ms', KAFKA_SESSION_TIMEOUT: '6s' };
}

beforeAll(async () => {
  fixture = await startKafkaFixture();
  ({ cluster, kafka, admin, producer } = fixture);
});

afterAll(async () => {
  await fixture?.stop();
});

afterEach(() => {
  for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
});

/** Polls the cluster every 25 ms until `condition` resolves true, for up to 15 s. */
function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  return waitFor(condition, what, 15_000, 25);
}

function offsetOf(message: Message): number {
  return Number(message.metadata['kafka-offset']);
}

/** `count` records with the values `<prefix>0`, `<prefix>1`... */
function numbered(prefix: string, count: number): ProducedRecord[] {
  return Array.from({ length: count }, (_, i) => ({ value: `${prefix}${i}` }));
}

/** A new topic of `partitions` partitions holding `records`, and a new consumer group to read it with. */
async function newTopic(name: string, partitions: number, records: ProducedRecord[]): Promise<{ topic: string; group: string }> {
  const topic = uniqueName(name);
  const group = uniqueName(`${name}-group`);
  await cluster.createTopic(topic, partitions);
  await produce(producer, topic, records);
  return { topic, group };
}

test('the mock cluster listens on 127.0.0.1 only', () => {
  expect(cluster.bootstrap).toMatch(/^127\.0\.0\.1:\d+$/);
});

test('shutdown commits: with an hour between interval commits, stop() still commits what was settled', async () => {
  const { topic, group } = await newTopic('final', 1, numbered('f', 5));
  const out = uniqueName('final-out');
  const running = start(
    source(`kafka://${group}?topic=${topic}`, { env: { ...env(), KAFKA_COMMIT_INTERVAL: '1h' } }),
    sink(`mem://${out}`),
    {
      handleSignals: false,
    },
  );
  await waitFor(() => running.stats().acked === 5, 'five messages', 15_000);
  expect((await committedOffsets(admin, group, topic)).get(0)).toBe(-1);
  await running.stop();
  expect((await committedOffsets(admin, group, topic)).get(0)).toBe(5);
  memTopic(out).delete();
});

test('out-of-order acks: a transform that delays odd offsets never lets the commit pass an unsettled offset', async () => {
  const { topic, group } = await newTopic('ooo', 1, numbered('m', 10));

  // the transform: even offsets pass at once, odd ones wait until the test releases them
  const held = new Map<number, Message>();
  let downstream: Subscriber<Message> | undefined;
  const delayOdd: OperatorFunction<Message, Message> = (input) =>
    new Observable<Message>((subscriber) => {
      downstream = subscriber;
      return input.subscribe({
        next: (message) => (offsetOf(message) % 2 === 1 ? held.set(offsetOf(message), message) : subscriber.next(message)),
        error: (error) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
    });
  const release = (offset: number): void => {
    const message = held.get(offset) as Message;
    held.delete(offset);
    downstream?.next(message);
  };
  const out = uniqueName('ooo-out');
  const running = start(source(`kafka://${group}?topic=${topic}`, { env: env(), ackTimeout: 0 }).pipe(delayOdd), sink(`mem://${out}`), {
    handleSignals: false,
  });

  const observed: number[] = [];
  const committed = async (): Promise<number> => {
    const offset = (await committedOffsets(admin, group, topic)).get(0) as number;
    observed.push(offset);
    return offset;
  };
  /** The commit reaches `offset`, then stays there for many commit intervals. */
  const settlesAt = async (offset: number): Promise<void> => {
    await until(async () => (await committed()) === offset, `the commit to reach ${offset}`);
    const from = observed.length;
    for (let i = 0; i < 8; i++) {
      await sleep(50);
      await committed();
    }
    expect(observed.slice(from)).toEqual(observed.slice(from).map(() => offset));
  };

  await waitFor(() => held.size === 5, 'the five odd offsets to be held', 15_000);
  await settlesAt(1); // 0 acked, 1 unsettled
  release(1);
  await settlesAt(3); // 2 acked, 3 unsettled
  release(5); // acked after 6 but before 3: the commit stays before 3
  await settlesAt(3);
  release(3);
  await settlesAt(7); // 3..6 acked, 7 unsettled
  release(7);
  release(9);
  await settlesAt(10);
  // the commit only ever moved forward, through the values above
  expect(observed).toEqual([...observed].sort((a, b) => a - b));
  expect(new Set(observed.filter((offset) => offset >= 0))).toEqual(new Set([1, 3, 7, 10]));
  expect(memTopic(out).length).toBe(10);
  await running.stop();
  memTopic(out).delete();
});

test('nack without a dead letter: retried in-process past maxDeliveries, the partition goes on but commits no further', async () => {
  const { topic, group } = await newTopic('nack', 1, numbered('n', 5));
  const captured = captureLogger();
  const deliveries = new Map<number, number>();
  let fifth: Message | undefined;
  subscriptions.push(
    source(`kafka://${group}?topic=${topic}`, { env: env(), maxDeliveries: 2, ackTimeout: 0, logger: captured.logger }).subscribe(
      (message) => {
        const offset = offsetOf(message);
        const count = (deliveries.get(offset) ?? 0) + 1;
        deliveries.set(offset, count);
        if (offset === 2 && count < 5) message.nack(new Error('not yet'));
        else if (offset === 2)
          fifth = message; // held: settled by the test below
        else message.ack();
      },
    ),
  );
  // delivered five times, past maxDeliveries (2): with no dead letter it keeps coming back
  await waitFor(() => fifth !== undefined, 'the fifth delivery of offset 2', 15_000);
  // the others went through once each, but the commit waits before offset 2, and stays there
  expect([0, 1, 3, 4].map((offset) => deliveries.get(offset))).toEqual([1, 1, 1, 1]);
  await until(async () => (await committedOffsets(admin, group, topic)).get(0) === 2, 'the commit to reach 2');
  await sleep(300);
  expect((await committedOffsets(admin, group, topic)).get(0)).toBe(2);
  expect(captured.text()).toContain('with no dead letter (DEAD_LETTER_URI) it is retried until it succeeds');
  // the fifth delivery is acked: the commit moves past it
  fifth?.ack();
  await until(async () => (await committedOffsets(admin, group, topic)).get(0) === 5, 'the commit to reach 5');
  expect(deliveries.get(2)).toBe(5);
});

test('a nacked message keeps its place in the window until its redelivery: never more than maxInFlight records at once', async () => {
  const { topic, group } = await newTopic('window', 1, numbered('w', 40));
  // offsets received and not acked yet, nacked ones waiting for their redelivery included
  const open = new Set<number>();
  let most = 0;
  let acked = 0;
  const deliveries = new Map<number, number>();
  subscriptions.push(
    source(`kafka://${group}?topic=${topic}`, { env: env(), maxInFlight: 4, ackTimeout: 0 }).subscribe((message) => {
      const offset = offsetOf(message);
      open.add(offset);
      most = Math.max(most, open.size);
      const count = (deliveries.get(offset) ?? 0) + 1;
      deliveries.set(offset, count);
      setImmediate(() => {
        if (count === 1) {
          message.nack(new Error('the first delivery fails'));
        } else {
          open.delete(offset);
          message.ack();
          acked++;
        }
      });
    }),
  );
  await waitFor(() => acked === 40, 'every message acked on its second delivery', 30_000);
  expect(most).toBe(4);
  expect(new Set(deliveries.values())).toEqual(new Set([2]));
  await until(async () => (await committedOffsets(admin, group, topic)).get(0) === 40, 'the commit to reach 40');
});

test('rebalance: the member giving partitions back waits for its in-flight messages, and goes on where it was with those it keeps', async () => {
  const { topic, group } = await newTopic(
    'rebalance',
    2,
    [0, 0, 1, 1].map((partition, i) => ({ value: `r${i}`, partition })),
  );
  const first = captureLogger();
  const second = captureLogger();
  const fromFirst: Message[] = [];
  subscriptions.push(
    source(`kafka://${group}?topic=${topic}`, { env: env(), ackTimeout: 0, logger: first.logger }).subscribe((message) =>
      fromFirst.push(message),
    ),
  );
  await waitFor(() => fromFirst.length === 4, 'the first member to hold four messages', 15_000);
  const fromSecond: Message[] = [];
  subscriptions.push(
    source(`kafka://${group}?topic=${topic}`, { env: env(), ackTimeout: 0, logger: second.logger }).subscribe((message) => {
      fromSecond.push(message);
      message.ack();
    }),
  );
  await waitFor(
    () => first.text().includes('waiting up to 3000 ms for 4 in-flight message(s)'),
    'the first member to notice the rebalance',
    15_000,
  );
  // settled while the first member waits: it commits them and only then joins again
  for (const message of fromFirst) message.ack();
  await waitFor(
    () => second.text().includes('joined group') && first.text().match(/joined group/g)?.length === 2,
    'both members to join',
    15_000,
  );
  expect(first.text()).not.toContain('still in flight after');
  const assignment = (captured: typeof first): number[] =>
    (
      captured
        .lines()
        .filter((line) => line.msg.startsWith('joined group'))
        .pop()?.assignment as Record<string, number[]>
    )[topic] ?? [];
  const kept = assignment(first);
  expect(kept).toHaveLength(1);
  expect([...kept, ...assignment(second)].sort()).toEqual([0, 1]);
  // new messages reach whichever member owns their partition; the first member does not read its kept partition again
  await produce(
    producer,
    topic,
    [0, 1].map((partition) => ({ value: `after-${partition}`, partition })),
  );
  const after = (): string[] => [...fromFirst, ...fromSecond].map((message) => message.text()).filter((text) => text.startsWith('after-'));
  await waitFor(() => after().length >= 2, 'both new messages', 15_000);
  for (const message of fromFirst) message.ack();
  expect(new Set(after())).toEqual(new Set(['after-0', 'after-1']));
  const keptTexts = fromFirst.filter((message) => Number(message.metadata['kafka-partition']) === kept[0]).map((message) => message.text());
  expect(keptTexts).toEqual([...new Set(keptTexts)]);
});

test('sink: key from key_name (else the message key), metadata as headers, the id in x-message-id; the source maps them back', async () => {
  const topic = uniqueName('mapping');
  await cluster.createTopic(topic, 2);
  const out = sink(`kafka://${topic}?key_name=user`, { env: env() });
  const inits: MessageInit[] = [
    { id: 'id-1', body: 'with user', metadata: { user: 'alice', 'x-trace': 't1' }, key: 'ignored' },
    { id: 'id-2', body: 'with key', metadata: { 'x-trace': 't2' }, key: 'bob' },
    { id: 'id-3', body: Buffer.from([0, 255]), metadata: { 'kafka-offset': '99' } },
  ];
  const outcomes = await send(out, inits);
  expect(outcomes).toEqual([undefined, undefined, undefined]);
  await out.close();
  const raw = await collectTopic(kafka, topic, uniqueName('raw'));
  await waitFor(() => raw.records.length === 3, 'three records', 15_000);
  await raw.stop();
  const byId = new Map(raw.records.map((record) => [record.headers['x-message-id'], record]));
  expect(byId.get('id-1')?.key).toBe('alice');
  expect(byId.get('id-1')?.headers).toEqual({ 'x-message-id': 'id-1', user: 'alice', 'x-trace': 't1' });
  expect(byId.get('id-2')?.key).toBe('bob');
  expect(byId.get('id-3')?.key).toBeUndefined();
  // the source's own kafka-* metadata is not written back as headers
  expect(byId.get('id-3')?.headers).toEqual({ 'x-message-id': 'id-3' });

  const received: Message[] = [];
  subscriptions.push(
    source(`kafka://${uniqueName('mapping-group')}?topic=${topic}`, { env: env() }).subscribe((message) => received.push(message)),
  );
  await waitFor(() => received.length === 3, 'three messages back', 15_000);
  const back = new Map(received.map((message) => [message.id, message]));
  expect(back.get('id-1')?.key).toBe('alice');
  expect(back.get('id-1')?.metadata).toMatchObject({ user: 'alice', 'x-trace': 't1', 'kafka-topic': topic });
  expect(back.get('id-1')?.metadata['x-message-id']).toBeUndefined();
  expect(back.get('id-3')?.body).toEqual(Buffer.from([0, 255]));
  expect(back.get('id-3')?.metadata['kafka-offset']).toBe(String(byId.get('id-3')?.offset));
  for (const message of received) message.ack();
});

test('sink with message_id=false: no x-message-id header; the metadata still travel, and the source makes its own id', async () => {
  const topic = uniqueName('no-id');
  await cluster.createTopic(topic, 1);
  const out = sink(`kafka://${topic}?message_id=false`, { env: env() });
  expect(await send(out, [{ id: 'id-1', body: 'plain', metadata: { 'x-trace': 't1' } }])).toEqual([undefined]);
  await out.close();
  const raw = await collectTopic(kafka, topic, uniqueName('raw'));
  await waitFor(() => raw.records.length === 1, 'the record', 15_000);
  await raw.stop();
  expect(raw.records[0].headers).toEqual({ 'x-trace': 't1' });
  const received: Message[] = [];
  subscriptions.push(
    source(`kafka://${uniqueName('no-id-group')}?topic=${topic}`, { env: env() }).subscribe((message) => received.push(message)),
  );
  await waitFor(() => received.length === 1, 'the message back', 15_000);
  expect(received[0].id).toBe(`${topic}/0/${raw.records[0].offset}`);
  received[0].ack();
});

test('broker outage: the source reports it and is not ready, then reconnects and goes on; nothing is lost', async () => {
  const { topic, group } = await newTopic('outage', 2, numbered('before-', 50));
  const out = uniqueName('outage-out');
  const captured = captureLogger();
  const running = start(source(`kafka://${group}?topic=${topic}`, { env: env(), logger: captured.logger }), sink(`mem://${out}`), {
    handleSignals: false,
    logger: captured.logger,
  });
  const driver = (): { ready?: boolean } => pipelineParts(running).sources[0].driver;
  await waitFor(() => running.stats().acked === 50, 'the first 50 messages', 15_000);
  expect(driver().ready).toBe(true);
  await sleep(200); // a commit interval or more: the 50 are committed
  await cluster.down();
  try {
    await waitFor(() => driver().ready === false, 'the source to notice the outage', 20_000);
    await waitFor(() => captured.text().includes(`kafka (${cluster.bootstrap}): the consumer failed: `), 'the outage report', 20_000);
  } finally {
    await cluster.up();
  }
  await waitFor(() => driver().ready === true, 'the source to reconnect and join again', 30_000);
  await produce(producer, topic, numbered('after-', 50));
  const bodies = new Set<string>();
  const delivered: Message[] = [];
  subscriptions.push(source(`mem://${out}`).subscribe((message) => delivered.push(message)));
  await waitFor(
    () => {
      for (const message of delivered.splice(0)) {
        bodies.add(message.text());
        message.ack();
      }
      return bodies.size === 100;
    },
    'all 100 messages',
    30_000,
  );
  for (let i = 0; i < 50; i++) expect(bodies.has(`before-${i}`) && bodies.has(`after-${i}`)).toBe(true);
  await running.stop();
  memTopic(out).delete();
});
