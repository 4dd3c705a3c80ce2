// Shared set-up for the Pub/Sub tests: the gRPC test server, the environment that points the client library at it
// (and keeps the auth library away from the cloud metadata address), and unique topics and subscriptions.
import { PubSub } from '@google-cloud/pubsub';
import { startPubSubServer, type PubSubTestServer } from '../fixtures/pubsub/server';
import { uniqueName } from '../helpers/wait';

export const PROJECT = 'wasm-pipes-test';

/** The variables every process that talks to the test server needs. */
export function pubsubEnv(host: string): Record<string, string> {
  return {
    PUBSUB_EMULATOR_HOST: host,
    GOOGLE_CLOUD_PROJECT: PROJECT,
    // never probe 169.254.169.254 (the cloud metadata server) from here
    METADATA_SERVER_DETECTION: 'none',
  };
}

export interface PubSubFixture {
  server: PubSubTestServer;
  admin: PubSub;
  env: Record<string, string>;
  /** A fresh topic and a subscription on it; `deadLetterTopic` adds a dead-letter policy (which makes Pub/Sub count deliveries). */
  topicWithSubscription(options?: {
    deadLetterTopic?: string;
    maxDeliveryAttempts?: number;
  }): Promise<{ topic: string; subscription: string }>;
  createTopic(): Promise<string>;
  /** Deletes every topic and subscription this fixture created. */
  cleanup(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a server and sets process.env for the client library in this process. */
export async function pubsubFixture(): Promise<PubSubFixture> {
  const server = await startPubSubServer();
  const env = pubsubEnv(server.host);
  Object.assign(process.env, env);
  const admin = new PubSub({ projectId: PROJECT, apiEndpoint: server.host });
  let topics: string[] = [];
  let subscriptions: string[] = [];

  async function createTopic(): Promise<string> {
    const id = uniqueName('topic');
    await admin.createTopic(id);
    topics.push(id);
    return id;
  }

  return {
    server,
    admin,
    env,
    createTopic,
    async topicWithSubscription(options = {}) {
      const topic = await createTopic();
      const subscription = uniqueName('sub');
      await admin.topic(topic).createSubscription(subscription, {
        deadLetterPolicy: options.deadLetterTopic
          ? {
              deadLetterTopic: `projects/${PROJECT}/topics/${options.deadLetterTopic}`,
              maxDeliveryAttempts: options.maxDeliveryAttempts ?? 100,
            }
          : undefined,
      });
      subscriptions.push(subscription);
      return { topic, subscription };
    },
    async cleanup() {
      for (const subscription of subscriptions)
        await admin
          .subscription(subscription)
          .delete()
          .catch(() => undefined);
      for (const topic of topics)
        await admin
          .topic(topic)
          .delete()
          .catch(() => undefined);
      topics = [];
      subscriptions = [];
    },
    async close() {
      await admin.close();
      await server.close();
    },
  };
}
