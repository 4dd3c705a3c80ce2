// The conformance suite on the shared RabbitMQ (127.0.0.1:5672): the sink publishes to a topic exchange (the message
// key becomes the routing key), bound with '#' to the queue the source consumes; names are unique per test. Twice:
// a classic queue (the driver counts deliveries by message id) and a quorum queue (the broker counts them).
import { conformanceSuite } from './suite';
import { rabbitAdmin, uniqueQueue, type RabbitAdmin, RABBIT_URL } from '../rabbit/helpers';

let admin: RabbitAdmin;
const MISSING = 'conformance-no-such-queue';

for (const [kind, queueOptions] of [
  ['classic queue', { durable: false }],
  ['quorum queue', { durable: true, arguments: { 'x-queue-type': 'quorum' } }],
] as const) {
  conformanceSuite({
    name: `rabbit:// (topic exchange -> ${kind})`,
    redelivery: true,
    subscribeFirst: false,
    keys: true,
    env: { RABBIT_SERVER_URL: RABBIT_URL },
    missing: { name: MISSING, sourceUri: `rabbit://${MISSING}`, sinkUri: `rabbit://${MISSING}` },
    // a metadata name longer than the 255 bytes an AMQP field name holds
    refused: { body: 'x', metadata: { ['n'.repeat(300)]: 'v' } },
    async beforeAll() {
      admin = await rabbitAdmin();
    },
    async afterAll() {
      await admin.close();
    },
    async endpoints() {
      const name = uniqueQueue('conformance');
      await admin.channel.assertExchange(name, 'topic', { durable: false, autoDelete: false });
      await admin.channel.assertQueue(name, queueOptions);
      await admin.channel.bindQueue(name, name, '#');
      return {
        sourceUri: `rabbit://${name}`,
        sinkUri: `rabbit://${name}`,
        cleanup: async () => {
          await admin.channel.deleteQueue(name);
          await admin.channel.deleteExchange(name);
        },
      };
    },
  });
}
