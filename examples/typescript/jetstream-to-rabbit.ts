import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import amqp from 'amqplib';
import { source, sink, start } from 'wasm-pipes';
import { mapMessages } from 'wasm-pipes/operators';

// JetStream -> uppercase -> RabbitMQ, at least once: each message is acked on the stream only once RabbitMQ confirmed it.
async function main(): Promise<void> {
  const run = process.pid; // unique names, so that the example can run next to others
  // what an operator creates once: a stream that captures the orders, a queue to relay them to
  const nats = await connect({ servers: process.env.NATS_SERVER_URL ?? '127.0.0.1:4222' });
  const streams = await jetstreamManager(nats);
  await streams.streams.add({ name: `ORDERS_${run}`, subjects: [`orders${run}.>`] });
  await jetstream(nats).publish(`orders${run}.created`, '{"id":1,"item":"widget"}', { msgID: 'order-1' });
  const rabbit = await amqp.connect(process.env.RABBIT_SERVER_URL ?? 'amqp://guest:guest@127.0.0.1:5672/');
  const channel = await rabbit.createChannel();
  await channel.assertQueue(`orders-${run}`);

  const relay = start(
    source(`nats://orders${run}.>?stream=ORDERS_${run}&consumer=to-rabbit`).pipe(mapMessages((m) => ({ body: m.text().toUpperCase() }))),
    sink(`rabbit://?routing_key=orders-${run}`),
  );
  let delivered = await channel.get(`orders-${run}`, { noAck: true });
  while (delivered === false) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    delivered = await channel.get(`orders-${run}`, { noAck: true });
  }
  console.log(delivered.properties.messageId, delivered.content.toString());

  await relay.stop();
  await streams.streams.delete(`ORDERS_${run}`);
  await channel.deleteQueue(`orders-${run}`);
  await rabbit.close();
  await nats.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
