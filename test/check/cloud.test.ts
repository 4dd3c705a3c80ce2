// `wasm-pipes check` against the emulators and test servers of the cloud connectors and Kafka: SQS and SNS on fauxqs,
// Kafka on librdkafka's mock cluster, Pub/Sub on the gRPC test server, Service Bus on the AMQP test server. What exists
// passes with a line each; what is missing or refused is a problem with its fix; nothing is received or sent.
import { runCheck } from './helpers';
import { uniqueName } from '../helpers/wait';
import { startedForTests } from '../helpers/fixture';
import { Fauxqs, AWS_TEST_ENV } from '../aws/fauxqs';
import { startKafkaFixture } from '../kafka/helpers';
import { pubsubFixture, PROJECT } from '../gcppubsub/helpers';
import { startBus } from '../azuresb/helpers';

describe('wasm-pipes check: SQS and SNS (fauxqs)', () => {
  const fauxqs = startedForTests(() => Fauxqs.start());

  test('a queue to receive from, a queue and a topic to send to: exit 0, and the queue still holds its message', async () => {
    const queue = await fauxqs().createQueue(uniqueName('check'));
    const topic = await fauxqs().createTopic(uniqueName('check-topic'));
    try {
      await fauxqs().fill(queue, [{ MessageBody: 'left alone' }]);
      const run = await runCheck({
        ...AWS_TEST_ENV,
        SOURCE_URI: fauxqs().sqsUri(queue.name),
        SINK_URI: `${fauxqs().sqsUri(queue.name)},${fauxqs().snsUri(topic)}`,
      });
      expect(run.problems).toEqual([]);
      expect(run.status).toBe(0);
      expect(run.ok).toEqual([
        expect.stringMatching(
          new RegExp(
            `^ok {2}SOURCE_URI +awssqs://.*${queue.name}.* {2}SQS 127\\.0\\.0\\.1:\\d+: queue '${queue.name}' \\(about 1 messages waiting, 0 in flight\\)$`,
          ),
        ),
        expect.stringMatching(new RegExp(`^ok {2}SINK_URI +awssqs://.*SQS 127\\.0\\.0\\.1:\\d+: queue '${queue.name}'`)),
        expect.stringMatching(
          /^ok {2}SINK_URI +awssns:\/\/\/arn:.*SNS 127\.0\.0\.1:\d+: topic 'check-topic.*' \(\d+ confirmed subscriptions\)$/,
        ),
      ]);
    } finally {
      await fauxqs().deleteQueue(queue);
      await fauxqs().deleteTopic(topic);
    }
  });

  test('a missing queue and a missing topic: exit 2, a line each naming the call and what to check', async () => {
    const missing = uniqueName('missing');
    const arn = `arn:aws:sns:us-east-1:000000000000:${missing}`;
    const run = await runCheck({ ...AWS_TEST_ENV, SOURCE_URI: fauxqs().sqsUri(missing), SINK_URI: fauxqs().snsUri(arn) });
    expect(run.status).toBe(2);
    expect(run.problems).toEqual([
      expect.stringMatching(
        new RegExp(
          `^wasm-pipes check: SOURCE_URI awssqs://.*${missing}.*: 127\\.0\\.0\\.1:\\d+: GetQueueUrl of '${missing}' failed: .*; check the queue URL \\(awssqs://<host>/<account id>/<queue name>\\) and the region$`,
        ),
      ),
      expect.stringMatching(
        new RegExp(`^wasm-pipes check: SINK_URI awssns:///${arn}.*: 127\\.0\\.0\\.1:\\d+: GetTopicAttributes of '${arn}' failed: `),
      ),
    ]);
  });
});

describe('wasm-pipes check: Kafka (mock cluster)', () => {
  const kafka = startedForTests(startKafkaFixture);

  test('a group reading a topic, a topic to write to: exit 0, with the partitions', async () => {
    const topic = uniqueName('check');
    await kafka().cluster.createTopic(topic, 3);
    const env = { KAFKA_BROKERS: kafka().cluster.brokers.join(',') };
    const run = await runCheck({ ...env, SOURCE_URI: `kafka://relay?topic=${topic}`, SINK_URI: `kafka://${topic}` });
    expect(run.problems).toEqual([]);
    expect(run.status).toBe(0);
    expect(run.ok).toEqual([
      `ok  SOURCE_URI      kafka://relay?topic=${topic}  Kafka ${env.KAFKA_BROKERS}: topic '${topic}' (3 partitions); group 'relay' has no committed offset yet (starts at ?offset=)`,
      `ok  SINK_URI        kafka://${topic}  Kafka ${env.KAFKA_BROKERS}: topic '${topic}' (3 partitions)`,
    ]);
    // the check did not create the group's offsets or any topic
    expect((await kafka().admin.listTopics()).filter((name) => name.startsWith('check'))).toEqual([topic]);
  });

  test('a topic the cluster does not have, brokers out of reach: exit 2, a line each', async () => {
    const missing = uniqueName('missing');
    const run = await runCheck({
      KAFKA_BROKERS: kafka().cluster.brokers.join(','),
      SOURCE_URI: `kafka://relay?topic=${missing}`,
      SINK_URI: `kafka://${missing}`,
    });
    expect(run.status).toBe(2);
    const fix = `create it first, for example: kafka-topics.sh --create --topic ${missing} --partitions 3 --bootstrap-server HOST:9092`;
    expect(run.problems).toEqual([
      `wasm-pipes check: SOURCE_URI kafka://relay?topic=${missing}: the cluster has no topic '${missing}'; ${fix}`,
      `wasm-pipes check: SINK_URI kafka://${missing}: the cluster has no topic '${missing}'; ${fix}`,
    ]);
    expect(await kafka().admin.listTopics()).not.toContain(missing);
    const refused = await runCheck({ KAFKA_BROKERS: '127.0.0.1:1', SOURCE_URI: 'stdin://', SINK_URI: 'kafka://audit' });
    expect(refused.status).toBe(2);
    expect(refused.problems).toEqual([
      expect.stringMatching(
        /^wasm-pipes check: SINK_URI kafka:\/\/audit: cannot connect to Kafka at 127\.0\.0\.1:1 \(.*ECONNREFUSED.*\); start the brokers, or fix KAFKA_BROKERS \(and KAFKA_SSL\)$/,
      ),
    ]);
  });
});

