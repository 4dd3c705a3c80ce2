// kafka:// sink order: messages of one key land in their partition in the order they came, even while produce
// requests fail (the mock cluster answers some of them with errors, so that their records are written again later).
import type { Kafka } from 'kafkajs';
import { source, sink } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { memTopic } from '../../lib/connectors/local/mem';
import { uniqueName, waitFor } from '../helpers/wait';
import type { MockKafkaCluster } from '../fixtures/kafka/mockCluster';
import { collectTopic, startKafkaFixture, type KafkaFixture } from './helpers';

let fixture: KafkaFixture | undefined;
let cluster: MockKafkaCluster;
let kafka: Kafka;

beforeAll(async () => {
  fixture = await startKafkaFixture();
  ({ cluster, kafka } = fixture);
});

afterAll(async () => {
  await fixture?.stop();
});

/** Kafka's API key of Produce requests, and two of its error codes. */
const PRODUCE = 0;
/** Not retried by kafkajs: the sink runtime retries the write. */
const UNKNOWN_SERVER_ERROR = -1;
/** Retried by kafkajs itself before the write fails. */
const NOT_ENOUGH_REPLICAS = 19;

test('10 000 messages over 100 keys arrive in per-key order while produce requests fail', async () => {
  const messages = 10_000;
  const keys = 100;
  const topic = uniqueName('order');
  const input = uniqueName('order-in');
  await cluster.createTopic(topic, 3);
  for (let i = 0; i < messages; i++) {
    const key = `key-${i % keys}`;
    memTopic(input).publish({ id: `m-${i}`, key, body: `${Math.floor(i / keys)}` });
  }
  // a third of the first 240 produce requests fail, some retried by kafkajs and some by the sink
  const pattern = [UNKNOWN_SERVER_ERROR, 0, 0, NOT_ENOUGH_REPLICAS, 0, 0];
  await cluster.failRequests(PRODUCE, Array.from({ length: 40 }, () => pattern).flat());

  const running = start(
    source(`mem://${input}`),
    sink(`kafka://${topic}`, {
      env: { KAFKA_BROKERS: cluster.bootstrap },
      // never give up (a nack would send the message back to the source, out of order): order is the point here
      retry: { maxAttempts: 1_000, initialDelay: 5, maxDelay: 100 },
    }),
    { handleSignals: false },
  );
  await waitFor(() => running.stats().acked === messages, 'every message confirmed', 60_000);
  const sinkStage = running.stats().stages.find((stage) => stage.role === 'sink');
  expect(sinkStage?.errors.write_retryable ?? 0).toBeGreaterThan(0); // writes did fail and were retried
  await running.stop();
  memTopic(input).delete();

  const written = await collectTopic(kafka, topic, uniqueName('order-check'));
  try {
    await waitFor(
      () => new Set(written.records.map((record) => record.headers['x-message-id'])).size === messages,
      'every message in the topic',
      30_000,
    );
  } finally {
    await written.stop();
  }
  // per key: the sequence numbers in partition order (a record written twice counts where it first landed)
  const sequences = new Map<string, number[]>();
  const partitions = new Map<string, Set<number>>();
  const seen = new Set<string>();
  const ordered = [...written.records].sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  for (const record of ordered) {
    const id = record.headers['x-message-id'];
    if (seen.has(id)) continue;
    seen.add(id);
    const key = record.key as string;
    sequences.set(key, [...(sequences.get(key) ?? []), Number(record.value.toString())]);
    partitions.set(key, (partitions.get(key) ?? new Set()).add(record.partition));
  }
  expect(sequences.size).toBe(keys);
  const expected = Array.from({ length: messages / keys }, (_, i) => i);
  const outOfOrder = [...sequences].filter(([, sequence]) => sequence.join() !== expected.join()).map(([key]) => key);
  expect(outOfOrder).toEqual([]);
  expect([...partitions.values()].every((set) => set.size === 1)).toBe(true);
});
