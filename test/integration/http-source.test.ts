import { createHmac } from 'node:crypto';
import http from 'node:http';
import { source } from '../../lib/endpoints';
import { start, RunningPipeline } from '../../lib/run';
import { Message } from '../../lib/message';
import type { Sink } from '../../lib/sink';
import { filterMessages } from '../../operators';
import { freePort, sleep, waitFor } from '../helpers/wait';

/** A sink whose behaviour the test decides per message. */
function testSink(onMessage: (message: Message) => void): Sink & { received: Message[] } {
  const received: Message[] = [];
  return {
    name: 'test',
    ready: true,
    received,
    next: (message) => {
      received.push(message);
      onMessage(message);
    },
    error: () => undefined,
    complete: () => undefined,
    close: async () => undefined,
  };
}

describe('HTTP source', () => {
  let running: RunningPipeline | undefined;
  let url: string;

  async function startSource(out: Sink, env: NodeJS.ProcessEnv = {}, pipe = (s: ReturnType<typeof source>) => s): Promise<void> {
    const port = await freePort();
    url = `http://127.0.0.1:${port}/events`;
    running = start(pipe(source(url, { env, maxInFlight: 16 })), out, { handleSignals: false, shutdownTimeout: 1000 });
    await running.started;
  }

  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  test('POST: the response comes only after the sink acked, with 200', async () => {
    let ack!: () => void;
    const out = testSink((message) => (ack = () => message.ack()));
    await startSource(out);
    let answered = false;
    const response = fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-trace': 'abc' }, body: '{"event_type":"test"}' }).then((r) => {
      answered = true;
      return r;
    });
    await waitFor(() => out.received.length === 1, 'the message at the sink');
    await sleep(100);
    expect(answered).toBe(false);
    ack();
    const result = await response;
    expect(result.status).toBe(200);
    const message = out.received[0];
    expect(message.json()).toEqual({ event_type: 'test' });
    expect(message.metadata['content-type']).toBe('application/json');
    expect(message.metadata['x-trace']).toBe('abc');
  });

  test('PUT relays the body too; headers with credentials never become metadata', async () => {
    const out = testSink((message) => message.ack());
    await startSource(out);
    const result = await fetch(url, { method: 'PUT', headers: { authorization: 'Bearer secret', cookie: 'a=b' }, body: 'plain' });
    expect(result.status).toBe(200);
    expect(out.received[0].text()).toBe('plain');
    expect(out.received[0].metadata.authorization).toBeUndefined();
    expect(out.received[0].metadata.cookie).toBeUndefined();
  });

  test('a nacked message is answered 503 with Retry-After, so that the caller retries', async () => {
    const out = testSink((message) => message.nack(new Error('sink down')));
    await startSource(out);
    const result = await fetch(url, { method: 'POST', body: 'x' });
    expect(result.status).toBe(503);
    expect(result.headers.get('retry-after')).toBe('1');
    expect(((await result.json()) as { error: string }).error).toContain('sink down');
  });

  test('a body over HTTP_MAX_BODY is refused with 413 and never reaches the sink', async () => {
    const out = testSink((message) => message.ack());
    await startSource(out, { HTTP_MAX_BODY: '1kb' });
    const result = await fetch(url, { method: 'POST', body: 'x'.repeat(2048) });
    expect(result.status).toBe(413);
    expect(out.received).toHaveLength(0);
    const fits = await fetch(url, { method: 'POST', body: 'x'.repeat(1024) });
    expect(fits.status).toBe(200);
  });

  test('a chunked body (no Content-Length) is cut off at HTTP_MAX_BODY with 413', async () => {
    const out = testSink((message) => message.ack());
    await startSource(out, { HTTP_MAX_BODY: '1kb' });
    const status = await new Promise<number>((resolve, reject) => {
      const request = http.request(url, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on('error', reject);
      for (let i = 0; i < 8; i++) request.write('x'.repeat(512));
      request.end();
    });
    expect(status).toBe(413);
    expect(out.received).toHaveLength(0);
  });

  test('X-Message-Id and X-Message-Key set the id and the key', async () => {
    const out = testSink((message) => message.ack());
    await startSource(out);
    await fetch(url, { method: 'POST', body: 'x', headers: { 'x-message-id': 'order-7', 'x-message-key': 'customer-3' } });
    expect(out.received[0].id).toBe('order-7');
    expect(out.received[0].key).toBe('customer-3');
  });

  test('GET relays the query parameters encoded as JSON (repeated ones as arrays)', async () => {
    const out = testSink((message) => message.ack());
    await startSource(out);
    const result = await fetch(`${url}?event=click&tag=a&tag=b`);
    expect(result.status).toBe(200);
    expect(out.received[0].json()).toEqual({ event: 'click', tag: ['a', 'b'] });
    expect(out.received[0].metadata['content-type']).toBe('application/json');
  });

  test('other methods get 405 with Allow', async () => {
    const out = testSink((message) => message.ack());
    await startSource(out);
    const result = await fetch(url, { method: 'DELETE' });
    expect(result.status).toBe(405);
    expect(result.headers.get('allow')).toBe('GET, POST, PUT');
  });

  test('a message dropped by filterMessages is acked: 200', async () => {
    const out = testSink((message) => message.ack());
    await startSource(out, {}, (s) => s.pipe(filterMessages((m) => m.text() !== 'drop me')));
    expect((await fetch(url, { method: 'POST', body: 'drop me' })).status).toBe(200);
    expect(out.received).toHaveLength(0);
  });

  test('HTTP_SOURCE_TOKEN: requests without the bearer token get 401', async () => {
    const out = testSink((message) => message.ack());
    await startSource(out, { HTTP_SOURCE_TOKEN: 's3cret' });
    expect((await fetch(url, { method: 'POST', body: 'x' })).status).toBe(401);
    expect((await fetch(url, { method: 'POST', body: 'x', headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(url, { method: 'POST', body: 'x', headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
    expect(out.received).toHaveLength(1);
  });

  test('HTTP_SOURCE_HMAC_SECRET: a body whose X-Signature-256 does not match gets 401', async () => {
    const out = testSink((message) => message.ack());
    await startSource(out, { HTTP_SOURCE_HMAC_SECRET: 'hmac-key' });
    const body = '{"a":1}';
    const good = `sha256=${createHmac('sha256', 'hmac-key').update(body).digest('hex')}`;
    expect((await fetch(url, { method: 'POST', body })).status).toBe(401);
    expect((await fetch(url, { method: 'POST', body, headers: { 'x-signature-256': good.replace(/.$/, '0') } })).status).toBe(401);
    expect((await fetch(url, { method: 'POST', body, headers: { 'x-signature-256': good } })).status).toBe(200);
    expect(out.received).toHaveLength(1);
  });

  test('while draining, new requests get 503 and in-flight ones are still answered 200', async () => {
    let ack!: () => void;
    const out = testSink((message) => (ack = () => message.ack()));
    await startSource(out);
    const inFlight = fetch(url, { method: 'POST', body: 'first' });
    await waitFor(() => out.received.length === 1, 'the first message');
    const stopping = (running as RunningPipeline).stop();
    await sleep(50);
    const refused = await fetch(url, { method: 'POST', body: 'late' });
    expect(refused.status).toBe(503);
    ack();
    expect((await inFlight).status).toBe(200);
    await stopping;
    expect(out.received).toHaveLength(1);
  });

  test('requests over the credit window wait for credit instead of failing', async () => {
    const out = testSink(() => undefined);
    const port = await freePort();
    url = `http://127.0.0.1:${port}/events`;
    running = start(source(url, { maxInFlight: 2 }), out, { handleSignals: false, shutdownTimeout: 1000 });
    await running.started;
    const responses = Array.from({ length: 5 }, (_, i) => fetch(url, { method: 'POST', body: `m${i}` }));
    await waitFor(() => out.received.length === 2, 'two messages');
    await sleep(200);
    expect(out.received).toHaveLength(2);
    for (let settled = 0; settled < 5; settled++) {
      await waitFor(() => out.received.length > settled, `message ${settled}`);
      out.received[settled].ack();
    }
    expect((await Promise.all(responses)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
  });
});
