// The conformance suite for azuresb://, against the AMQP 1.0 Service Bus test server (test/fixtures/servicebus):
// a queue, and a topic with a subscription.
import { conformanceSuite } from './suite';
import { uniqueName } from '../helpers/wait';
import { ServiceBusTestServer } from '../fixtures/servicebus/server';

let server: ServiceBusTestServer | undefined;
// filled in once the server listens; the suite reads the options object when it is defined
const env: NodeJS.ProcessEnv = {};

async function startServer(): Promise<void> {
  server = await ServiceBusTestServer.start({ lockDurationMs: 10_000 });
  env.SERVICEBUS_CONNECTION_STRING = server.connectionString();
}

async function stopServer(): Promise<void> {
  await server?.stop();
  server = undefined;
}

function running(): ServiceBusTestServer {
  if (server === undefined) throw new Error('the Service Bus test server is not running');
  return server;
}

conformanceSuite({
  name: 'azuresb:// (queue)',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  sourceOptions: { env },
  sinkOptions: { env },
  beforeAll: startServer,
  afterAll: stopServer,
  async endpoints() {
    const queue = uniqueName('conformance');
    running().createQueue(queue);
    return { sourceUri: `azuresb://${queue}`, sinkUri: `azuresb://${queue}`, cleanup: async () => running().deleteQueue(queue) };
  },
});

conformanceSuite({
  name: 'azuresb:// (topic and subscription)',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  sourceOptions: { env },
  sinkOptions: { env },
  beforeAll: startServer,
  afterAll: stopServer,
  async endpoints() {
    const topic = uniqueName('conformance');
    running().createTopic(topic);
    running().createSubscription(topic, 'relay');
    return { sourceUri: `azuresb://${topic}?subscription=relay`, sinkUri: `azuresb://${topic}`, cleanup: async () => running().deleteTopic(topic) };
  },
});
