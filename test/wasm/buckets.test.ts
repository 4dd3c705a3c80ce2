// Modules from buckets, as the Go prototype loaded them (issue 13 item 5): WASM_MODULE=s3://bucket/key on fauxqs's S3,
// gs://bucket/object on a local server speaking the Cloud Storage JSON API's media download, WASM_BLOB_URI with
// WASM_FILENAME, WASM_SHA256 pins, and exit 2 with a line naming a missing object or bucket.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AWS_TEST_ENV, Fauxqs } from '../aws/fauxqs';
import { loadWasm } from '../../lib/wasm/load';
import { runBinToEnd } from '../helpers/bin';
import { uniqueName } from '../helpers/wait';
import { buildExample } from './helpers';
import fs from 'node:fs';

let uppercase: Buffer;
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  uppercase = fs.readFileSync(await buildExample('uppercase', 'as', 'uppercase.ts'));
});

/** The bin with stdin in and bodies out. */
function run(env: Record<string, string>): ReturnType<typeof runBinToEnd> {
  return runBinToEnd({ LOG_LEVEL: 'warn', SOURCE_URI: 'stdin://', SINK_URI: 'stdout://?format=lines', ...env }, 'hello\n');
}

describe('s3:// on fauxqs', () => {
  let fauxqs: Fauxqs;
  let s3: S3Client;
  const bucket = uniqueName('modules').toLowerCase().replace(/_/g, '-');
  const key = 'team/uppercase.wasm';

  beforeAll(async () => {
    fauxqs = await Fauxqs.start();
    s3 = new S3Client({ region: 'us-east-1', endpoint: fauxqs.endpoint, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: uppercase }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'main.wasm', Body: uppercase }));
  });

  afterAll(async () => {
    for (const object of [key, 'main.wasm']) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: object })).catch(() => undefined);
    await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    s3.destroy();
    await fauxqs.stop();
  });

  const env = (): Record<string, string> => ({ ...AWS_TEST_ENV, AWS_ENDPOINT_URL_S3: fauxqs.endpoint });

  test('loadWasm reads s3://bucket/key with the default credentials, named after the key', async () => {
    const module = await loadWasm(`s3://${bucket}/${key}`, { env: env(), sha256: sha256(uppercase), budget: false });
    expect(module.name).toBe('uppercase.wasm');
    expect(module.abi).toBe('native');
  });

  test("the bin runs WASM_MODULE=s3://... pinned with WASM_SHA256, and the Go prototype's WASM_BLOB_URI=s3://bucket", async () => {
    const pinned = await run({ ...env(), WASM_MODULE: `s3://${bucket}/${key}`, WASM_SHA256: sha256(uppercase) });
    expect(pinned.stderr).toBe('');
    expect(pinned.stdout).toBe('HELLO\n');
    expect(pinned.status).toBe(0);
    // the prototype's form: the bucket URL with its endpoint in the query, the file name apart
    const prototype = await run({ ...AWS_TEST_ENV, WASM_ENABLED: 'true', WASM_BLOB_URI: `s3://${bucket}?endpoint=${fauxqs.endpoint}` });
    expect(prototype.stderr).toBe('');
    expect(prototype.stdout).toBe('HELLO\n');
    const wrongPin = await run({ ...env(), WASM_MODULE: `s3://${bucket}/${key}`, WASM_SHA256: '0'.repeat(64) });
    expect(wrongPin.status).toBe(2);
    expect(wrongPin.stderr).toBe(
      `wasm-pipes: WASM_SHA256: s3://${bucket}/${key} has the SHA-256 digest ${sha256(uppercase)}, not the pinned ${'0'.repeat(64)}; ` +
        'refusing to run it (check where the module came from, then update the pin)\n',
    );
  });

  test('a missing object or bucket exits 2 with a line naming it', async () => {
    const missingObject = await run({ ...env(), WASM_MODULE: `s3://${bucket}/team/nope.wasm` });
    expect(missingObject.status).toBe(2);
    expect(missingObject.stderr).toBe(
      `wasm-pipes: WASM_MODULE: no object 'team/nope.wasm' in the S3 bucket '${bucket}' (s3://${bucket}/team/nope.wasm); check the key\n`,
    );
    const missingBucket = await run({ ...env(), WASM_MODULE: `s3://${bucket}-gone/${key}` });
    expect(missingBucket.status).toBe(2);
    expect(missingBucket.stderr).toBe(
      `wasm-pipes: WASM_MODULE: no S3 bucket '${bucket}-gone' (for s3://${bucket}-gone/${key}); check the bucket name and the account of the credentials\n`,
    );
    const noKey = await run({ ...env(), WASM_MODULE: `s3://${bucket}` });
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toContain(`'s3://${bucket}' does not name an object; write s3://<bucket>/<key>`);
  });

  test('the size cap applies to bucket objects too', async () => {
    const result = await run({ ...env(), WASM_MODULE: `s3://${bucket}/${key}`, WASM_MAX_MODULE_SIZE: '1kb' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`the module at s3://${bucket}/${key} is ${uppercase.length} bytes, above the cap of 1 KiB`);
  });
});

