// RMQ1: the cost of wasm-pipes around amqplib. A rabbit:// -> mapMessages(uppercase) -> rabbit:// relay against a
// relay written by hand on the same client with the same guarantee: consume with manual acks and a prefetch of the
// window, publish each message on a confirm channel (mandatory, persistent, its id as message-id, as the sink does)
// and ack the input on the copy's confirm. Both drain a queue filled beforehand on the shared RabbitMQ, into a queue
// of their own that is then deleted.
import type { Channel, ConfirmChannel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Scenario } from '../harness';
import { sink, source, start } from '../../lib';
import { mapMessages } from '../../operators';
import { BODY, uppercase, waitUntilArrived } from './common';

const URL = 'amqp://guest:guest@127.0.0.1:5672/';
const WINDOW = 1024;
let connection: ChannelModel;
let admin: Channel;
let round = 0;
const lost: string[] = [];

function amqp(): typeof import('amqplib') {
  return require('amqplib') as typeof import('amqplib');
}

/** A fresh input queue holding `messages` persistent messages (a body and an id each), and an empty output queue. */
async function prepare(messages: number): Promise<{ input: string; output: string }> {
  const name = `rmq1-${process.pid}-${round++}`;
  const input = `${name}-in`;
  const output = `${name}-out`;
  await admin.assertQueue(input, { durable: false });
  await admin.assertQueue(output, { durable: false });
  const filler = await connection.createConfirmChannel();
  for (let i = 0; i < messages; i++) {
    if (!filler.sendToQueue(input, BODY, { messageId: `m-${i}`, persistent: true })) {
      await new Promise((resolve) => filler.once('drain', resolve));
    }
  }
  await filler.waitForConfirms();
  await filler.close();
  return { input, output };
}

async function waitForQueue(queue: string, messages: number): Promise<void> {
  await waitUntilArrived(queue, messages, async () => (await admin.checkQueue(queue)).messageCount, lost);
}

async function remove(...queues: string[]): Promise<void> {
  for (const queue of queues) await admin.deleteQueue(queue);
}

export const rmq1: Scenario = {
  id: 'RMQ1',
  title: 'rabbit:// -> mapMessages(uppercase) -> rabbit:// relay vs a hand-written amqplib consume -> confirmed publish -> ack relay',
  messages: 50_000,
  quickMessages: 5_000,
  target: 0.9,
  async setup() {
    connection = await amqp().connect(URL);
    admin = await connection.createChannel();
  },
  async teardown() {
    await connection.close();
  },
  baseline: {
    name: `amqplib consume (prefetch ${WINDOW}) -> confirmed publish -> ack on confirm`,
    async run(messages) {
      const { input, output } = await prepare(messages);
      const began = performance.now();
      const relay = await amqp().connect(URL);
      const consuming = await relay.createChannel();
      const publishing: ConfirmChannel = await relay.createConfirmChannel();
      let closing = false;
      await consuming.prefetch(WINDOW);
      await consuming.consume(
        input,
        (message: ConsumeMessage | null) => {
          if (message === null) return;
          publishing.publish(
            '',
            output,
            uppercase(message.content),
            { messageId: message.properties.messageId as string, persistent: true, mandatory: true, headers: {} },
            (error: unknown) => {
              // after the round, closing the connection fails the confirms still pending: nothing to settle then
              if (closing) return;
              if (error) consuming.nack(message, false, true);
              else consuming.ack(message);
            },
          );
        },
        { noAck: false },
      );
      await waitForQueue(output, messages);
      const elapsed = performance.now() - began;
      closing = true;
      await relay.close();
      await remove(input, output);
      return elapsed;
    },
  },
  candidate: {
    name: 'wasm-pipes rabbit:// -> mapMessages -> rabbit://',
    async run(messages) {
      const { input, output } = await prepare(messages);
      const env = { RABBIT_SERVER_URL: URL };
      const began = performance.now();
      const running = start(
        source(`rabbit://${input}`, { env, maxInFlight: WINDOW }).pipe(mapMessages((m) => ({ body: uppercase(m.body) }))),
        sink(`rabbit://?routing_key=${output}`, { env }),
        { handleSignals: false },
      );
      await waitForQueue(output, messages);
      const elapsed = performance.now() - began;
      await running.stop();
      await remove(input, output);
      return elapsed;
    },
  },
  async verify() {
    return lost.length === 0 ? ['every message of every round arrived'] : [`FAIL: lost messages: ${lost.join('; ')}`];
  },
};
