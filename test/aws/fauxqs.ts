// The fauxqs SQS/SNS emulator for the tests and the SQS benchmarks: a child process on 127.0.0.1 and a free port
// (fauxqs is ESM-only and its CLI listens on every interface), plus small admin helpers that use the real AWS SDK
// clients against it.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { repositoryRoot } from '../fixtures/root';
import {
  SQSClient,
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
} from '@aws-sdk/client-sqs';
import { SNSClient, CreateTopicCommand, DeleteTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';

// never reach AWS: fake credentials, a fixed region, no instance metadata probing, no profile
process.env.AWS_ACCESS_KEY_ID = 'test';
process.env.AWS_SECRET_ACCESS_KEY = 'test';
process.env.AWS_REGION = 'us-east-1';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
// the SDK warns once per process that releases after January 2027 need Node 22; the pinned version works on 20
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
delete process.env.AWS_PROFILE;
delete process.env.AWS_SESSION_TOKEN;
delete process.env.AWS_ENDPOINT_URL;
delete process.env.AWS_ENDPOINT_URL_SQS;
delete process.env.AWS_ENDPOINT_URL_SNS;

/** The environment a spawned bin needs to talk to fauxqs and never to AWS. */
export const AWS_TEST_ENV = {
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

// found from the repository root, so that the benchmarks' build (dist/) finds the script too
const SCRIPT = path.join(repositoryRoot(), 'test', 'fixtures', 'fauxqs', 'server.mjs');
export const ACCOUNT = '000000000000';

export interface QueueInfo {
  name: string;
  url: string;
  arn: string;
}

export class Fauxqs {
  readonly endpoint: string;
  readonly sqs: SQSClient;
  readonly sns: SNSClient;

  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    this.endpoint = `http://127.0.0.1:${port}`;
    this.sqs = new SQSClient({ region: 'us-east-1', endpoint: this.endpoint });
    this.sns = new SNSClient({ region: 'us-east-1', endpoint: this.endpoint });
  }

  /** Starts fauxqs on `port` (0 = a free one) and resolves once it listens. */
  static async start(port = 0): Promise<Fauxqs> {
    const child = spawn(process.execPath, [SCRIPT], {
      env: { ...process.env, FAUXQS_PORT: String(port) },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const listening = await new Promise<number>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`fauxqs exited with ${code} before listening`)));
      lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    });
    lines.close();
    return new Fauxqs(listening, child);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** Stops the emulator (by its PID) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.sqs.destroy();
    this.sns.destroy();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill(signal);
    await exited;
  }

  /** An awssqs:// URI for `queue` on this emulator, with extra query parameters. */
  sqsUri(queue: string, params: Record<string, string> = {}): string {
    const query = new URLSearchParams({ region: 'us-east-1', endpoint: this.endpoint, ...params });
    return `awssqs://127.0.0.1:${this.port}/${ACCOUNT}/${queue}?${query.toString()}`;
  }

  snsUri(topicArn: string, params: Record<string, string> = {}): string {
    const query = new URLSearchParams({ endpoint: this.endpoint, ...params });
    return `awssns:///${topicArn}?${query.toString()}`;
  }

  async createQueue(name: string, attributes: Record<string, string> = {}): Promise<QueueInfo> {
    const created = await this.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    const url = created.QueueUrl as string;
    const described = await this.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
    return { name, url, arn: described.Attributes?.QueueArn as string };
  }

  async deleteQueue(queue: QueueInfo): Promise<void> {
    await this.sqs.send(new DeleteQueueCommand({ QueueUrl: queue.url })).catch(() => undefined);
  }

  async createTopic(name: string, attributes: Record<string, string> = {}): Promise<string> {
    const created = await this.sns.send(new CreateTopicCommand({ Name: name, Attributes: attributes }));
    return created.TopicArn as string;
  }

  async deleteTopic(topicArn: string): Promise<void> {
    await this.sns.send(new DeleteTopicCommand({ TopicArn: topicArn })).catch(() => undefined);
  }

  async subscribe(topicArn: string, queue: QueueInfo, rawDelivery: boolean): Promise<void> {
    await this.sns.send(
      new SubscribeCommand({
        TopicArn: topicArn,
        Protocol: 'sqs',
        Endpoint: queue.arn,
        Attributes: rawDelivery ? { RawMessageDelivery: 'true' } : {},
      }),
    );
  }

  /** Puts messages straight into a queue with the SDK (not through the connector under test), 10 per call. */
  async fill(queue: QueueInfo, entries: Omit<SendMessageBatchRequestEntry, 'Id'>[], parallel = 8): Promise<void> {
    const chunks: SendMessageBatchRequestEntry[][] = [];
    for (let start = 0; start < entries.length; start += 10) {
      chunks.push(entries.slice(start, start + 10).map((entry, i) => ({ ...entry, Id: `e${i}` })));
    }
    const worker = async (): Promise<void> => {
      for (let chunk = chunks.shift(); chunk !== undefined; chunk = chunks.shift()) {
        const output = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: queue.url, Entries: chunk }));
        if (output.Failed && output.Failed.length > 0) throw new Error(`fill failed: ${JSON.stringify(output.Failed)}`);
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  }

  /** Messages waiting in and in flight from a queue, as the emulator counts them. */
  async counts(queue: QueueInfo): Promise<{ waiting: number; inFlight: number }> {
    const response = await fetch(`${this.endpoint}/_fauxqs/queues`);
    const queues = (await response.json()) as { name: string; approximateMessageCount: number; approximateInflightCount: number }[];
    const found = queues.find((candidate) => candidate.name === queue.name);
    return { waiting: found?.approximateMessageCount ?? 0, inFlight: found?.approximateInflightCount ?? 0 };
  }

  /** The emulator's own non-destructive view of a queue: bodies waiting, delayed and in flight. */
  async inspect(queue: QueueInfo): Promise<{ ready: string[]; inflight: string[]; delayed: string[] }> {
    const response = await fetch(`${this.endpoint}/_fauxqs/queues/${encodeURIComponent(queue.name)}`);
    const view = (await response.json()) as {
      messages: { ready: { body: string }[]; delayed: { body: string }[]; inflight: { message: { body: string } }[] };
    };
    return {
      ready: view.messages.ready.map((message) => message.body),
      delayed: view.messages.delayed.map((message) => message.body),
      inflight: view.messages.inflight.map((entry) => entry.message.body),
    };
  }
}
