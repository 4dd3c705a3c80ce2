// The conformance suite on the shared RabbitMQ (127.0.0.1:5672): the sink publishes to a topic exchange (the message
// key becomes the routing key), bound with '#' to the queue the source consumes; names are unique per test.
import { conformanceSuite } from './suite';
import { rabbitAdmin, uniqueQueue, RabbitAdmin, RABBIT_URL } from '../rabbit/helpers';

const env = { RABBIT_SERVER_URL: RABBIT_URL };
let admin: RabbitAdmin;

conformanceSuite({
  name: 'rabbit:// (topic exchange -> queue)',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  sourceOptions: { env },
  sinkOptions: { env },
  async beforeAll() {
    admin = await rabbitAdmin();
  },
  async afterAll() {
    await admin.close();
  },
  async endpoints() {
    const name = uniqueQueue('conformance');
    await admin.channel.assertExchange(name, 'topic', { durable: false, autoDelete: false });
    await admin.channel.assertQueue(name, { durable: false });
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
