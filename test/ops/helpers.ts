// Helpers of the operations tests: Prometheus text parsing, log capture (self-signed certificates: test/helpers/tls.ts).
import { Writable } from 'node:stream';

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (what /metrics answers) into samples. */
export function parseProm(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (match === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[label[1]] = label[2].replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when there is none. */
export function sampleValue(samples: readonly PromSample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([label, value]) => sample.labels[label] === value),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/** A writable stream that keeps every line written to it (a logger destination). */
export class LineCapture extends Writable {
  readonly lines: string[] = [];
  private partial = '';

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const text = this.partial + String(chunk);
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts);
    callback();
  }

  get text(): string {
    return this.lines.join('\n');
  }

  json(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

/** The secrets a deployment hands the bin, each in the variable it comes in. */
export const SECRET_ENV: Record<string, string> = {
  HTTP_SOURCE_TOKEN: 'tok-3f9a1c77e2',
  HTTP_SOURCE_HMAC_SECRET: 'hmac-5be2d04c11',
  NATS_TOKEN: 'natstok-81d2a9',
  NATS_PASSWORD: 'natspw-a07c33',
  KAFKA_PASSWORD: 'kafkapw-9e1f20',
  SERVICEBUS_CONNECTION_STRING:
    'Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=sbkey/4Xq+Zr81Tm9w=',
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE7Q2W',
  AWS_SECRET_ACCESS_KEY: 'awssecret/k9Jx+2mQ7pL0',
  AWS_SESSION_TOKEN: 'awssession-77ab31',
  CACHE_URI: 'redis://:redispw-c4e5f6@127.0.0.1:6379/0',
  NATS_SERVER_URL: 'nats://natsurltok-2b7d@127.0.0.1:4222',
  RABBIT_SERVER_URL: 'amqp://guest:rabbitpw-5d6e7f@127.0.0.1:5672/',
  DEAD_LETTER_URI: 'file:///tmp/dead.jsonl?token=dltok-0a1b2c',
};

/** Every secret value inside SECRET_ENV, as a leak would show it. */
export const SECRET_VALUES = [
  'tok-3f9a1c77e2',
  'hmac-5be2d04c11',
  'natstok-81d2a9',
  'natspw-a07c33',
  'kafkapw-9e1f20',
  'sbkey/4Xq+Zr81Tm9w=',
  'AKIAEXAMPLE7Q2W',
  'awssecret/k9Jx+2mQ7pL0',
  'awssession-77ab31',
  'redispw-c4e5f6',
  'natsurltok-2b7d',
  'rabbitpw-5d6e7f',
  'dltok-0a1b2c',
];
