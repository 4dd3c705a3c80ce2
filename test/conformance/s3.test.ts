// The s3:// sink against what the conformance suite asks of every sink (S3 has no source, so the round-trip suite
// does not apply): a message is acked only once S3 confirmed the object holding it, a write keeps its order in the
// object, a missing bucket fails with a ConnectorError naming it and is not retried, and a closed sink leaves no
// handle open. On fauxqs's S3, behind a proxy that can hold back S3's answers.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { S3Client } from '@aws-sdk/client-s3';
import { sink } from '../../lib/endpoints';
import { ConnectorError } from '../../lib/errors';
import { Message } from '../../lib/message';
import { sleep, waitFor } from '../helpers/wait';
import { send } from '../helpers/endpoints';
import { createBucket, deleteBucket, envelopes, Fauxqs, objectNames, s3Client } from '../s3/helpers';
import { closeServer } from '../helpers/servers';

let fauxqs: Fauxqs;
let client: S3Client;
let bucket: string;

/** Forwards to fauxqs; while `holding`, answers to PUT requests wait (the object is stored, the confirmation is not sent). */
class HoldingProxy {
  holding = false;
  private held: (() => void)[] = [];
  readonly server: http.Server;

  constructor(target: string) {
    const upstream = new URL(target);
    this.server = http.createServer((request, response) => {
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers },
        (answer) => {
          const reply = (): void => {
            response.writeHead(answer.statusCode ?? 500, answer.headers);
            answer.pipe(response);
          };
          if (this.holding && request.method === 'PUT') this.held.push(reply);
          else reply();
        },
      );
      request.pipe(forward);
    });
  }

  get heldCount(): number {
    return this.held.length;
  }

  release(): void {
    this.holding = false;
    for (const reply of this.held.splice(0)) reply();
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.release();
    return closeServer(this.server);
  }
}

beforeAll(async () => {
  fauxqs = await Fauxqs.start();
  client = s3Client(fauxqs);
});

afterAll(async () => {
  client.destroy();
  await fauxqs.stop();
});

beforeEach(async () => {
  bucket = await createBucket(client, 'conformance');
});

afterEach(async () => {
  await deleteBucket(client, bucket);
});

function uri(prefix: string, endpoint = fauxqs.endpoint): string {
  return `s3://${bucket}/${prefix}?endpoint=${encodeURIComponent(endpoint)}`;
}

describe('conformance: s3:// (sink)', () => {
  test('ack: a message is acked only once S3 confirmed the object holding it', async () => {
    const proxy = new HoldingProxy(fauxqs.endpoint);
    const endpoint = await proxy.listen();
    try {
      const out = sink(uri('held/', endpoint));
      proxy.holding = true;
      const settled: (Error | undefined)[] = [];
      for (let i = 0; i < 5; i++) out.next(Message.create({ body: `held-${i}` }, (error) => settled.push(error)));
      await waitFor(() => proxy.heldCount === 1, 'the PutObject, stored and its answer held back');
      expect((await objectNames(client, bucket, 'held/')).length).toBe(1); // stored...
      await sleep(300);
      expect(settled).toEqual([]); // ...but not confirmed: nothing acked
      proxy.release();
      await waitFor(() => settled.length === 5, 'five acks once the answer came');
      expect(settled).toEqual([undefined, undefined, undefined, undefined, undefined]);
      await out.close();
    } finally {
      await proxy.close();
    }
  });

  test('order: the messages of a write keep their order in the object', async () => {
    const out = sink(uri('order/'));
    const bodies = Array.from({ length: 100 }, (_, i) => `order-${i}`);
    expect(
      await send(
        out,
        bodies.map((body) => ({ body })),
      ),
    ).toEqual(bodies.map(() => undefined));
    await out.close();
    const objects = await envelopes(client, bucket, 'order/');
    expect(objects.flatMap((object) => object.lines.map((line) => line.body))).toEqual(bodies);
  });

  test('a missing bucket fails with a ConnectorError that names it, and is not retried', async () => {
    const missing = `${bucket}-missing`;
    const out = sink(`s3://${missing}/x/?endpoint=${encodeURIComponent(fauxqs.endpoint)}`, { retry: { maxAttempts: 5 } });
    const [outcome] = await send(out, [{ body: 'nowhere' }]);
    await out.close();
    expect(outcome).toBeInstanceOf(ConnectorError);
    expect(outcome?.message).toContain(`bucket '${missing}' does not exist`);
    const errors = (out as unknown as { metrics: { errors: Record<string, number> } }).metrics.errors;
    expect({ retried: errors.write_retryable ?? 0, failed: (errors.write_retryable ?? 0) + (errors.write_permanent ?? 0) }).toEqual({
      retried: 0,
      failed: 1,
    });
  });

  test('close: a closed sink leaves no open handles behind', async () => {
    await sleep(100);
    const before = process.getActiveResourcesInfo().filter((type) => type !== 'TTYWrap').length;
    const out = sink(uri('close/'));
    expect(await send(out, [{ body: 'a' }, { body: 'b' }])).toEqual([undefined, undefined]);
    await out.close();
    await waitFor(() => process.getActiveResourcesInfo().filter((type) => type !== 'TTYWrap').length <= before, 'handles to close', 5000);
  });
});
