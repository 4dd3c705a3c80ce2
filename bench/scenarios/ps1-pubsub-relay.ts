// PS1: the cost of wasm-pipes around the Pub/Sub client. A gcppubsub:// -> gcppubsub:// relay against a relay written
// by hand with the same client library (subscribe, publish, ack once published), both against the gRPC test server
// in this process, with the same window (1024) and batch sizes.
import type { Message as PubSubMessage, PubSub } from '@google-cloud/pubsub';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { startPubSubServer, type PubSubTestServer } from '../../test/fixtures/pubsub/server';
import { waitUntilArrived } from './common';

const PROJECT = 'wasm-pipes-bench';
const WINDOW = 1024;
const BODY = Buffer.from(JSON.stringify({ event_type: 'page_view', user: 'user-0000', path: '/products/widgets' }).padEnd(200, ' '));

let server: PubSubTestServer;
let admin: PubSub;
const arrivals = new Map<string, number>();
const created: { topics: string[]; subscriptions: string[] } = { topics: [], subscriptions: [] };
let round = 0;
const lost: string[] = [];

function loadClient(): typeof import('@google-cloud/pubsub') {
  return require('@google-cloud/pubsub') as typeof import('@google-cloud/pubsub');
}

/** A fresh input topic holding `messages` messages, its subscription, and an empty output topic. */
async function prepare(messages: number): Promise<{ inputSubscription: string; outputTopic: string }> {
  const name = `ps1-${process.pid}-${round++}`;
  const [input] = await admin.createTopic(`${name}-in`);
  await input.createSubscription(`${name}-in-sub`);
  await admin.createTopic(`${name}-out`);
  created.topics.push(`${name}-in`, `${name}-out`);
  created.subscriptions.push(`${name}-in-sub`);
  const publisher = admin.topic(`${name}-in`, { batching: { maxMessages: 1000, maxMilliseconds: 5 } });
  const published: Promise<string>[] = [];
  for (let i = 0; i < messages; i++) published.push(publisher.publishMessage({ data: BODY, attributes: { n: String(i) } }));
  await Promise.all(published);
  await publisher.flush();
  arrivals.set(`projects/${PROJECT}/topics/${name}-out`, 0);
  return { inputSubscription: `${name}-in-sub`, outputTopic: `${name}-out` };
}

function waitForArrivals(topic: string, messages: number): Promise<void> {
  return waitUntilArrived(topic, messages, () => arrivals.get(`projects/${PROJECT}/topics/${topic}`) ?? 0, lost);
}

export const ps1: Scenario = {
  id: 'PS1',
  title: 'gcppubsub:// -> gcppubsub:// relay vs a hand-written relay on the same client (test server in process)',
  messages: 20_000,
  quickMessages: 2_000,
  target: 0.7,
  async setup() {
    server = await startPubSubServer();
    process.env.METADATA_SERVER_DETECTION = 'none';
    process.env.PUBSUB_EMULATOR_HOST = server.host;
    server.onPublish((topic) => {
      const count = arrivals.get(topic);
      if (count !== undefined) arrivals.set(topic, count + 1);
    });
    admin = new (loadClient().PubSub)({ projectId: PROJECT, apiEndpoint: server.host });
  },
  async teardown() {
    for (const subscription of created.subscriptions)
      await admin
        .subscription(subscription)
        .delete()
        .catch(() => undefined);
    for (const topic of created.topics)
      await admin
        .topic(topic)
        .delete()
        .catch(() => undefined);
    await admin.close();
    await server.close();
  },
  baseline: {
    name: 'client library: on(message) -> publishMessage -> ack',
    async run(messages) {
      const { inputSubscription, outputTopic } = await prepare(messages);
      const client = new (loadClient().PubSub)({ projectId: PROJECT, apiEndpoint: server.host });
      const topic = client.topic(outputTopic, { batching: { maxMessages: 100, maxMilliseconds: 5 } });
      const subscription = client.subscription(inputSubscription, {
        flowControl: { maxMessages: WINDOW, allowExcessMessages: true },
        batching: { maxMilliseconds: 10 },
      });
      const began = performance.now();
      subscription.on('message', (message: PubSubMessage) => {
        topic.publishMessage({ data: message.data, attributes: message.attributes }).then(
          () => message.ack(),
          () => message.nack(),
        );
      });
      await waitForArrivals(outputTopic, messages);
      const elapsed = performance.now() - began;
      await subscription.close();
      await client.close();
      return elapsed;
    },
  },
  candidate: {
    name: 'wasm-pipes gcppubsub -> gcppubsub',
    async run(messages) {
      const { inputSubscription, outputTopic } = await prepare(messages);
      const began = performance.now();
      const running = start(
        source(`gcppubsub://${PROJECT}/${inputSubscription}`, { maxInFlight: WINDOW }),
        sink(`gcppubsub://${PROJECT}/${outputTopic}`),
        { handleSignals: false },
      );
      await waitForArrivals(outputTopic, messages);
      const elapsed = performance.now() - began;
      await running.stop();
      return elapsed;
    },
  },
  async verify() {
    return lost.length === 0 ? ['every message of every round arrived'] : [`FAIL: lost messages: ${lost.join('; ')}`];
  },
};
