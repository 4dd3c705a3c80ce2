// The conformance suite on the shared Redis (127.0.0.1:6379): the sink adds entries (XADD) to a stream whose consumer
// group the source reads (XREADGROUP, XACK); each test has its own stream, deleted afterwards.
import { conformanceSuite } from './suite';
import { StreamAdmin, env } from '../redisstream/helpers';

const admin = new StreamAdmin();

conformanceSuite({
  name: 'redis-stream:// (consumer group <- XADD)',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  sourceOptions: { env },
  sinkOptions: { env },
  async beforeAll() {
    await admin.client.connect();
  },
  async afterAll() {
    await admin.close();
  },
  async endpoints() {
    const stream = admin.stream('conformance');
    await admin.createGroup(stream, 'relay');
    return {
      sourceUri: `redis-stream://${stream}?group=relay&nack_delay=100ms`,
      sinkUri: `redis-stream://${stream}`,
      cleanup: () => admin.cleanup(),
    };
  },
});
