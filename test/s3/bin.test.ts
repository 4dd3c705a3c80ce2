// The wasm-pipes bin with an s3:// sink, as users run it: the documented `SINK_URI=s3://archive/events/` (fauxqs's S3
// reached through AWS_ENDPOINT_URL_S3), and the start-up errors that exit 2 with one line saying what to fix: a bad
// URI, a bucket that does not exist, credentials the service refuses.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { runBinToEnd } from '../helpers/bin';
import { AWS_TEST_ENV, deleteBucket, envelopes } from './helpers';
import { fauxqsS3ForFile } from './emulator';

const s3 = fauxqsS3ForFile();

/** The message of the bin's fatal log line (why it did not start), or its plain usage line. */
function fatal(stderr: string): string {
  for (const line of stderr.split('\n')) {
    if (line.startsWith('wasm-pipes: ')) return line;
    if (line.startsWith('{') && (JSON.parse(line) as { level: number }).level === 60) return (JSON.parse(line) as { msg: string }).msg;
  }
  return '';
}

test('SINK_URI=s3://archive/events/ archives what comes in as JSON lines under events/', async () => {
  // this file's own emulator: the bucket of the documented example can have its documented name
  await s3.client.send(new CreateBucketCommand({ Bucket: 'archive' }));
  try {
    const run = await runBinToEnd(
      { ...AWS_TEST_ENV, SOURCE_URI: 'stdin://', SINK_URI: 's3://archive/events/', AWS_ENDPOINT_URL_S3: s3.fauxqs.endpoint },
      'first\nsecond\nthird\n',
    );
    expect(run.status).toBe(0);
    const objects = await envelopes(s3.client, 'archive', 'events/');
    expect(objects.flatMap((object) => object.lines.map((line) => line.body))).toEqual(['first', 'second', 'third']);
    expect(objects[0].key).toMatch(/^events\/\d{4}-\d{2}-\d{2}\/\d{6}-[0-9a-z]+-[0-9a-f]{8}\.jsonl$/);
  } finally {
    await deleteBucket(s3.client, 'archive');
  }
});

test('a URI that is not a bucket: exit 2', async () => {
  const run = await runBinToEnd({ ...AWS_TEST_ENV, SOURCE_URI: 'stdin://', SINK_URI: 's3://Not_A_Bucket/events/' });
  expect(run.status).toBe(2);
  expect(fatal(run.stderr)).toContain("'Not_A_Bucket' is not a bucket name");
});

test('a name template without {unique}: exit 2, as objects could replace each other', async () => {
  const run = await runBinToEnd({ ...AWS_TEST_ENV, SOURCE_URI: 'stdin://', SINK_URI: 's3://archive/events/?name={date}.jsonl' });
  expect(run.status).toBe(2);
  expect(fatal(run.stderr)).toContain('has no {unique}');
});

test('a bucket that does not exist: exit 2, saying how to create it', async () => {
  const run = await runBinToEnd(
    { ...AWS_TEST_ENV, SOURCE_URI: 'stdin://', SINK_URI: 's3://no-such-bucket-wasm-pipes/x/', AWS_ENDPOINT_URL_S3: s3.fauxqs.endpoint },
    'one\n',
  );
  expect(run.status).toBe(2);
  expect(fatal(run.stderr)).toContain("bucket 'no-such-bucket-wasm-pipes' does not exist");
  expect(fatal(run.stderr)).toContain('aws s3 mb s3://no-such-bucket-wasm-pipes');
});

describe('credentials the service refuses', () => {
  // fauxqs takes any credentials: this server answers every request as S3 does for an unknown access key
  let server: http.Server;
  let endpoint: string;

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        const xml =
          '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>';
        response.writeHead(403, { 'content-type': 'application/xml', 'x-amz-request-id': 'test' });
        response.end(request.method === 'HEAD' ? undefined : xml);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  test('exit 2, naming the variables to check, without the secret', async () => {
    const run = await runBinToEnd(
      {
        ...AWS_TEST_ENV,
        AWS_SECRET_ACCESS_KEY: 'not-the-secret',
        SOURCE_URI: 'stdin://',
        SINK_URI: 's3://archive/events/',
        AWS_ENDPOINT_URL_S3: endpoint,
      },
      'one\n',
    );
    expect(run.status).toBe(2);
    expect(fatal(run.stderr)).toContain("access to bucket 'archive' was refused");
    expect(fatal(run.stderr)).toContain('check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY');
    expect(run.stderr).not.toContain('not-the-secret');
  });
});
