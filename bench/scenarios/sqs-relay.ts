// SQS1: relaying one SQS queue into another on the fauxqs emulator. The baseline is the loop one writes by hand with
// the SDK (receive 10, SendMessageBatch them, DeleteMessageBatch them, repeat); the candidate is the wasm-pipes
// pipeline awssqs:// -> awssqs:// (receives sized to the credit window on several pollers, batched concurrent sends,
// batched deletes). Both move the same messages between the same emulator's queues.
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

export const sqs1: Scenario = {
  id: 'SQS1',
  title: 'awssqs:// -> awssqs:// relay on fauxqs vs a hand-written SDK loop (receive 10, send batch, delete batch)',
  messages: 20_000,
  quickMessages: 2_000,
  target: 1.5,
  async setup() {
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
  },
  async teardown() {
    client?.destroy();
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  },
  baseline: {
    name: 'SDK loop: receive 10 -> SendMessageBatch -> DeleteMessageBatch',
    async run(messages) {
      const { input, output, drop } = await queues(messages);
      const began = performance.now();
      let moved = 0;
      while (moved < messages) {
        const received = await client.send(new ReceiveMessageCommand({ QueueUrl: input, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
        const batch = received.Messages ?? [];
        if (batch.length === 0) continue;
        await client.send(
          new SendMessageBatchCommand({ QueueUrl: output, Entries: batch.map((message, i) => ({ Id: `m${i}`, MessageBody: message.Body })) }),
        );
        await client.send(
          new DeleteMessageBatchCommand({ QueueUrl: input, Entries: batch.map((message, i) => ({ Id: `d${i}`, ReceiptHandle: message.ReceiptHandle })) }),
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
        `awssqs://127.0.0.1:${port}/000000000000/${queue}?region=us-east-1&endpoint=${encodeURIComponent(endpoint)}`;
      const began = performance.now();
      const running = start(source(uri(`${name}-in`), { maxInFlight: 1024 }), sink(uri(`${name}-out`)), { handleSignals: false });
      while (running.stats().acked < messages) await new Promise((resolve) => setTimeout(resolve, 5));
      await running.stop(); // counted: it sends the last deletes, as the baseline's loop does
      const elapsed = performance.now() - began;
      const arrived = await waiting(`${name}-out`);
      if (arrived < messages) lost.push(`round ${name}: ${arrived} of ${messages} in ${output}`);
      await drop();
      return elapsed;
    },
  },
  async verify() {
    return lost.length === 0 ? ['every relayed message was in the output queue'] : lost.map((line) => `FAIL: ${line}`);
  },
};
