// Helpers of the S3 tests: fauxqs's S3 (the emulator of test/aws/fauxqs.ts, started per file on a free port), buckets
// of unique names emptied and deleted afterwards, and objects read back with the SDK, independently of the connector.
import {
  S3Client,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { type Fauxqs } from '../aws/fauxqs';
import { uniqueName } from '../helpers/wait';

export { Fauxqs, AWS_TEST_ENV } from '../aws/fauxqs';

export function s3Client(fauxqs: Fauxqs): S3Client {
  return new S3Client({ region: 'us-east-1', endpoint: fauxqs.endpoint, forcePathStyle: true });
}

export function uniqueBucket(prefix: string): string {
  return uniqueName(prefix)
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63);
}

export async function createBucket(client: S3Client, prefix = 'bucket'): Promise<string> {
  const bucket = uniqueBucket(prefix);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** The names of the objects under `prefix`, sorted. */
export async function objectNames(client: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const entry of page.Contents ?? []) names.push(entry.Key as string);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return names.sort();
}

export async function readObject(client: S3Client, bucket: string, key: string): Promise<string> {
  const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await answer.Body?.transformToString('utf8')) ?? '';
}

export async function objectInfo(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<{ etag: string; contentType?: string; size: number }> {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return { etag: String(head.ETag).replace(/"/g, ''), contentType: head.ContentType, size: Number(head.ContentLength) };
}

/** The JSON-line envelopes of every object under `prefix`, object by object. */
export async function envelopes(
  client: S3Client,
  bucket: string,
  prefix = '',
): Promise<{ key: string; lines: { id: string; body: string; key?: string; metadata: Record<string, string> }[] }[]> {
  const out = [];
  for (const key of await objectNames(client, bucket, prefix)) {
    const text = await readObject(client, bucket, key);
    out.push({
      key,
      lines: text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line)),
    });
  }
  return out;
}

export async function deleteBucket(client: S3Client, bucket: string): Promise<void> {
  const names = await objectNames(client, bucket).catch(() => []);
  for (let i = 0; i < names.length; i += 1000) {
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: names.slice(i, i + 1000).map((Key) => ({ Key })) } }));
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
}
