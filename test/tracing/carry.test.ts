// W3C trace context through every broker the trace test does not cross: a message written with `traceparent` and
// `tracestate` metadata by each sink comes back from the matching source with both intact (Kafka headers, SQS and SNS
// message attributes, Pub/Sub attributes, Service Bus application properties, MQTT 5 user properties, Redis stream
// fields, a JSON-lines file). HTTP, NATS and
// RabbitMQ are crossed by test/tracing/relay.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Subscription } from 'rxjs';
import { source, sink } from '../../lib/endpoints';
import type { Message } from '../../lib/message';
import { write } from '../helpers/endpoints';
import { uniqueName, waitFor } from '../helpers/wait';
import { Fauxqs } from '../aws/fauxqs';
import { startKafkaFixture, type KafkaFixture } from '../kafka/helpers';
import { pubsubFixture, type PubSubFixture, PROJECT } from '../gcppubsub/helpers';
import { startBus, type TestBus } from '../azuresb/helpers';
import { MQTT_URL, uniqueTopic } from '../mqtt/helpers';
import { StreamAdmin, REDIS_URL } from '../redisstream/helpers';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const TRACESTATE = 'vendor=opaque,other=1';

/** Writes one traced message through `sinkUri`, reads it back from `sourceUri`: the metadata it arrived with. */
async function roundTrip(sinkUri: string, sourceUri: string, env: NodeJS.ProcessEnv): Promise<Readonly<Record<string, string>>> {
  const out = sink(sinkUri, { env });
  const received: Message[] = [];
  let subscription: Subscription | undefined;
  try {
    expect(await write(out, { body: 'traced', metadata: { traceparent: TRACEPARENT, tracestate: TRACESTATE } })).toBeUndefined();
    subscription = source(sourceUri, { env }).subscribe((message) => {
      received.push(message);
      message.ack();
    });
    await waitFor(() => received.length > 0, `the message back from ${sourceUri}`, 20_000);
    return received[0].metadata;
  } finally {
    subscription?.unsubscribe();
    await out.close();
  }
}

describe('traceparent and tracestate through each broker', () => {
  test('Kafka headers', async () => {
    const kafka: KafkaFixture = await startKafkaFixture();
    try {
      const topic = uniqueName('carry');
      await kafka.cluster.createTopic(topic, 1);
      const metadata = await roundTrip(`kafka://${topic}`, `kafka://${uniqueName('group')}?topic=${topic}&offset=oldest`, {
        KAFKA_BROKERS: kafka.cluster.brokers.join(','),
      });
      expect([metadata.traceparent, metadata.tracestate]).toEqual([TRACEPARENT, TRACESTATE]);
    } finally {
      await kafka.stop();
    }
  });

  test('SQS message attributes, and SNS attributes through an SNS -> SQS subscription', async () => {
    const fauxqs = await Fauxqs.start();
    try {
      const queue = await fauxqs.createQueue(uniqueName('carry'));
      const direct = await roundTrip(fauxqs.sqsUri(queue.name), fauxqs.sqsUri(queue.name), process.env);
      expect([direct.traceparent, direct.tracestate]).toEqual([TRACEPARENT, TRACESTATE]);
      const topic = await fauxqs.createTopic(uniqueName('carry-topic'));
      const subscribed = await fauxqs.createQueue(uniqueName('carry-sub'));
      await fauxqs.subscribe(topic, subscribed, false);
      const viaSns = await roundTrip(fauxqs.snsUri(topic), fauxqs.sqsUri(subscribed.name), process.env);
      expect([viaSns.traceparent, viaSns.tracestate]).toEqual([TRACEPARENT, TRACESTATE]);
      await fauxqs.deleteQueue(queue);
      await fauxqs.deleteQueue(subscribed);
      await fauxqs.deleteTopic(topic);
    } finally {
      await fauxqs.stop();
    }
  });

  test('Pub/Sub attributes', async () => {
    const pubsub: PubSubFixture = await pubsubFixture();
    try {
      const { topic, subscription } = await pubsub.topicWithSubscription();
      const metadata = await roundTrip(`gcppubsub://${PROJECT}/${topic}`, `gcppubsub://${PROJECT}/${subscription}`, process.env);
      expect([metadata.traceparent, metadata.tracestate]).toEqual([TRACEPARENT, TRACESTATE]);
    } finally {
      await pubsub.cleanup();
      await pubsub.close();
    }
  });

  test('Service Bus application properties', async () => {
    const bus: TestBus = await startBus();
    try {
      const queue = bus.queue();
      const metadata = await roundTrip(`azuresb://${queue}`, `azuresb://${queue}`, bus.env);
      expect([metadata.traceparent, metadata.tracestate]).toEqual([TRACEPARENT, TRACESTATE]);
    } finally {
      await bus.stop();
    }
  });

  test('MQTT 5 user properties (the source subscribed first: MQTT keeps nothing for a subscriber to come)', async () => {
    const topic = uniqueTopic('carry');
    const env = { MQTT_SERVER_URL: MQTT_URL };
    const received: Message[] = [];
    const subscription = source(`mqtt://${topic}`, { env }).subscribe((message) => {
      received.push(message);
      message.ack();
    });
    const out = sink(`mqtt://${topic}`, { env });
    try {
      // a subscription takes a moment to reach the broker: send until one arrives
      await waitFor(
        async () => {
          if (received.length === 0) await write(out, { body: 'traced', metadata: { traceparent: TRACEPARENT, tracestate: TRACESTATE } });
          return received.length > 0;
        },
        'the message back from MQTT',
        20_000,
        200,
      );
      expect([received[0].metadata.traceparent, received[0].metadata.tracestate]).toEqual([TRACEPARENT, TRACESTATE]);
    } finally {
      subscription.unsubscribe();
      await out.close();
    }
  });

  test('Redis stream fields', async () => {
    const admin = new StreamAdmin();
    try {
      const stream = admin.stream('carry');
      await admin.createGroup(stream, 'relay');
      const metadata = await roundTrip(`redis-stream://${stream}`, `redis-stream://${stream}?group=relay`, { REDIS_SERVER_URL: REDIS_URL });
      expect([metadata.traceparent, metadata.tracestate]).toEqual([TRACEPARENT, TRACESTATE]);
    } finally {
      await admin.cleanup();
      await admin.close();
    }
  });

  test('a JSON-lines file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-carry-'));
    try {
      const file = `file://${path.join(dir, 'traced.jsonl')}`;
      const metadata = await roundTrip(file, file, process.env);
      expect([metadata.traceparent, metadata.tracestate]).toEqual([TRACEPARENT, TRACESTATE]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
