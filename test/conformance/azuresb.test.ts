// The conformance suite for azuresb://, against the AMQP 1.0 Service Bus test server (test/fixtures/servicebus):
// a queue, and a topic with a subscription.
import { conformanceSuite, type ConformanceEndpoints } from './suite';
import { uniqueName } from '../helpers/wait';
import { ServiceBusTestServer } from '../fixtures/servicebus/server';

let server: ServiceBusTestServer | undefined;
// filled in once the server listens; the suite reads it when each test runs
const env: NodeJS.ProcessEnv = {};

function running(): ServiceBusTestServer {
  if (server === undefined) throw new Error('the Service Bus test server is not running');
  return server;
}

/** A queue, or a topic with the subscription 'relay'; the crash test gives a short lock, so that held messages come back soon. */
function endpoints(kind: 'queue' | 'topic', lockDurationMs?: number): () => Promise<ConformanceEndpoints> {
  return async () => {
    const name = uniqueName('conformance');
    if (kind === 'queue') {
      running().createQueue(name, { lockDurationMs });
      return { sourceUri: `azuresb://${name}`, sinkUri: `azuresb://${name}`, cleanup: async () => running().deleteQueue(name) };
    }
    running().createTopic(name);
    running().createSubscription(name, 'relay', { lockDurationMs });
    return {
      sourceUri: `azuresb://${name}?subscription=relay`,
      sinkUri: `azuresb://${name}`,
      cleanup: async () => running().deleteTopic(name),
    };
  };
}

for (const kind of ['queue', 'topic'] as const) {
  conformanceSuite({
    name: kind === 'queue' ? 'azuresb:// (queue)' : 'azuresb:// (topic and subscription)',
    redelivery: true,
    subscribeFirst: false,
    keys: true,
    env,
    missing: {
      name: 'conformance-no-such-entity',
      sourceUri: 'azuresb://conformance-no-such-entity',
      sinkUri: 'azuresb://conformance-no-such-entity',
    },
    // larger than the 256 KiB a Standard tier sender may send
    refused: { body: Buffer.alloc(300 * 1024, 'x') },
    async beforeAll() {
      server = await ServiceBusTestServer.start({ lockDurationMs: 10_000 });
      env.SERVICEBUS_CONNECTION_STRING = server.connectionString();
    },
    async afterAll() {
      await server?.stop();
      server = undefined;
    },
    endpoints: endpoints(kind),
    crash: { endpoints: endpoints(kind, 3000) },
  });
}