describe('wasm-pipes check: Pub/Sub (gRPC test server)', () => {
  const pubsub = startedForTests(pubsubFixture, async (running) => {
    await running.cleanup();
    await running.close();
  });

  test('a subscription to pull, a topic to publish to: exit 0', async () => {
    const { topic, subscription } = await pubsub().topicWithSubscription();
    const run = await runCheck({
      ...pubsub().env,
      SOURCE_URI: `gcppubsub://${PROJECT}/${subscription}`,
      SINK_URI: `gcppubsub://projects/${PROJECT}/topics/${topic}`,
    });
    expect(run.problems).toEqual([]);
    expect(run.status).toBe(0);
    expect(run.ok).toEqual([
      `ok  SOURCE_URI      gcppubsub://${PROJECT}/${subscription}  Pub/Sub ${pubsub().server.host}: subscription '${subscription}' of projects/${PROJECT}/topics/${topic} (ack deadline 10 s)`,
      `ok  SINK_URI        gcppubsub://projects/${PROJECT}/topics/${topic}  Pub/Sub ${pubsub().server.host}: topic '${topic}' exists`,
    ]);
  });

  test('a missing subscription and a missing topic: exit 2, a line each', async () => {
    const run = await runCheck({
      ...pubsub().env,
      SOURCE_URI: `gcppubsub://${PROJECT}/no-such-sub`,
      SINK_URI: `gcppubsub://${PROJECT}/no-such-topic`,
    });
    expect(run.status).toBe(2);
    expect(run.problems).toEqual([
      `wasm-pipes check: SOURCE_URI gcppubsub://${PROJECT}/no-such-sub: projects/${PROJECT}/subscriptions/no-such-sub does not exist at ${pubsub().server.host}; create it first (gcloud pubsub subscriptions create no-such-sub), or fix the URI`,
      `wasm-pipes check: SINK_URI gcppubsub://${PROJECT}/no-such-topic: projects/${PROJECT}/topics/no-such-topic does not exist at ${pubsub().server.host}; create it first (gcloud pubsub topics create no-such-topic), or fix the URI`,
    ]);
  });
});

describe('wasm-pipes check: Service Bus (AMQP test server)', () => {
  const bus = startedForTests(() => startBus());

  test('a queue to receive from and to send to: exit 0, and its message is still there', async () => {
    const queue = bus().queue();
    bus().server.publish(queue, [{ body: 'left alone' }]);
    const run = await runCheck({
      ...(bus().env as Record<string, string>),
      SOURCE_URI: `azuresb://${queue}`,
      SINK_URI: `azuresb://${queue}`,
    });
    expect(run.problems).toEqual([]);
    expect(run.status).toBe(0);
    expect(run.ok).toEqual([
      expect.stringMatching(
        new RegExp(`^ok {2}SOURCE_URI +azuresb://${queue} {2}Service Bus .*: '${queue}' can be received from \\(has messages\\)$`),
      ),
      expect.stringMatching(
        new RegExp(`^ok {2}SINK_URI +azuresb://${queue} {2}Service Bus .*: '${queue}' can be sent to \\(messages up to \\d+ bytes\\)$`),
      ),
    ]);
    expect(bus().server.store(queue).activeCount).toBe(1);
    expect(bus().server.store(queue).lockedCount).toBe(0);
  });

  test('a missing queue, a wrong key: exit 2, a line each', async () => {
    const queue = bus().queue();
    const run = await runCheck({ ...(bus().env as Record<string, string>), SOURCE_URI: 'azuresb://no-such-queue', SINK_URI: 'stdout://' });
    expect(run.status).toBe(2);
    expect(run.problems).toEqual([
      expect.stringMatching(
        /^wasm-pipes check: SOURCE_URI azuresb:\/\/no-such-queue: 'no-such-queue' does not exist in .*; create it .*, or fix the URI$/,
      ),
    ]);
    const refused = await runCheck({
      SERVICEBUS_CONNECTION_STRING: bus().server.connectionString(Buffer.from('wrong key').toString('base64')),
      SOURCE_URI: 'stdin://',
      SINK_URI: `azuresb://${queue}`,
    });
    expect(refused.status).toBe(2);
    expect(refused.problems).toEqual([
      expect.stringMatching(
        new RegExp(
          `^wasm-pipes check: SINK_URI azuresb://${queue}: .* refused the credentials for '${queue}' .*; fix SERVICEBUS_CONNECTION_STRING`,
        ),
      ),
    ]);
  });
});
