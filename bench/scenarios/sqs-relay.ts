// SQS1: relaying one SQS queue into another on the fauxqs emulator. The baseline is the loop one writes by hand with
// the SDK (receive 10, SendMessageBatch them, DeleteMessageBatch them, repeat); the candidate is the wasm-pipes
// pipeline awssqs:// -> awssqs:// (receives sized to the credit window on several pollers, batched concurrent sends,
// batched deletes). Both move the same messages between the same emulator's queues. SQS1 talks to the emulator
// directly (both sides share the CPU with it: this shows the pipeline's own cost); SQS2 puts 5 ms each way between
// the relay and the emulator, as a network does (this shows what concurrent receives and writes buy).
import net from 'node:net';
import {
  SQSClient,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  DeleteMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { Fauxqs } from '../../test/aws/fauxqs';

const BODY = JSON.stringify({ event_type: 'page_view', user: 'user-0000', path: '/products/widgets/blue' }).padEnd(200, ' ');

let fauxqs: Fauxqs | undefined;
let round = 0;
const lost: string[] = [];

/** Fresh input (filled) and output queues for one round; `waiting()` counts the output queue's messages. */
async function queues(
  messages: number,
): Promise<{ name: string; input: string; output: string; waiting(): Promise<number>; drop(): Promise<void> }> {
  const emulator = fauxqs as Fauxqs;
  const name = `bench-sqs1-${process.pid}-${round++}`;
  const input = await emulator.createQueue(`${name}-in`);
  const output = await emulator.createQueue(`${name}-out`);
  await emulator.fill(
    input,
    Array.from({ length: messages }, () => ({ MessageBody: BODY })),
    16,
  );
  return {
    name,
    input: input.url,
    output: output.url,
    waiting: async () => (await emulator.counts(output)).waiting,
    drop: async () => {
      await emulator.sqs.send(new DeleteQueueCommand({ QueueUrl: input.url }));
      await emulator.sqs.send(new DeleteQueueCommand({ QueueUrl: output.url }));
    },
  };
}

/** A TCP proxy that delays every chunk by `delayMs` in each direction (order is kept: equal delays fire in order). */
function latencyProxy(targetPort: number, delayMs: number): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pipe = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (chunk) => setTimeout(() => to.write(chunk), delayMs));
      from.on('end', () => setTimeout(() => to.end(), delayMs));
      from.on('error', () => to.destroy());
    };
    pipe(client, upstream);
    pipe(upstream, client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface RelayOptions {
  id: string;
  title: string;
  messages: number;
  quickMessages: number;
  target: number;
  /** One-way delay between the relay and the emulator (0 = direct). */
  delayMs: number;
}

function relayScenario(options: RelayOptions): Scenario {
  let proxy: net.Server | undefined;
  /** Where the relays send their requests: the emulator, or the proxy in front of it. */
  let relayEndpoint = '';
  let relayPort = 0;
  let relayClient: SQSClient;
  return {
    id: options.id,
    title: options.title,
    messages: options.messages,
    quickMessages: options.quickMessages,
    target: options.target,
    async setup() {
      fauxqs = await Fauxqs.start();
      relayPort = fauxqs.port;
      if (options.delayMs > 0) {
        proxy = await latencyProxy(fauxqs.port, options.delayMs);
        relayPort = (proxy.address() as net.AddressInfo).port;
      }
      relayEndpoint = `http://127.0.0.1:${relayPort}`;
      relayClient = new SQSClient({ region: 'us-east-1', endpoint: relayEndpoint });
    },
    async teardown() {
      relayClient?.destroy();
      if (proxy !== undefined) await new Promise((resolve) => proxy?.close(resolve));
      await fauxqs?.stop();
      fauxqs = undefined;
    },
    baseline: {
      name: 'SDK loop: receive 10 -> SendMessageBatch -> DeleteMessageBatch',
      async run(messages) {
        const { input, output, drop } = await queues(messages);
        const began = performance.now();
        let moved = 0;
        while (moved < messages) {
          const received = await relayClient.send(
            new ReceiveMessageCommand({ QueueUrl: input, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
          );
          const batch = received.Messages ?? [];
          if (batch.length === 0) continue;
          await relayClient.send(
            new SendMessageBatchCommand({
              QueueUrl: output,
              Entries: batch.map((message, i) => ({ Id: `m${i}`, MessageBody: message.Body })),
            }),
          );
          await relayClient.send(
            new DeleteMessageBatchCommand({
              QueueUrl: input,
              Entries: batch.map((message, i) => ({ Id: `d${i}`, ReceiptHandle: message.ReceiptHandle })),
            }),
          );
          moved += batch.length;
        }
        const elapsed = performance.now() - began;
        await drop();
        return elapsed;
      },
    },
    candidate: {
      name: 'wasm-pipes awssqs:// -> awssqs://',
      async run(messages) {
        const { name, output, waiting, drop } = await queues(messages);
        const uri = (queue: string): string =>
          `awssqs://127.0.0.1:${relayPort}/000000000000/${queue}?region=us-east-1&endpoint=${encodeURIComponent(relayEndpoint)}`;
        const began = performance.now();
        const running = start(source(uri(`${name}-in`), { maxInFlight: 1024 }), sink(uri(`${name}-out`)), { handleSignals: false });
        while (running.stats().acked < messages) await new Promise((resolve) => setTimeout(resolve, 5));
        await running.stop(); // counted: it sends the last deletes, as the baseline's loop does
        const elapsed = performance.now() - began;
        const arrived = await waiting();
        if (arrived < messages) lost.push(`${options.id} ${name}: ${arrived} of ${messages} in ${output}`);
        await drop();
        return elapsed;
      },
    },
    async verify() {
      const mine = lost.filter((line) => line.startsWith(options.id));
      return mine.length === 0 ? ['every relayed message was in the output queue'] : mine.map((line) => `FAIL: ${line}`);
    },
  };
}

export const sqs1 = relayScenario({
  id: 'SQS1',
  title: 'awssqs:// -> awssqs:// relay on fauxqs vs a hand-written SDK loop (receive 10, send batch, delete batch)',
  messages: 20_000,
  quickMessages: 2_000,
  // the emulator shares the two cores with both sides, so this is about cost, not concurrency: no slower
  target: 0.9,
  delayMs: 0,
});

export const sqs2 = relayScenario({
  id: 'SQS2',
  title: 'the same relay with 5 ms each way between the relay and fauxqs, as over a network',
  messages: 5_000,
  quickMessages: 1_000,
  target: 2,
  delayMs: 5,
});
