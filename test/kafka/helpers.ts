// Helpers for the Kafka tests: a raw kafkajs client on the mock cluster (to produce inputs, read outputs and read the
// group's committed offsets, independently of the connector), and a logger that keeps its lines for assertions.
import type { Kafka, Producer, Consumer, Admin, IHeaders } from 'kafkajs';
import { produceRecords } from '../fixtures/kafka/client';
import { capturingLogger } from '../helpers/wait';

export { startKafkaFixture, topicRecordCount } from '../fixtures/kafka/client';
export type { KafkaFixture } from '../fixtures/kafka/client';

export interface ProducedRecord {
  value: string | Buffer;
  key?: string;
  headers?: IHeaders;
  partition?: number;
}

/** Produces in chunks with acks=-1. */
export function produce(producer: Producer, topic: string, records: ProducedRecord[]): Promise<void> {
  return produceRecords(producer, topic, records.length, (i) => records[i]);
}

/** The group's committed offset per partition (-1 when none), read with admin.fetchOffsets. */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<Map<number, number>> {
  const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map(result.partitions.map((entry) => [entry.partition, Number(entry.offset)]));
}

export interface ReceivedRecord {
  partition: number;
  offset: number;
  key?: string;
  value: Buffer;
  headers: Record<string, string>;
}

/** Reads a topic from the start with its own group, collecting every record, until stop(). */
export async function collectTopic(
  kafka: Kafka,
  topic: string,
  groupId: string,
): Promise<{ records: ReceivedRecord[]; consumer: Consumer; stop(): Promise<void> }> {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, sessionTimeout: 6000, heartbeatInterval: 500 });
  const records: ReceivedRecord[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers ?? {})) if (value !== undefined) headers[name] = value.toString();
        records.push({
          partition: batch.partition,
          offset: Number(message.offset),
          key: message.key?.toString(),
          value: message.value ?? Buffer.alloc(0),
          headers,
        });
      }
    },
  });
  return { records, consumer, stop: () => consumer.disconnect() };
}

/** capturingLogger() at info, with the text of its messages (one a line) for assertions on what was said. */
export function captureLogger(): ReturnType<typeof capturingLogger> & { text(): string } {
  const captured = capturingLogger('info');
  return {
    ...captured,
    text: () =>
      captured
        .lines()
        .map((line) => line.msg)
        .join('\n'),
  };
}
