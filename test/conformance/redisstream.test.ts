// The conformance suite on the shared Redis (127.0.0.1:6379): the sink adds entries (XADD) to a stream whose consumer
// group the source reads (XREADGROUP, XACK); each test has its own stream, deleted afterwards.
import { conformanceSuite, type ConformanceEndpoints } from './suite';
import { StreamAdmin, env } from '../redisstream/helpers';

const admin = new StreamAdmin();

/** A stream of its own with the group 'relay'; `params` go on the source URI. */
async function streamEndpoints(params: string): Promise<ConformanceEndpoints> {
  const stream = admin.stream('conformance');
  await admin.createGroup(stream, 'relay');
  return {
    sourceUri: `redis-stream://${stream}?group=relay&nack_delay=100ms${params}`,
    sinkUri: `redis-stream://${stream}`,
    cleanup: () => admin.cleanup(),
  };
}

conformanceSuite({
  name: 'redis-stream:// (consumer group <- XADD)',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  env,
  // XADD creates the stream; a reader needs its consumer group
  missing: { name: 'conformance-no-such-stream', sourceUri: 'redis-stream://conformance-no-such-stream?group=relay' },
  refused: { refusesNothing: 'a Redis stream entry holds up to 512 MB' },
  // the restarted bin reads as the same consumer, so the entries the killed one had pending come back to it at once
  crash: { endpoints: () => streamEndpoints('&consumer=crash-relay') },
  async beforeAll() {
    await admin.client.connect();
  },
  async afterAll() {
    await admin.close();
  },
  endpoints: () => streamEndpoints(''),
});
