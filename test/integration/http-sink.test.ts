import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { errors as undiciErrors } from 'undici';
import { sink, source } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { isRetryable, PermanentError } from '../../lib/errors';
import type { Message } from '../../lib/message';
import { requestFailure, retryAfterMs } from '../../lib/connectors/http/sink';
import { memTopic } from '../../lib/connectors/local/mem';
import { freePort, uniqueName, waitFor } from '../helpers/wait';
import { write } from '../helpers/endpoints';
import { closeServer } from '../helpers/servers';

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
    close: () => closeServer(server),
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
    await closeServer(server);
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

  test('an id, key or metadata value HTTP cannot carry (ключ, CR/LF, €) is percent-encoded and named in X-Percent-Encoded', async () => {
    const server = await scriptedServer([200]);
    const out = sink(server.url, { retry: { initialDelay: 1 } });
    const outcome = await write(out, { body: 'x', id: 'order\r\n7', key: 'ключ', metadata: { 'x-price': '5 €', 'x-plain': 'ok' } });
    expect(outcome).toBeUndefined();
    expect(server.hits).toHaveLength(1);
    const headers = server.hits[0].headers;
    expect(String(headers['x-percent-encoded']).split(', ').sort()).toEqual(['x-message-id', 'x-message-key', 'x-price']);
    expect(decodeURIComponent(String(headers['x-message-key']))).toBe('ключ');
    expect(decodeURIComponent(String(headers['x-message-id']))).toBe('order\r\n7');
    expect(decodeURIComponent(String(headers['x-price']))).toBe('5 €');
    expect(headers['x-plain']).toBe('ok');
    await out.close();
    await server.close();
  });

  test('HTTP sink -> HTTP source: a key ключ and metadata with € arrive as they left', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/in`;
    const received: Message[] = [];
    const running = start(
      source(url),
      {
        name: 'test',
        ready: true,
        next: (message: Message) => (received.push(message), message.ack()),
        error: () => undefined,
        complete: () => undefined,
        close: async () => undefined,
      },
      { handleSignals: false },
    );
    await running.started;
    const out = sink(url);
    expect(await write(out, { body: 'x', id: 'id-ключ', key: 'ключ', metadata: { 'x-price': '5 €' } })).toBeUndefined();
    await waitFor(() => received.length === 1, 'the message at the source');
    expect(received[0].key).toBe('ключ');
    expect(received[0].id).toBe('id-ключ');
    expect(received[0].metadata['x-price']).toBe('5 €');
    expect(received[0].metadata['x-percent-encoded']).toBeUndefined();
    await out.close();
    await running.stop();
  });

  test('a header that can never be sent (an id that is not Unicode) is a permanent error: no request, no retry', async () => {
    const server = await scriptedServer([200]);
    const dlTopic = uniqueName('http-dl');
    const deadLetter = sink(`mem://${dlTopic}`);
    const out = sink(server.url, { deadLetter, retry: { initialDelay: 1 } });
    expect(await write(out, { body: 'x', id: 'broken-\ud800' })).toBeUndefined();
    expect(server.hits).toHaveLength(0);
    expect(memTopic(dlTopic).length).toBe(1);
    const plain = sink(server.url, { retry: { initialDelay: 1 } });
    const outcome = await write(plain, { body: 'x', id: 'broken-\ud800' });
    expect(outcome?.message).toContain('the x-message-id header cannot be sent');
    expect(outcome?.message).not.toContain('gave up');
    await plain.close();
    await out.close();
    await deadLetter.close();
    await server.close();
    memTopic(dlTopic).delete();
  });

  test('user:password@ in the sink URI is sent as HTTP Basic auth (percent-decoded, UTF-8)', async () => {
    const seen: (string | undefined)[] = [];
    const server = http.createServer((request, response) => {
      seen.push(request.headers.authorization);
      request.resume();
      const expected = `Basic ${Buffer.from('alice:p@ss wörd').toString('base64')}`;
      response.writeHead(request.headers.authorization === expected ? 204 : 401).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const out = sink(`http://alice:p%40ss%20w%C3%B6rd@127.0.0.1:${port}/hook`);
    expect(await write(out, { body: 'x', metadata: { authorization: 'Bearer not-this' } })).toBeUndefined();
    const anonymous = sink(`http://127.0.0.1:${port}/hook`);
    expect((await write(anonymous, { body: 'x' }))?.message).toContain('answered 401');
    expect(seen).toEqual([`Basic ${Buffer.from('alice:p@ss wörd').toString('base64')}`, undefined]);
    await out.close();
    await anonymous.close();
    await closeServer(server);
  });

  test("errors are classified by undici's codes, not by their messages", () => {
    const permanent = requestFailure(new undiciErrors.InvalidArgumentError('invalid x-message-id header'), 'http', 'http://h');
    expect(permanent).toBeInstanceOf(PermanentError);
    expect(permanent.message).toContain('UND_ERR_INVALID_ARG');
    expect(isRetryable(requestFailure(new undiciErrors.NotSupportedError('expect header not supported'), 'http', 'http://h'))).toBe(false);
    expect(isRetryable(requestFailure(new undiciErrors.SocketError('other side closed'), 'http', 'http://h'))).toBe(true);
    expect(isRetryable(requestFailure(new undiciErrors.HeadersTimeoutError('Headers Timeout Error'), 'http', 'http://h'))).toBe(true);
    expect(
      isRetryable(requestFailure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'http', 'http://h')),
    ).toBe(true);
    // a message that merely mentions "invalid" is no reason to give up
    expect(isRetryable(requestFailure(new Error('invalid upstream answer'), 'http', 'http://h'))).toBe(true);
  });

  test('Retry-After in seconds or as an HTTP date, at most a minute', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs('Tue, 01 Jan 2030 00:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Tue, 01 Jan 2030 01:00:00 GMT', now)).toBe(60_000);
    expect(retryAfterMs('Mon, 31 Dec 2029 23:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});