/**
 * A local server speaking the Cloud Storage JSON API's media download: GET /storage/v1/b/<bucket>/o/<object>?alt=media,
 * the object name URL-encoded as one path segment, and the JSON errors Cloud Storage answers for a missing bucket or
 * object.
 */
class FakeGcs {
  readonly objects = new Map<string, Map<string, Buffer>>();
  readonly requests: string[] = [];
  private readonly server = http.createServer((request, response) => this.handle(request, response));
  host = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.host = `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    this.requests.push(`${request.method} ${request.url} ${request.headers.authorization ?? ''}`.trim());
    const url = new URL(request.url ?? '/', 'http://gcs');
    const match = /^\/storage\/v1\/b\/([^/]+)\/o\/([^/]+)$/.exec(url.pathname);
    const error = (code: number, message: string): void => {
      response.writeHead(code, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { code, message, errors: [{ message, domain: 'global', reason: 'notFound' }] } }));
    };
    if (request.method !== 'GET' || match === null || url.searchParams.get('alt') !== 'media') return error(400, 'Invalid request');
    const bucket = decodeURIComponent(match[1]);
    const name = decodeURIComponent(match[2]);
    const objects = this.objects.get(bucket);
    if (objects === undefined) return error(404, 'The specified bucket does not exist.');
    const body = objects.get(name);
    if (body === undefined) return error(404, `No such object: ${bucket}/${name}`);
    response.writeHead(200, { 'content-type': 'application/wasm', 'content-length': String(body.length) });
    response.end(body);
  }
}

describe('gs:// on a local Cloud Storage JSON API server (STORAGE_EMULATOR_HOST)', () => {
  const gcs = new FakeGcs();
  beforeAll(async () => {
    await gcs.start();
    gcs.objects.set(
      'modules',
      new Map([
        ['team/uppercase.wasm', uppercase],
        ['main.wasm', uppercase],
      ]),
    );
  });
  afterAll(() => gcs.stop());

  test('loadWasm reads gs://bucket/object through the media download, the object name encoded as one segment', async () => {
    const module = await loadWasm('gs://modules/team/uppercase.wasm', {
      env: { STORAGE_EMULATOR_HOST: `http://${gcs.host}` },
      budget: false,
    });
    expect(module.name).toBe('uppercase.wasm');
    expect(gcs.requests).toContain('GET /storage/v1/b/modules/o/team%2Fuppercase.wasm?alt=media');
  });

  test('the bin: WASM_MODULE=gs://... pinned, WASM_BLOB_URI=gs://bucket, and exit 2 naming a missing object or bucket', async () => {
    const env = { STORAGE_EMULATOR_HOST: gcs.host }; // host:port, as the Go client takes it
    const pinned = await run({ ...env, WASM_MODULE: 'gs://modules/team/uppercase.wasm', WASM_SHA256: sha256(uppercase) });
    expect(pinned.stderr).toBe('');
    expect(pinned.stdout).toBe('HELLO\n');
    const prototype = await run({ ...env, WASM_ENABLED: 'true', WASM_BLOB_URI: 'gs://modules' });
    expect(prototype.stdout).toBe('HELLO\n');
    const missingObject = await run({ ...env, WASM_MODULE: 'gs://modules/team/nope.wasm' });
    expect(missingObject.status).toBe(2);
    expect(missingObject.stderr).toBe(
      "wasm-pipes: WASM_MODULE: no object 'team/nope.wasm' in the Cloud Storage bucket 'modules' (gs://modules/team/nope.wasm); check the object name\n",
    );
    const missingBucket = await run({ ...env, WASM_MODULE: 'gs://elsewhere/team/uppercase.wasm' });
    expect(missingBucket.status).toBe(2);
    expect(missingBucket.stderr).toBe(
      "wasm-pipes: WASM_MODULE: no Cloud Storage bucket 'elsewhere' (for gs://elsewhere/team/uppercase.wasm); check the bucket name and the project of the credentials\n",
    );
    const wrongPin = await run({ ...env, WASM_MODULE: 'gs://modules/team/uppercase.wasm', WASM_SHA256: 'f'.repeat(64) });
    expect(wrongPin.status).toBe(2);
    expect(wrongPin.stderr).toContain(`gs://modules/team/uppercase.wasm has the SHA-256 digest ${sha256(uppercase)}, not the pinned`);
  });
});

test('bucket downloads share the total timeout: an S3 endpoint or a Cloud Storage host that never answers', async () => {
  const silent = http.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  try {
    await expect(
      loadWasm('s3://modules/m.wasm', {
        variable: 'WASM_MODULE',
        fetchTimeout: 500,
        env: { ...AWS_TEST_ENV, AWS_ENDPOINT_URL_S3: `http://${host}` },
      }),
    ).rejects.toThrow('WASM_MODULE: gave up fetching the module at s3://modules/m.wasm after 0.5 s (WASM_FETCH_TIMEOUT)');
    await expect(
      loadWasm('gs://modules/m.wasm', { variable: 'WASM_MODULE', fetchTimeout: 500, env: { STORAGE_EMULATOR_HOST: host } }),
    ).rejects.toThrow('WASM_MODULE: gave up fetching the module at gs://modules/m.wasm after 0.5 s (WASM_FETCH_TIMEOUT)');
  } finally {
    silent.closeAllConnections();
    silent.close();
  }
});
