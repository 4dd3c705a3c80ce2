import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { sink } from '../../lib/endpoints';
import { memTopic } from '../../lib/connectors/local/mem';
import { uniqueName } from '../helpers/wait';
import { write } from '../helpers/endpoints';

interface Hit {
  at: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** A local express server answering with the statuses the test scripts, recording every hit. */
async function scriptedServer(statuses: number[]): Promise<{ url: string; hits: Hit[]; close(): Promise<void> }> {
  const hits: Hit[] = [];
  const app = express();
  app.use(express.text({ type: '*/*' }));
  app.post('/hook', (request, response) => {
    hits.push({ at: Date.now(), body: request.body as string, headers: request.headers });
    const status = statuses[Math.min(hits.length - 1, statuses.length - 1)];
    response.status(status).send(String(status));
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    hits,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('HTTP sink', () => {
  test('500 is retried with backoff until it succeeds, then the message is acked', async () => {
    const server = await scriptedServer([500, 503, 200]);
    const out = sink(server.url, { retry: { initialDelay: 50 } });
    expect(await write(out, { body: 'hello', metadata: { 'content-type': 'text/plain', 'x-tenant': 't1' }, id: 'm-1' })).toBeUndefined();
    expect(server.hits.map((hit) => hit.body)).toEqual(['hello', 'hello', 'hello']);
    const gaps = server.hits.slice(1).map((hit, i) => hit.at - server.hits[i].at);
    expect(gaps[0]).toBeGreaterThanOrEqual(24); // 50 ms with equal jitter: 25..50
    expect(gaps[1]).toBeGreaterThanOrEqual(49); // 100 ms: 50..100
    expect(server.hits[0].headers['content-type']).toBe('text/plain');
    expect(server.hits[0].headers['x-tenant']).toBe('t1');
    expect(server.hits[0].headers['x-message-id']).toBe('m-1');
    await out.close();
    await server.close();
  });

  test('429 honours Retry-After', async () => {
    const hits: number[] = [];
    const server = http.createServer((request, response) => {
      hits.push(Date.now());
      request.resume();
      if (hits.length === 1) response.writeHead(429, { 'retry-after': '1' }).end();
      else response.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const out = sink(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { retry: { initialDelay: 1 } });
    expect(await write(out, { body: 'x' })).toBeUndefined();
    expect(hits[1] - hits[0]).toBeGreaterThanOrEqual(990);
    await out.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('400 is permanent: no retry, the message goes to the dead letter and the original is acked', async () => {
    const server = await scriptedServer([400]);
    const dlTopic = uniqueName('http-dl');
    const deadLetter = sink(`mem://${dlTopic}`);
    const out = sink(server.url, { deadLetter, retry: { initialDelay: 1 } });
    expect(await write(out, { body: 'bad payload' })).toBeUndefined();
    expect(server.hits).toHaveLength(1);
    expect(memTopic(dlTopic).length).toBe(1);
    await out.close();
    await deadLetter.close();
    await server.close();
    memTopic(dlTopic).delete();
  });

  test('400 without a dead letter nacks the message with an error naming the status', async () => {
    const server = await scriptedServer([422]);
    const out = sink(server.url);
    const outcome = await write(out, { body: 'x' });
    expect(outcome?.message).toContain('422');
    expect(server.hits).toHaveLength(1);
    await out.close();
    await server.close();
  });

  test('an unreachable endpoint is retried and finally nacked with the host in the error', async () => {
    const server = await scriptedServer([200]);
    const url = server.url;
    await server.close();
    const out = sink(url, { retry: { initialDelay: 1, maxAttempts: 3 } });
    const outcome = await write(out, { body: 'x' });
    expect(outcome?.message).toMatch(/127\.0\.0\.1/);
    expect(outcome?.message).toContain('gave up after 3 attempts');
    await out.close();
  });
});
