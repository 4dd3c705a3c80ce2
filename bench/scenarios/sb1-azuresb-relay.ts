// SB1: Service Bus -> Service Bus relay. wasm-pipes (azuresb:// source, peek-lock, credit window 1024 -> azuresb://
// sink, batched) against a hand-written relay on the same SDK doing the same work: subscribe with 1024 concurrent
// calls, send in batches of 100 with 4 sends in flight, complete each message once its batch is confirmed. Both talk
// to the AMQP test server from test/fixtures/servicebus in this process, so the ratio is what the pipeline costs.
import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { ServiceBusTestServer } from '../../test/fixtures/servicebus/server';

const BODY = Buffer.from(
  JSON.stringify({ event_type: 'page_view', user: 'user-0000', path: '/products/widgets/blue-widget', ts: 1700000000000 }).padEnd(200, ' '),
);

let server: ServiceBusTestServer | undefined;
let round = 0;

function bus(): ServiceBusTestServer {
  if (server === undefined) throw new Error('SB1: the Service Bus test server is not running');
  return server;
}

/** Fresh queues for one run, with `messages` already waiting in the input. */
function prepare(messages: number, side: string): { from: string; to: string } {
  const name = `bench-sb1-${side}-${process.pid}-${round++}`;
  const from = `${name}-in`;
  const to = `${name}-out`;
  bus().createQueue(from);
  bus().createQueue(to);
  bus().publish(
    from,
    Array.from({ length: messages }, (_, i) => ({ body: BODY, messageId: `${name}-${i}`, applicationProperties: { n: String(i) } })),
  );
  return { from, to };
}

async function relayed(to: string, messages: number): Promise<void> {
  while (bus().store(to).stats.enqueued < messages) await new Promise((resolve) => setTimeout(resolve, 1));
}

function cleanup(from: string, to: string): void {
  bus().deleteQueue(from);
  bus().deleteQueue(to);
}

export const sb1: Scenario = {
  id: 'SB1',
  title: 'azuresb:// -> azuresb:// relay vs the same relay written on @azure/service-bus by hand',
  messages: 10_000,
  quickMessages: 2_000,
  target: 0.7,
  async setup() {
    server = await ServiceBusTestServer.start({ lockDurationMs: 60_000 });
  },
  async teardown() {
    await server?.stop();
    server = undefined;
  },
  baseline: {
    name: 'hand-written @azure/service-bus relay',
    async run(messages) {
      const { from, to } = prepare(messages, 'sdk');
      const client = new ServiceBusClient(bus().connectionString());
      const receiver = client.createReceiver(from, { skipParsingBodyAsJson: true, maxAutoLockRenewalDurationInMs: 0 });
      const sender = client.createSender(to);
      const began = performance.now();
      const waiting: { message: ServiceBusReceivedMessage; done: () => void }[] = [];
      let sending = 0;
      let scheduled = false;
      const flush = (): void => {
        scheduled = false;
        while (sending < 4 && waiting.length > 0) {
          const batch = waiting.splice(0, 100);
          sending++;
          void sender
            .sendMessages(
              batch.map(({ message }) => ({
                body: message.body,
                messageId: message.messageId,
                applicationProperties: message.applicationProperties,
              })),
            )
            .then(() => Promise.all(batch.map(({ message }) => receiver.completeMessage(message))))
            .then(() => {
              for (const { done } of batch) done();
              sending--;
              flush();
            });
        }
      };
      const subscription = receiver.subscribe(
        {
          processMessage: (message) =>
            new Promise<void>((done) => {
              waiting.push({ message, done });
              if (waiting.length >= 100) flush();
              else if (!scheduled) {
                scheduled = true;
                setImmediate(flush);
              }
            }),
          processError: async () => undefined,
        },
        { autoCompleteMessages: false, maxConcurrentCalls: 1024 },
      );
      await relayed(to, messages);
      const elapsed = performance.now() - began;
      await subscription.close();
      await client.close();
      cleanup(from, to);
      return elapsed;
    },
  },
  candidate: {
    name: 'wasm-pipes azuresb -> azuresb',
    async run(messages) {
      const { from, to } = prepare(messages, 'pipes');
      const env = { SERVICEBUS_CONNECTION_STRING: bus().connectionString() };
      const began = performance.now();
      const running = start(source(`azuresb://${from}`, { env, maxInFlight: 1024 }), sink(`azuresb://${to}`, { env }), {
        handleSignals: false,
      });
      await relayed(to, messages);
      const elapsed = performance.now() - began;
      await running.stop();
      cleanup(from, to);
      return elapsed;
    },
  },
};
