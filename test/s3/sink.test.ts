// The s3:// sink in process, on fauxqs's S3: objects written by count, by size and by age, at once when the pipeline
// can send nothing more (a full credit window, a stop), the object-name template, multipart uploads for large
// objects, and each message acked only once the object holding it is stored.
import { source, sink } from '../../lib/endpoints';
import { start, type RunningPipeline } from '../../lib/run';
import { memTopic } from '../../lib/connectors/local/mem';
import { Message } from '../../lib/message';
import { sleep, uniqueName, waitFor } from '../helpers/wait';
import { send } from '../helpers/endpoints';
import { createBucket, deleteBucket, envelopes, objectInfo, objectNames, readObject } from './helpers';
import { fauxqsS3ForFile } from './emulator';

const s3 = fauxqsS3ForFile();
let bucket: string;
const running: RunningPipeline[] = [];

beforeEach(async () => {
  bucket = await createBucket(s3.client, 'sink');
});

afterEach(async () => {
  for (const pipeline of running.splice(0)) await pipeline.stop();
  await deleteBucket(s3.client, bucket);
});

function s3Uri(prefix: string, params: Record<string, string> = {}): string {
  return `s3://${bucket}/${prefix}?${new URLSearchParams({ endpoint: s3.fauxqs.endpoint, ...params }).toString()}`;
}

/** A pipeline mem://topic -> s3://, and the topic to publish into. */
function relay(
  params: Record<string, string>,
  maxInFlight = 1024,
  prefix = 'events/',
): { publish(count: number, from?: number): void; pipeline: RunningPipeline } {
  const topic = memTopic(uniqueName('s3-in'));
  const pipeline = start(source(`mem://${topic.name}`, { maxInFlight }), sink(s3Uri(prefix, params)), { handleSignals: false });
  running.push(pipeline);
  return {
    pipeline,
    publish: (count, from = 0) => {
      for (let i = from; i < from + count; i++) topic.publish({ id: `m-${i}`, body: JSON.stringify({ n: i }), metadata: { n: String(i) } });
    },
  };
}

async function counts(prefix = 'events/'): Promise<number[]> {
  return (await envelopes(s3.client, bucket, prefix)).map((object) => object.lines.length).sort((a, b) => b - a);
}

test('objects of max_count messages, each message acked once its object is stored, as JSON-line envelopes', async () => {
  const { publish, pipeline } = relay({ max_count: '10', max_age: '300ms' });
  publish(25);
  await waitFor(() => pipeline.stats().acked === 25, '25 acks');
  expect(await counts()).toEqual([10, 10, 5]);
  const objects = await envelopes(s3.client, bucket, 'events/');
  const lines = objects.flatMap((object) => object.lines);
  expect(lines.map((line) => line.id).sort()).toEqual(Array.from({ length: 25 }, (_, i) => `m-${i}`).sort());
  expect(lines.find((line) => line.id === 'm-3')).toEqual({ id: 'm-3', metadata: { n: '3' }, body: '{"n":3}' });
  expect((await objectInfo(s3.client, bucket, objects[0].key)).contentType).toBe('application/x-ndjson');
});

test('objects of about max_bytes', async () => {
  const { publish, pipeline } = relay({ max_bytes: '1kb', max_age: '300ms' });
  publish(40); // each line about 60 bytes: about 17 a kilobyte
  await waitFor(() => pipeline.stats().acked === 40, '40 acks');
  const sizes = await Promise.all(
    (await objectNames(s3.client, bucket, 'events/')).map(async (key) => (await objectInfo(s3.client, bucket, key)).size),
  );
  expect(sizes.length).toBeGreaterThanOrEqual(2);
  for (const size of sizes) expect(size).toBeLessThan(1024 + 100); // the line that reached the size is the last
});

test('an object is written max_age after its first message when nothing fills it', async () => {
  const { publish, pipeline } = relay({ max_age: '500ms' });
  publish(3);
  await sleep(150);
  expect(pipeline.stats().acked).toBe(0); // still gathering
  expect(await objectNames(s3.client, bucket)).toEqual([]);
  await waitFor(() => pipeline.stats().acked === 3, 'the object after max_age', 10_000);
  expect(await counts()).toEqual([3]);
});

