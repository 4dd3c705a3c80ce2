// httpSource(): the webhook source mounted in a real express 5 app (issue 12 item 8), with the semantics of the
// http:// source: answered once settled (200, or 503 after a nack), held back by the credit window, authenticated.
import http from 'node:http';
import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { httpSource, start, type RunningPipeline } from '../../lib';
import { sleep, waitFor } from '../helpers/wait';
import { collectingSink, heldRequest } from '../helpers/endpoints';

describe('httpSource() in an express 5 app', () => {
  let server: http.Server | undefined;
  let running: RunningPipeline | undefined;
  let base: string;

  async function listen(app: express.Express): Promise<void> {
    server = http.createServer(app);
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  afterEach(async () => {
    await running?.stop();
    running = undefined;
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  test('a route answers only after the sink settled the message: 200 on ack, 503 on nack; the app goes on', async () => {
    const hooks = httpSource({ env: {} });
    const app = express();
    app.get('/health', (_request, response) => void response.json({ up: true }));
    app.post('/hooks', hooks.handler);
    await listen(app);
    const out = collectingSink();
    running = start(hooks, out, { handleSignals: false });
    await running.started;

    const { response } = await heldRequest(
      `${base}/hooks`,
      { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant': 't1' }, body: '{"a":1}' },
      () => out.received.length === 1,
    );
    out.received[0].ack();
    expect((await response).status).toBe(200);
    expect(out.received[0].json()).toEqual({ a: 1 });
    expect(out.received[0].metadata['x-tenant']).toBe('t1');

    const nacked = fetch(`${base}/hooks`, { method: 'POST', body: 'b' });
    await waitFor(() => out.received.length === 2, 'the second message');
    out.received[1].nack(new Error('sink down'));
    const failed = await nacked;
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('1');
    expect((await (await fetch(`${base}/health`)).json()) as object).toEqual({ up: true });
  });

  test('the credit window holds requests back: with maxInFlight 2, five requests reach the sink two at a time', async () => {
    const hooks = httpSource({ env: {}, maxInFlight: 2 });
    const app = express();
    app.post('/hooks', hooks.handler);
    await listen(app);
    const out = collectingSink();
    running = start(hooks, out, { handleSignals: false });
    await running.started;
    const responses = Array.from({ length: 5 }, (_, i) => fetch(`${base}/hooks`, { method: 'POST', body: `m${i}` }));
    await waitFor(() => out.received.length === 2, 'two messages');
    await sleep(200);
    expect(out.received).toHaveLength(2);
    for (let settled = 0; settled < 5; settled++) {
      await waitFor(() => out.received.length > settled, `message ${settled}`);
      expect(running.stats().inFlight).toBeLessThanOrEqual(2);
      out.received[settled].ack();
    }
    expect((await Promise.all(responses)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
  });

  test('token and HMAC options authenticate like HTTP_SOURCE_TOKEN and HTTP_SOURCE_HMAC_SECRET; express.raw() in front is fine', async () => {
    const hooks = httpSource({ env: {}, token: 's3cret', hmacSecret: 'hmac-key' });
    const app = express();
    app.post('/hooks', express.raw({ type: '*/*' }), hooks.handler);
    await listen(app);
    const out = collectingSink((message) => message.ack());
    running = start(hooks, out, { handleSignals: false });
    await running.started;
    const body = '{"event":"push"}';
    const signature = `sha256=${createHmac('sha256', 'hmac-key').update(body).digest('hex')}`;
    const post = (headers: Record<string, string>): Promise<number> =>
      fetch(`${base}/hooks`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } }).then((r) => r.status);
    expect(await post({ 'x-signature-256': signature })).toBe(401);
    expect(await post({ authorization: 'Bearer s3cret', 'x-signature-256': 'sha256=00' })).toBe(401);
    expect(await post({ authorization: 'bearer s3cret', 'x-signature-256': signature })).toBe(200);
    expect(out.received.map((message) => message.text())).toEqual([body]);
    expect(out.received[0].metadata.authorization).toBeUndefined();
  });

  test('with `path`, app.use(handler) takes only that path and passes the rest on to the app', async () => {
    const hooks = httpSource({ env: {}, path: '/hooks/github' });
    const app = express();
    app.use(hooks.handler);
    app.post('/other', (_request, response) => void response.status(202).send('other'));
    await listen(app);
    const out = collectingSink((message) => message.ack());
    running = start(hooks, out, { handleSignals: false });
    await running.started;
    expect((await fetch(`${base}/hooks/github?x=1`, { method: 'POST', body: 'hook' })).status).toBe(200);
    expect((await fetch(`${base}/hooks/github/`, { method: 'GET' })).status).toBe(200);
    const other = await fetch(`${base}/other`, { method: 'POST', body: 'y' });
    expect(other.status).toBe(202);
    expect((await fetch(`${base}/nowhere`, { method: 'POST', body: 'z' })).status).toBe(404);
    expect(out.received.map((message) => message.text())).toEqual(['hook', '{}']);
  });

  test('before the pipeline runs and after it stopped, the handler answers 503; a JSON parser in front is a clear 500', async () => {
    const hooks = httpSource({ env: {} });
    const parsed = httpSource({ env: {} });
    const app = express();
    app.post('/hooks', hooks.handler);
    app.post('/parsed', express.json(), parsed.handler);
    await listen(app);
    const notRunning = await fetch(`${base}/hooks`, { method: 'POST', body: 'early' });
    expect(notRunning.status).toBe(503);
    expect(((await notRunning.json()) as { error: string }).error).toBe('the pipeline of this webhook is not running');

    const out = collectingSink((message) => message.ack());
    running = start(hooks, out, { handleSignals: false });
    await running.started;
    expect((await fetch(`${base}/hooks`, { method: 'POST', body: 'on time' })).status).toBe(200);
    const twice = await new Promise<unknown>((resolve) => hooks.subscribe({ error: resolve }));
    expect(String(twice)).toContain('this httpSource() is already subscribed');
    await running.stop();
    running = undefined;
    expect((await fetch(`${base}/hooks`, { method: 'POST', body: 'late' })).status).toBe(503);
    expect(out.received.map((message) => message.text())).toEqual(['on time']);

    running = start(
      parsed,
      collectingSink((message) => message.ack()),
      { handleSignals: false },
    );
    await running.started;
    const consumed = await fetch(`${base}/parsed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(consumed.status).toBe(500);
    expect(((await consumed.json()) as { error: string }).error).toContain('already read by another middleware');
  });

  test('express is not needed: the handler serves a plain node:http server too', async () => {
    const hooks = httpSource({ env: {}, path: '/events' });
    server = http.createServer((request, response) => hooks.handler(request, response));
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const out = collectingSink((message) => message.ack());
    running = start(hooks, out, { handleSignals: false });
    await running.started;
    expect((await fetch(`${base}/events`, { method: 'PUT', body: 'plain' })).status).toBe(200);
    expect((await fetch(`${base}/elsewhere`, { method: 'POST', body: 'x' })).status).toBe(404);
    expect(out.received.map((message) => message.text())).toEqual(['plain']);
  });
});
