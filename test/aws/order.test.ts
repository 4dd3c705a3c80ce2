// Per-key order through retries into an SQS FIFO queue (issue 12, item 6): the FIFO sink declares that SQS keeps
// each group in order, so the sink runtime holds back a key's later messages while an earlier one waits for its
// retry. The failures are real answers of the SQS API: a proxy in front of fauxqs refuses every entry of every third
// SendMessageBatch (as SQS does when it fails on its side: SenderFault false), and passes everything else through.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { source, sink } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { memTopic } from '../../lib/connectors/local/mem';
import { uniqueName, waitFor } from '../helpers/wait';
import { Fauxqs, type QueueInfo } from './fauxqs';
import { closeServer } from '../helpers/servers';

/** Answers every `every`-th SendMessageBatch itself, failing all its entries; forwards every other request. */
class FailingProxy {
  batches = 0;
  refused = 0;

  private constructor(
    private readonly server: http.Server,
    readonly endpoint: string,
  ) {}

  static async start(target: number, every: number): Promise<FailingProxy> {
    let proxy: FailingProxy | undefined;
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        const self = proxy as FailingProxy;
        if (request.headers['x-amz-target'] === 'AmazonSQS.SendMessageBatch' && ++self.batches % every === 0) {
          const entries = (JSON.parse(body.toString('utf8')) as { Entries: { Id: string }[] }).Entries;
          self.refused += entries.length;
          const answer = {
            Successful: [],
            Failed: entries.map((entry) => ({ Id: entry.Id, SenderFault: false, Code: 'InternalError', Message: 'injected failure' })),
          };
          response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
          response.end(JSON.stringify(answer));
          return;
        }
        const upstream = http.request(
          { host: '127.0.0.1', port: target, method: request.method, path: request.url, headers: request.headers },
          (answer) => {
            response.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(response);
          },
        );
        upstream.on('error', () => response.destroy());
        upstream.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new FailingProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}

describe('awssqs:// FIFO sink: per-key order through retries', () => {
  let fauxqs: Fauxqs;
  let proxy: FailingProxy;
  let queue: QueueInfo;
  const topic = uniqueName('fifo-order');

  beforeAll(async () => {
    fauxqs = await Fauxqs.start();
    proxy = await FailingProxy.start(fauxqs.port, 3);
  });
  afterAll(async () => {
    memTopic(topic).delete();
    await proxy.close();
    if (queue !== undefined) await fauxqs.deleteQueue(queue);
    await fauxqs.stop();
  });

  test('10 000 messages over 100 keys, every third write refused: each key arrives complete and in order', async () => {
    const keys = 100;
    const total = 10_000;
    queue = await fauxqs.createQueue(`${uniqueName('order')}.fifo`, { FifoQueue: 'true' });
    for (let i = 0; i < total; i++) {
      const key = `k${i % keys}`;
      memTopic(topic).publish({ id: `m-${i}`, key, body: `${key}:${Math.floor(i / keys)}` });
    }
    // the URI names the proxy, so every request goes through it; no order option: the FIFO sink asks for it
    const uri = `awssqs://127.0.0.1:${fauxqs.port}/000000000000/${queue.name}?region=us-east-1&endpoint=${encodeURIComponent(proxy.endpoint)}`;
    const running = start(source(`mem://${topic}`), sink(uri, { retry: { maxAttempts: 50, initialDelay: 5, maxDelay: 50 } }), {
      handleSignals: false,
    });
    try {
      await waitFor(() => running.stats().acked === total, 'every message to be written', 100_000);
    } finally {
      await running.stop();
    }
    expect(proxy.refused).toBeGreaterThan(0);
    expect(running.stats().deadLettered).toBe(0);
    // fauxqs lists a FIFO queue's messages group by group, each group in the order it was stored
    const stored = (await fauxqs.inspect(queue)).ready;
    expect(stored).toHaveLength(total);
    for (let k = 0; k < keys; k++) {
      const sequence = stored.filter((body) => body.startsWith(`k${k}:`)).map((body) => Number(body.split(':')[1]));
      expect(sequence).toEqual(Array.from({ length: total / keys }, (_, i) => i));
    }
  }, 120_000);
});
