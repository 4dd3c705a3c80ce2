// Per-key order through retries into Pub/Sub (issue 12, item 6): the sink publishes the key as the ordering key and
// declares that Pub/Sub keeps it in order, so the sink runtime holds back a key's later messages while an earlier one
// waits for its retry. The failures are real: the server goes away mid-stream and comes back with its topics.
import { source, sink } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { memTopic } from '../../lib/connectors/local/mem';
import { startPubSubServer, type PubSubTestServer } from '../fixtures/pubsub/server';
import { PubSub } from '@google-cloud/pubsub';
import { pubsubEnv, PROJECT } from './helpers';
import { freePort, sleep, uniqueName, waitFor } from '../helpers/wait';
import { expectEveryKeyInOrder } from '../helpers/order';

test('the server goes away mid-stream: every key is published complete and in order once it is back', async () => {
  const port = await freePort();
  // the client gives up on a publish within a second, so that the sink's own retries do the work
  const env = { ...pubsubEnv(`127.0.0.1:${port}`), PUBSUB_PUBLISH_TIMEOUT: '1s' };
  // the admin client below reads process.env: never let it probe the cloud metadata address
  Object.assign(process.env, pubsubEnv(`127.0.0.1:${port}`));
  let server: PubSubTestServer = await startPubSubServer({ port });
  const topic = uniqueName('topic');
  const subscription = uniqueName('sub');
  const admin = new PubSub({ projectId: PROJECT, apiEndpoint: `127.0.0.1:${port}` });
  await admin.createTopic(topic);
  await admin.topic(topic).createSubscription(subscription);
  await admin.close();

  const keys = 20;
  const total = 2000;
  const input = uniqueName('pubsub-order');
  for (let i = 0; i < total; i++) {
    const key = `k${i % keys}`;
    memTopic(input).publish({ id: `m-${i}`, key, body: `${key}:${Math.floor(i / keys)}` });
  }
  // no order option: the sink's default for Pub/Sub is to keep it; small batches, many at once, to mix the keys
  const running = start(
    source(`mem://${input}`, { maxInFlight: 200 }),
    sink(`gcppubsub://${PROJECT}/${topic}`, {
      env,
      concurrency: 16,
      batch: { count: 5 },
      retry: { maxAttempts: 1000, initialDelay: 20, maxDelay: 200 },
    }),
    { handleSignals: false },
  );
  try {
    await waitFor(() => running.stats().acked >= total / 10, 'a tenth of the messages', 30_000);
    await server.close();
    await sleep(1500);
    expect(running.stats().acked).toBeLessThan(total);
    server = await startPubSubServer({ port, state: server.state });
    await waitFor(() => running.stats().acked === total, 'every message once the server is back', 90_000);
  } finally {
    await running.stop();
    memTopic(input).delete();
  }
  const stored = server
    .backlog(`projects/${PROJECT}/subscriptions/${subscription}`)
    .map(({ message }) => ({ key: message.orderingKey, position: Number(message.data.toString().split(':')[1]) }));
  await server.close();
  expectEveryKeyInOrder(stored, keys, total / keys);
}, 150_000);
