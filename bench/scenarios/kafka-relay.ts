// KAFKA: Kafka -> mapMessages(uppercase) -> Kafka through wasm-pipes, against a raw kafkajs consume-produce loop
// (eachBatch -> producer.send with acks=-1 -> commit), on the same librdkafka mock cluster in the same run. Each run
// gets fresh topics (3 partitions) filled beforehand and a fresh consumer group; the clock starts at the first
// message seen, so the group join (a fixed ~3 s on the mock) is not measured on either side. Both keep the message id
// across the hop in the x-message-id header (the sink's default; the loop forwards the input's, else the
// topic/partition/offset id the source would give it, as a hand-written relay must to keep ids across hops), as MQ1
// does. KAFKA_MESSAGE_ID=false measures both without it: the sink with ?message_id=false against the bare loop.
import pino from 'pino';
import type { Admin, Kafka, Producer } from 'kafkajs';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { mapMessages } from '../../operators';
import type { MockKafkaCluster } from '../../test/fixtures/kafka/mockCluster';
import { produceRecords, startKafkaFixture, topicRecordCount, type KafkaFixture } from '../../test/fixtures/kafka/client';
import { BODY, uppercase } from './common';

const PARTITIONS = 3;
/** Whether both sides keep the message id across the hop (the sink's default); KAFKA_MESSAGE_ID=false: neither. */
const SEND_ID = process.env.KAFKA_MESSAGE_ID !== 'false';
const ID_HEADER = 'x-message-id';

let fixture: KafkaFixture | undefined;
let cluster: MockKafkaCluster | undefined;
let kafka: Kafka;
let producer: Producer;
let admin: Admin;
let runs = 0;
const quiet = pino({ level: 'warn' });
const candidateCounts: { expected: number; inOutput: number }[] = [];

/** Fresh input and output topics, the input filled with `messages` records. */
async function topics(messages: number, side: string): Promise<{ input: string; output: string; group: string }> {
  const name = `bench-kafka-${process.pid}-${runs++}-${side}`;
  const live = cluster as MockKafkaCluster;
  await live.createTopic(`${name}-in`, PARTITIONS);
  await live.createTopic(`${name}-out`, PARTITIONS);
  await produceRecords(producer, `${name}-in`, messages, (i) => ({ key: `user-${i % 1000}`, value: BODY }));
  return { input: `${name}-in`, output: `${name}-out`, group: `${name}-group` };
}

export const kafkaRelay: Scenario = {
  id: 'KAFKA',
  title: `kafka:// -> mapMessages(uppercase) -> kafka:// vs a raw kafkajs eachBatch -> send(acks=-1) loop (mock cluster)${SEND_ID ? ', ids kept' : ', no ids'}`,
  messages: 50_000,
  quickMessages: 10_000,
  target: 0.85,
  async setup() {
    fixture = await startKafkaFixture('wasm-pipes-bench');
    ({ cluster, kafka, admin, producer } = fixture);
  },
  async teardown() {
    await fixture?.stop();
    fixture = undefined;
    cluster = undefined;
  },
  baseline: {
    name: `kafkajs eachBatch -> producer.send(acks=-1) -> commit${SEND_ID ? ', the id in x-message-id' : ''}`,
    async run(messages) {
      const { input, output, group } = await topics(messages, 'raw');
      const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 250 });
      await consumer.connect();
      await consumer.subscribe({ topics: [input], fromBeginning: true });
      let began = 0;
      let relayed = 0;
      let finished!: () => void;
      const done = new Promise<void>((resolve) => (finished = resolve));
      await consumer.run({
        eachBatch: async ({ batch }) => {
          if (began === 0) began = performance.now();
          await producer.send({
            topic: output,
            acks: -1,
            messages: batch.messages.map((message) => ({
              key: message.key,
              value: uppercase(message.value ?? Buffer.alloc(0)),
              headers: SEND_ID
                ? { ...message.headers, [ID_HEADER]: message.headers?.[ID_HEADER] ?? `${batch.topic}/${batch.partition}/${message.offset}` }
                : message.headers,
            })),
          });
          relayed += batch.messages.length;
          if (relayed >= messages) finished();
        },
      });
      await done;
      const elapsed = performance.now() - began;
      await consumer.disconnect();
      return elapsed;
    },
  },
  candidate: {
    name: 'wasm-pipes kafka -> mapMessages -> kafka',
    async run(messages) {
      const { input, output, group } = await topics(messages, 'pipes');
      const env = { KAFKA_BROKERS: (cluster as MockKafkaCluster).bootstrap };
      let began = 0;
      const running = start(
        source(`kafka://${group}?topic=${input}`, { env, logger: quiet }).pipe(
          mapMessages((message) => {
            if (began === 0) began = performance.now();
            return { body: uppercase(message.body) };
          }),
        ),
        sink(`kafka://${output}${SEND_ID ? '' : '?message_id=false'}`, { env, logger: quiet }),
        { handleSignals: false, logger: quiet },
      );
      // acked at the source = confirmed by the sink with acks=-1
      while (running.stats().acked < messages) await new Promise((resolve) => setTimeout(resolve, 1));
      const elapsed = performance.now() - began;
      await running.stop();
      candidateCounts.push({ expected: messages, inOutput: await topicRecordCount(admin, output) });
      return elapsed;
    },
  },
  async verify() {
    const short = candidateCounts.filter((count) => count.inOutput < count.expected);
    return short.length === 0
      ? [`every candidate run's output topic holds all its messages (${candidateCounts.length} runs)`]
      : short.map((count) => `FAIL: an output topic holds ${count.inOutput} of ${count.expected} messages`);
  },
};
