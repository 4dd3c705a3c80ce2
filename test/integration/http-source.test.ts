import { createHmac } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { source } from '../../lib/endpoints';
import { start, type RunningPipeline } from '../../lib/run';
import { type Message } from '../../lib/message';
import type { Sink } from '../../lib/sink';
import { filterMessages } from '../../operators';
import { metricsText } from '../../lib/metrics';
import { freePort, sleep, waitFor } from '../helpers/wait';
import { collectingSink, heldRequest } from '../helpers/endpoints';
import { rawHttpStatus } from '../helpers/rawHttp';
import { pipelineParts } from '../../lib/run';

/** Sends headers and part of a body on a raw connection, then more bytes every `everyMs` until destroyed. */
function trickle(
  url: string,
  headers: Record<string, string>,
  options: { contentLength: number; first: string; everyMs?: number },
): net.Socket {
  const { hostname, port, pathname } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.on('error', () => undefined);
  const head = Object.entries({ ...headers, 'content-length': String(options.contentLength) })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.write(`POST ${pathname} HTTP/1.1\r\nhost: ${hostname}\r\n${head}\r\n${options.first}`);
  if (options.everyMs !== undefined) {
    const timer = setInterval(() => (socket.writable ? socket.write('x') : clearInterval(timer)), options.everyMs);
    socket.once('close', () => clearInterval(timer));
  }
  return socket;
}

