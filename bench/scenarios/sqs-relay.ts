// SQS1: relaying one SQS queue into another on the fauxqs emulator. The baseline is the loop one writes by hand with
// the SDK (receive 10, SendMessageBatch them, DeleteMessageBatch them, repeat); the candidate is the wasm-pipes
// pipeline awssqs:// -> awssqs:// (receives sized to the credit window on several pollers, batched concurrent sends,
// batched deletes). Both move the same messages between the same emulator's queues. SQS1 talks to the emulator
// directly (both sides share the CPU with it: this shows the pipeline's own cost); SQS2 puts 5 ms each way between
// the relay and the emulator, as a network does (this shows what concurrent receives and writes buy).
import net from 'node:net';
import { spawn, ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import {
  SQSClient,
  CreateQueueCommand,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  DeleteMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';

const SERVER = path.resolve(__dirname, '../../../test/fixtures/fauxqs/server.mjs');
const BODY = JSON.stringify({ event_type: 'page_view', user: 'user-0000', path: '/products/widgets/blue' }).padEnd(200, ' ');

let child: ChildProcess | undefined;
let endpoint = '';
let port = 0;
let client: SQSClient;
let round = 0;
const lost: string[] = [];

async function createQueue(name: string): Promise<string> {
  const output = await client.send(new CreateQueueCommand({ QueueName: name }));
  return output.QueueUrl as string;
}

async function fill(queueUrl: string, messages: number): Promise<void> {
  const calls: Promise<unknown>[] = [];
  for (let start = 0; start < messages; start += 10) {
    const count = Math.min(10, messages - start);
    calls.push(
      client.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: Array.from({ length: count }, (_, i) => ({ Id: `e${i}`, MessageBody: BODY })),
        }),
      ),
    );
    if (calls.length >= 16) await Promise.all(calls.splice(0));
  }
  await Promise.all(calls);
}

async function waiting(name: string): Promise<number> {
  const response = await fetch(`${endpoint}/_fauxqs/queues`);
  const queues = (await response.json()) as { name: string; approximateMessageCount: number }[];
  return queues.find((queue) => queue.name === name)?.approximateMessageCount ?? 0;
}

/** Fresh input (filled) and output queues for one round. */
async function queues(messages: number): Promise<{ name: string; input: string; output: string; drop(): Promise<void> }> {
  const name = `bench-sqs1-${process.pid}-${round++}`;
  const input = await createQueue(`${name}-in`);
  const output = await createQueue(`${name}-out`);
  await fill(input, messages);
  return {
    name,
    input,
    output,
    drop: async () => {
      await client.send(new DeleteQueueCommand({ QueueUrl: input }));
      await client.send(new DeleteQueueCommand({ QueueUrl: output }));
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
      await startEmulator();
      relayPort = port;
      if (options.delayMs > 0) {
        proxy = await latencyProxy(port, options.delayMs);
        relayPort = (proxy.address() as net.AddressInfo).port;
      }
      relayEndpoint = `http://127.0.0.1:${relayPort}`;
      relayClient = new SQSClient({ region: 'us-east-1', endpoint: relayEndpoint });
    },
    async teardown() {
      relayClient?.destroy();
      if (proxy !== undefined) await new Promise((resolve) => proxy?.close(resolve));
      await stopEmulator();
    },
    baseline: {
      name: 'SDK loop: receive 10 -> SendMessageBatch -> DeleteMessageBatch',
      async run(messages) {
        const { input, output, drop } = await queues(messages);
        const began = performance.now();
        let moved = 0;
        while (moved < messages) {
          const received = await relayClient.send(new ReceiveMessageCommand({ QueueUrl: input, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
          const batch = received.Messages ?? [];
          if (batch.length === 0) continue;
          await relayClient.send(
            new SendMessageBatchCommand({ QueueUrl: output, Entries: batch.map((message, i) => ({ Id: `m${i}`, MessageBody: message.Body })) }),
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
        const { name, output, drop } = await queues(messages);
        const uri = (queue: string): string =>
          `awssqs://127.0.0.1:${relayPort}/000000000000/${queue}?region=us-east-1&endpoint=${encodeURIComponent(relayEndpoint)}`;
        const began = performance.now();
        const running = start(source(uri(`${name}-in`), { maxInFlight: 1024 }), sink(uri(`${name}-out`)), { handleSignals: false });
        while (running.stats().acked < messages) await new Promise((resolve) => setTimeout(resolve, 5));
        await running.stop(); // counted: it sends the last deletes, as the baseline's loop does
        const elapsed = performance.now() - began;
        const arrived = await waiting(`${name}-out`);
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

async function startEmulator(): Promise<void> {
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  const started = spawn(process.execPath, [SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  child = started;
  const lines = readline.createInterface({ input: started.stdout as NodeJS.ReadableStream });
  port = await new Promise<number>((resolve, reject) => {
    started.once('exit', (code) => reject(new Error(`fauxqs exited with ${code}`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  lines.close();
  endpoint = `http://127.0.0.1:${port}`;
  client = new SQSClient({ region: 'us-east-1', endpoint });
}

async function stopEmulator(): Promise<void> {
  client?.destroy();
  if (child !== undefined && child.exitCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  child = undefined;
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
