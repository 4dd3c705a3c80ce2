// S31: the cost of wasm-pipes around the S3 client for an archive. The candidate relays mem:// into
// s3://bucket/prefix/ (objects of up to 1 000 JSON-line envelopes, each message acked once its object is stored); the
// baseline is the loop one writes by hand with @aws-sdk/client-s3 (take 1 000 messages, encode them as JSON lines,
// PutObject, repeat). Both write the same messages to the same fauxqs emulator, a fresh prefix per round.
import { S3Client, PutObjectCommand, CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import { Fauxqs } from '../../test/aws/fauxqs';
import { deleteBucket } from '../../test/s3/helpers';
import { BODY } from './common';

const PER_OBJECT = 1000;
const BUCKET = 'bench-s31';
let fauxqs: Fauxqs | undefined;
let client: S3Client;
let round = 0;
const problems: string[] = [];

function envelope(id: string, body: Buffer): string {
  return JSON.stringify({ id, metadata: {}, body: body.toString('utf8') });
}

async function objectCount(prefix: string): Promise<number> {
  const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return listed.KeyCount ?? 0;
}

export const s31: Scenario = {
  id: 'S31',
  title: 'mem:// -> s3:// (objects of 1 000 JSON lines) on fauxqs vs a hand-written SDK loop (encode 1 000, PutObject)',
  messages: 50_000,
  quickMessages: 5_000,
  target: 0.8,
  async setup() {
    fauxqs = await Fauxqs.start();
    client = new S3Client({ region: 'us-east-1', endpoint: fauxqs.endpoint, forcePathStyle: true });
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  },
  async teardown() {
    await deleteBucket(client, BUCKET).catch(() => undefined);
    client?.destroy();
    await fauxqs?.stop();
    fauxqs = undefined;
  },
  baseline: {
    name: 'SDK loop: 1 000 messages as JSON lines -> PutObject',
    async run(messages) {
      const prefix = `baseline-${round++}/`;
      const began = performance.now();
      for (let start = 0; start < messages; start += PER_OBJECT) {
        let text = '';
        for (let i = start; i < Math.min(messages, start + PER_OBJECT); i++) text += `${envelope(`m-${i}`, BODY)}\n`;
        await client.send(
          new PutObjectCommand({
            Bucket: BUCKET,
            Key: `${prefix}${start}.jsonl`,
            Body: Buffer.from(text),
            ContentType: 'application/x-ndjson',
          }),
        );
      }
      const elapsed = performance.now() - began;
      const objects = await objectCount(prefix);
      if (objects !== Math.ceil(messages / PER_OBJECT)) problems.push(`baseline: ${objects} objects`);
      return elapsed;
    },
  },
  candidate: {
    name: `wasm-pipes mem:// -> s3://${BUCKET}/prefix/?max_count=${PER_OBJECT}`,
    async run(messages) {
      const prefix = `candidate-${round++}/`;
      const topic = memTopic(`s31-${process.pid}-${round}`);
      for (let i = 0; i < messages; i++) topic.publish({ id: `m-${i}`, body: BODY });
      const endpoint = encodeURIComponent((fauxqs as Fauxqs).endpoint);
      const began = performance.now();
      // a window of two objects: one uploads while the next fills (with 1 024 every other object would be 24 messages)
      const running = start(
        source(`mem://${topic.name}`, { maxInFlight: 2 * PER_OBJECT }),
        sink(`s3://${BUCKET}/${prefix}?endpoint=${endpoint}&max_count=${PER_OBJECT}`),
        { handleSignals: false },
      );
      while (running.stats().acked < messages) await new Promise((resolve) => setTimeout(resolve, 2));
      const elapsed = performance.now() - began;
      await running.stop();
      topic.delete();
      if (running.stats().acked !== messages) problems.push(`candidate: ${running.stats().acked} of ${messages} acked`);
      return elapsed;
    },
  },
  async verify() {
    return problems.length === 0 ? ['every message in a stored object, on both sides'] : problems.map((problem) => `FAIL: ${problem}`);
  },
};
