// Raw kafkajs helpers for the Kafka benchmark: filling input topics and counting what landed in output topics.
import { Kafka, logLevel, Partitioners, Producer, Admin, Message } from 'kafkajs';

export function rawKafka(brokers: string[]): Kafka {
  return new Kafka({ brokers, clientId: 'wasm-pipes-bench', logLevel: logLevel.NOTHING });
}

export async function connectedProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  return producer;
}

/** Produces `count` records made by `make`, in requests of 1 000, acks=-1. */
export async function produceRecords(producer: Producer, topic: string, count: number, make: (i: number) => Message): Promise<void> {
  for (let start = 0; start < count; start += 1000) {
    const records: Message[] = [];
    for (let i = start; i < Math.min(count, start + 1000); i++) records.push(make(i));
    await producer.send({ topic, acks: -1, messages: records });
  }
}

/** Records in a topic: the sum of its partitions' high watermarks. */
export async function collectTopicCount(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, partition) => sum + Number(partition.high), 0);
}
