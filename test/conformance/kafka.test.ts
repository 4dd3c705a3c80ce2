// The conformance suite for kafka://, against librdkafka's mock cluster (a real Kafka-protocol broker) started once
// for the file. Each test gets its own topic (3 partitions) and consumer group.
import { conformanceSuite } from './suite';
import { uniqueName } from '../helpers/wait';
import { MockKafkaCluster } from '../fixtures/kafka/mockCluster';

let cluster: MockKafkaCluster | undefined;
const env: NodeJS.ProcessEnv = { KAFKA_COMMIT_INTERVAL: '100ms', KAFKA_SESSION_TIMEOUT: '6s' };

conformanceSuite({
  name: 'kafka:// (kafkajs, librdkafka mock cluster)',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  env,
  timeoutMs: 15_000,
  missing: {
    alwaysExists: 'the broker creates a topic on its first use (auto.create.topics.enable, on by default in Kafka and the mock cluster)',
  },
  // larger than KAFKA_MAX_MESSAGE_BYTES (1 MiB)
  refused: { body: Buffer.alloc(2 * 1024 * 1024, 'x') },
  async beforeAll() {
    cluster = await MockKafkaCluster.start();
    env.KAFKA_BROKERS = cluster.bootstrap;
  },
  async afterAll() {
    await cluster?.stop();
  },
  async endpoints() {
    const topic = uniqueName('conformance');
    await cluster?.createTopic(topic, 3);
    // topics and groups live in the cluster process, which afterAll stops
    return { sourceUri: `kafka://${uniqueName('group')}?topic=${topic}`, sinkUri: `kafka://${topic}` };
  },
});
