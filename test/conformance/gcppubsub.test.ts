// The conformance suite for gcppubsub://: the real @google-cloud/pubsub client against the gRPC test server.
import { conformanceSuite } from './suite';
import { pubsubFixture, type PubSubFixture, PROJECT } from '../gcppubsub/helpers';

let fixture: PubSubFixture;
const env: NodeJS.ProcessEnv = {};
const MISSING = 'conformance-no-such-topic';

conformanceSuite({
  name: 'gcppubsub://',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  env,
  missing: {
    name: MISSING,
    sourceUri: `gcppubsub://projects/${PROJECT}/subscriptions/${MISSING}`,
    sinkUri: `gcppubsub://projects/${PROJECT}/topics/${MISSING}`,
  },
  // larger than the 10 MB Pub/Sub takes
  refused: { body: Buffer.alloc(11 * 1024 * 1024, 'x') },
  async beforeAll() {
    fixture = await pubsubFixture();
    Object.assign(env, fixture.env);
  },
  async afterAll() {
    await fixture.close();
  },
  async endpoints() {
    const { topic, subscription } = await fixture.topicWithSubscription();
    return {
      sourceUri: `gcppubsub://projects/${PROJECT}/subscriptions/${subscription}`,
      sinkUri: `gcppubsub://projects/${PROJECT}/topics/${topic}`,
      cleanup: () => fixture.cleanup(),
    };
  },
});