/** The value of wasm_pipes_errors_total for one kind of the source at `url`, from /metrics' text. */
async function errorCount(url: string, kind: string): Promise<number> {
  const text = await metricsText();
  const line = text
    .split('\n')
    .find((row) => row.startsWith('wasm_pipes_errors_total{') && row.includes(`stage="${url}"`) && row.includes(`kind="${kind}"`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** POSTs `x` with these raw header lines (bytes as given) on a new connection; resolves with the status. */
function rawPost(url: string, headerLines: Buffer[]): Promise<number> {
  const { hostname, port, pathname } = new URL(url);
  const head = Buffer.from(`POST ${pathname} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-length: 1\r\n`);
  return rawHttpStatus(Number(port), Buffer.concat([head, ...headerLines, Buffer.from('\r\nx')]), hostname);
}

function sign(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
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
    const out = collectingSink((message) => (ack = () => message.ack()));
    await startSource(out);
    const { response } = await heldRequest(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'x-trace': 'abc' }, body: '{"event_type":"test"}' },
      () => out.received.length === 1,
    );
    ack();
    const result = await response;
    expect(result.status).toBe(200);
    const message = out.received[0];
    expect(message.json()).toEqual({ event_type: 'test' });
    expect(message.metadata['content-type']).toBe('application/json');
    expect(message.metadata['x-trace']).toBe('abc');
  });

  test('PUT relays the body too; headers with credentials never become metadata', async () => {
    const out = collectingSink((message) => message.ack());
    await startSource(out);
    const result = await fetch(url, { method: 'PUT', headers: { authorization: 'Bearer secret', cookie: 'a=b' }, body: 'plain' });
    expect(result.status).toBe(200);
    expect(out.received[0].text()).toBe('plain');
    expect(out.received[0].metadata.authorization).toBeUndefined();
    expect(out.received[0].metadata.cookie).toBeUndefined();
  });

  test('a nacked message is answered 503 with Retry-After, so that the caller retries', async () => {
    const out = collectingSink((message) => message.nack(new Error('sink down')));
    await startSource(out);
    const result = await fetch(url, { method: 'POST', body: 'x' });
    expect(result.status).toBe(503);
    expect(result.headers.get('retry-after')).toBe('1');
    expect(((await result.json()) as { error: string }).error).toContain('sink down');
  });

  test('a body over HTTP_MAX_BODY is refused with 413 and never reaches the sink', async () => {
    const out = collectingSink((message) => message.ack());
    await startSource(out, { HTTP_MAX_BODY: '1kb' });
    const result = await fetch(url, { method: 'POST', body: 'x'.repeat(2048) });
    expect(result.status).toBe(413);
    expect(out.received).toHaveLength(0);
    const fits = await fetch(url, { method: 'POST', body: 'x'.repeat(1024) });
    expect(fits.status).toBe(200);
  });

  test('a chunked body (no Content-Length) is cut off at HTTP_MAX_BODY with 413', async () => {
    const out = collectingSink((message) => message.ack());
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
    const out = collectingSink((message) => message.ack());
    await startSource(out);
    await fetch(url, { method: 'POST', body: 'x', headers: { 'x-message-id': 'order-7', 'x-message-key': 'customer-3' } });
    expect(out.received[0].id).toBe('order-7');
    expect(out.received[0].key).toBe('customer-3');
  });

  test('GET relays the query parameters encoded as JSON (repeated ones as arrays)', async () => {
    const out = collectingSink((message) => message.ack());
    await startSource(out);
    const result = await fetch(`${url}?event=click&tag=a&tag=b`);
    expect(result.status).toBe(200);
    expect(out.received[0].json()).toEqual({ event: 'click', tag: ['a', 'b'] });
    expect(out.received[0].metadata['content-type']).toBe('application/json');
  });

  test('other methods get 405 with Allow', async () => {
    const out = collectingSink((message) => message.ack());
    await startSource(out);
    const result = await fetch(url, { method: 'DELETE' });
    expect(result.status).toBe(405);
    expect(result.headers.get('allow')).toBe('GET, POST, PUT');
  });

  test('a message dropped by filterMessages is acked: 200', async () => {
    const out = collectingSink((message) => message.ack());
    await startSource(out, {}, (s) => s.pipe(filterMessages((m) => m.text() !== 'drop me')));
    expect((await fetch(url, { method: 'POST', body: 'drop me' })).status).toBe(200);
    expect(out.received).toHaveLength(0);
  });

  test('HTTP_SOURCE_TOKEN: requests without the bearer token get 401', async () => {
    const out = collectingSink((message) => message.ack());
    await startSource(out, { HTTP_SOURCE_TOKEN: 's3cret' });
    expect((await fetch(url, { method: 'POST', body: 'x' })).status).toBe(401);
    expect((await fetch(url, { method: 'POST', body: 'x', headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(url, { method: 'POST', body: 'x', headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
    expect(out.received).toHaveLength(1);
  });

  test('HTTP_SOURCE_HMAC_SECRET: a body whose X-Signature-256 does not match gets 401', async () => {
    const out = collectingSink((message) => message.ack());
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
    const out = collectingSink((message) => (ack = () => message.ack()));
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
    const out = collectingSink(() => undefined);
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

  test('clients that give up while waiting for credit give their slot back: later requests are served (maxInFlight 4)', async () => {
    const held: Message[] = [];
    const out = collectingSink((message) => (message.text().startsWith('hold') ? held.push(message) : message.ack()));
    const port = await freePort();
    url = `http://127.0.0.1:${port}/events`;
    running = start(source(url, { maxInFlight: 4 }), out, { handleSignals: false, shutdownTimeout: 1000 });
    await running.started;
    const holding = Array.from({ length: 4 }, (_, i) => fetch(url, { method: 'POST', body: `hold-${i}` }));
    await waitFor(() => held.length === 4, 'a full window');
    // while the window is full: four clients hang up mid-upload, two after sending their whole body
    const quitters = [
      ...Array.from({ length: 4 }, () => trickle(url, {}, { contentLength: 1000, first: 'partial' })),
      ...Array.from({ length: 2 }, () => trickle(url, {}, { contentLength: 4, first: 'full' })),
    ];
    await sleep(200);
    for (const quitter of quitters) quitter.destroy();
    await sleep(100);
    for (const message of held) message.ack();
    expect((await Promise.all(holding)).map((response) => response.status)).toEqual([200, 200, 200, 200]);
    const later = await Promise.all(
      Array.from({ length: 8 }, (_, i) => fetch(url, { method: 'POST', body: `later-${i}`, signal: AbortSignal.timeout(5000) })),
    );
    expect(later.map((response) => response.status)).toEqual(Array(8).fill(200));
    expect(out.received.filter((message) => message.text().startsWith('later'))).toHaveLength(8);
    await waitFor(() => pipelineParts(running as RunningPipeline).sources[0].credit === 4, 'every slot back in the window');
    expect(out.received.some((message) => /partial|full/.test(message.text()))).toBe(false);
  });

  test('HMAC only: senders trickling unsigned bodies hold no credit; signed requests are served; refusals are counted', async () => {
    const secret = 'hmac-key';
    const out = collectingSink((message) => message.ack());
    await startSource(out, { HTTP_SOURCE_HMAC_SECRET: secret, HTTP_MAX_UNVERIFIED: '32', HTTP_BODY_TIMEOUT: '1s' });
    // 300 connections, far more than the window (16) and the cap on unverified bodies (32), each sending a byte of
    // its 100 000-byte body every 100 ms with a wrong signature
    const attackers = Array.from({ length: 300 }, () =>
      trickle(url, { 'x-signature-256': 'sha256=00' }, { contentLength: 100_000, first: 'x', everyMs: 100 }),
    );
    try {
      await sleep(300);
      const signed = await Promise.all(
        Array.from({ length: 5 }, (_, i) => {
          const body = `{"i":${i}}`;
          return fetch(url, {
            method: 'POST',
            body,
            headers: { 'x-signature-256': sign(body, secret) },
            signal: AbortSignal.timeout(10_000),
          });
        }),
      );
      expect(signed.map((response) => response.status)).toEqual([200, 200, 200, 200, 200]);
      expect(out.received.map((message) => message.json<{ i: number }>().i).sort()).toEqual([0, 1, 2, 3, 4]);
      const unsigned = await fetch(url, { method: 'POST', body: '{"i":9}', headers: { 'x-signature-256': 'sha256=00' } });
      expect(unsigned.status).toBe(401);
      // the slowest are cut off for newer ones, and what is left times out
      await waitFor(async () => (await errorCount(url, 'body_timeout')) > 0, 'body timeouts in /metrics');
      expect(await errorCount(url, 'unverified_evicted')).toBeGreaterThan(0);
      expect(await errorCount(url, 'bad_signature')).toBe(1);
      expect(pipelineParts(running as RunningPipeline).sources[0].credit).toBe(16);
    } finally {
      for (const attacker of attackers) attacker.destroy();
    }
  });

  test('a body that does not arrive within HTTP_BODY_TIMEOUT gets 408, and its credit slot goes back', async () => {
    const out = collectingSink((message) => message.ack());
    await startSource(out, { HTTP_BODY_TIMEOUT: '300ms' });
    const slow = trickle(url, {}, { contentLength: 100, first: 'abc' });
    let answer = '';
    slow.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    await waitFor(() => answer.includes('\r\n\r\n'), 'an answer to the slow request', 5000);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer.toLowerCase()).toContain('connection: close');
    slow.destroy();
    expect(pipelineParts(running as RunningPipeline).sources[0].credit).toBe(16);
    expect(await errorCount(url, 'body_timeout')).toBe(1);
    expect((await fetch(url, { method: 'POST', body: 'on time' })).status).toBe(200);
    expect(out.received.map((message) => message.text())).toEqual(['on time']);
  });

  test('HTTP_SOURCE_TOKEN: the Bearer scheme is case-insensitive (RFC 7235)', async () => {
    const out = collectingSink((message) => message.ack());
    await startSource(out, { HTTP_SOURCE_TOKEN: 's3cret' });
    for (const authorization of ['bearer s3cret', 'BEARER s3cret', 'Bearer  s3cret']) {
      expect((await fetch(url, { method: 'POST', body: 'x', headers: { authorization } })).status).toBe(200);
    }
    for (const authorization of ['Basic s3cret', 'Bearers3cret', 'bearer s3cre']) {
      expect((await fetch(url, { method: 'POST', body: 'x', headers: { authorization } })).status).toBe(401);
    }
    expect(out.received).toHaveLength(3);
  });

  test('header values sent as UTF-8 arrive as UTF-8 in metadata, id and key; other bytes are read as Latin-1', async () => {
    const out = collectingSink((message) => message.ack());
    await startSource(out);
    // the bytes on the wire, as curl sends `-H 'X-City: café € 日本'`: UTF-8, and one Latin-1 byte (0xE9) that is not
    const status = await rawPost(url, [
      Buffer.from('x-city: café € 日本\r\nx-message-id: заказ-7\r\nx-message-key: ключ\r\n', 'utf8'),
      Buffer.from('x-legacy: caf\xe9\r\n', 'latin1'),
    ]);
    expect(status).toBe(200);
    const message = out.received[0];
    expect(message.metadata['x-city']).toBe('café € 日本');
    expect(message.id).toBe('заказ-7');
    expect(message.key).toBe('ключ');
    // one byte 0xE9 is not UTF-8: kept as Node reads it (Latin-1)
    expect(message.metadata['x-legacy']).toBe('café');
  });

  test('headers named in X-Percent-Encoded (as the HTTP sink sends them) are decoded; the marker is not metadata', async () => {
    const out = collectingSink((message) => message.ack());
    await startSource(out);
    const result = await fetch(url, {
      method: 'POST',
      body: 'x',
      headers: {
        'x-percent-encoded': 'x-message-key, x-note',
        'x-message-key': encodeURIComponent('ключ'),
        'x-note': encodeURIComponent('line 1\r\nline 2'),
        'x-plain': '%41',
      },
    });
    expect(result.status).toBe(200);
    const message = out.received[0];
    expect(message.key).toBe('ключ');
    expect(message.metadata['x-note']).toBe('line 1\r\nline 2');
    expect(message.metadata['x-plain']).toBe('%41');
    expect(message.metadata['x-percent-encoded']).toBeUndefined();
  });

  test('HTTP_RATE_LIMIT: over the rate the source answers 429 with Retry-After; nothing more reaches the pipeline', async () => {
    const out = collectingSink((message) => message.ack());
    // 2 a minute: a burst of 2, then one more every 30 s
    await startSource(out, { HTTP_RATE_LIMIT: '2/m' });
    expect((await fetch(url, { method: 'POST', body: 'a' })).status).toBe(200);
    expect((await fetch(url, { method: 'POST', body: 'b' })).status).toBe(200);
    const limited = await fetch(url, { method: 'POST', body: 'c' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('30');
    expect(((await limited.json()) as { error: string }).error).toContain('HTTP_RATE_LIMIT');
    expect(out.received.map((message) => message.text())).toEqual(['a', 'b']);
    expect(await errorCount(url, 'rate_limited')).toBe(1);
  });

  test('HTTP_RATE_BURST lets that many through at once; bad rate settings are refused at start-up', async () => {
    const out = collectingSink((message) => message.ack());
    await startSource(out, { HTTP_RATE_LIMIT: '1/h', HTTP_RATE_BURST: '3' });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(url, { method: 'POST', body: `${i}` })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(() => source('http://127.0.0.1:1/x', { env: { HTTP_RATE_LIMIT: 'fast' } })).toThrow(
      "HTTP_RATE_LIMIT: 'fast' is not a rate; write a count per period, like 500/s, 60/m, 3600/h or 10/100ms",
    );
    expect(() => source('http://127.0.0.1:1/x', { env: { HTTP_RATE_BURST: '5' } })).toThrow('HTTP_RATE_BURST needs HTTP_RATE_LIMIT');
    expect(() => source('http://127.0.0.1:1/x', { env: { HTTP_BODY_TIMEOUT: '0' } })).toThrow('HTTP_BODY_TIMEOUT');
    expect(() => source('http://127.0.0.1:1/x', { env: { HTTP_MAX_UNVERIFIED: '0' } })).toThrow('HTTP_MAX_UNVERIFIED');
  });
});