test('a full credit window writes the object at once: waiting could bring nothing more', async () => {
  const { publish, pipeline } = relay({ max_age: '1h' }, 5);
  publish(10);
  await waitFor(() => pipeline.stats().acked === 10, 'ten acks long before max_age', 10_000);
  expect(await counts()).toEqual([5, 5]);
});

test('a stop writes the object being gathered and acks its messages', async () => {
  const { publish, pipeline } = relay({ max_age: '1h' });
  publish(7);
  await waitFor(() => pipeline.stats().received === 7, 'seven messages in the sink');
  await pipeline.stop();
  expect(pipeline.stats().acked).toBe(7);
  expect(pipeline.stats().nacked).toBe(0);
  expect(await counts()).toEqual([7]);
});

test('the name template: prefix, UTC date and time parts, count and a unique part; format=lines writes bodies', async () => {
  const { publish, pipeline } = relay(
    { name: '{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{count}-{unique}.txt', format: 'lines', max_count: '4', max_age: '200ms' },
    1024,
    'raw/',
  );
  const before = new Date();
  publish(6);
  await waitFor(() => pipeline.stats().acked === 6, 'six acks');
  const names = await objectNames(s3.client, bucket);
  expect(names).toHaveLength(2);
  const day = `${before.getUTCFullYear()}/${String(before.getUTCMonth() + 1).padStart(2, '0')}/${String(before.getUTCDate()).padStart(2, '0')}`;
  for (const name of names) expect(name).toMatch(new RegExp(`^raw/${day}/\\d{6}-[24]-[0-9a-z]+-[0-9a-f]{8}\\.txt$`));
  expect(new Set(names.map((name) => name.split('-').slice(-2).join('-'))).size).toBe(2);
  const text = (await Promise.all(names.map((name) => readObject(s3.client, bucket, name)))).join('');
  expect(text.split('\n').filter(Boolean).sort()).toEqual(Array.from({ length: 6 }, (_, i) => `{"n":${i}}`).sort());
});

test('an object larger than part_size goes up as a multipart upload, in parts, intact', async () => {
  const out = sink(s3Uri('big/', { part_size: '5mb', max_bytes: '64mb', format: 'lines' }));
  const line = 'x'.repeat(100 * 1024 - 1);
  const messages = Array.from({ length: 60 }, (_, i) => ({ id: `big-${i}`, body: `${String(i).padStart(4, '0')}${line.slice(4)}` }));
  // one write of 60 messages (about 6 MiB): one object, in two parts
  const outcomes = await new Promise<(Error | undefined)[]>((resolve) => {
    const results: (Error | undefined)[] = [];
    let settled = 0;
    for (const [i, init] of messages.entries()) {
      out.next(
        Message.create(init, (error) => {
          results[i] = error;
          if (++settled === messages.length) resolve(results);
        }),
      );
    }
  });
  await out.close();
  expect(outcomes.every((error) => error === undefined)).toBe(true);
  const names = await objectNames(s3.client, bucket, 'big/');
  expect(names).toHaveLength(1);
  const info = await objectInfo(s3.client, bucket, names[0]);
  expect(info.etag).toMatch(/-2$/); // S3's multipart ETag: the digest of the parts' digests, and their number
  const text = await readObject(s3.client, bucket, names[0]);
  expect(text).toBe(messages.map((message) => `${message.body}\n`).join(''));
});

test('messages fed by hand (no source behind them) are written at once, and close() returns promptly', async () => {
  const out = sink(s3Uri('hand/', { max_age: '1h' }));
  expect(await send(out, [{ body: 'a' }, { body: 'b' }])).toEqual([undefined, undefined]);
  await out.close();
  expect((await envelopes(s3.client, bucket, 'hand/')).flatMap((object) => object.lines.map((line) => line.body)).sort()).toEqual([
    'a',
    'b',
  ]);
});
