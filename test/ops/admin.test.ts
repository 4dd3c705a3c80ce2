// The admin server: /ping, /ready built on the drivers' `ready` getters (starting, running, a sink or the cache
// down, draining, stopped), /metrics, loopback by default, TLS, and a clear error for a port in use.
import net from 'node:net';
import os from 'node:os';
import fs from 'node:fs';
import { Agent, fetch } from 'undici';
import { createSource, type SourceContext, type SourceDriver } from '../../lib/source';
import { SinkRuntime, type SinkDriver } from '../../lib/sink';
import { start, type RunningPipeline } from '../../lib/run';
import { type Message } from '../../lib/message';
import { cache as openCacheUri, type Cache } from '../../lib/cache';
import { startAdminServer, pipelineReadiness, type AdminServer, type ReadinessReport } from '../../lib/admin/server';
import { ConnectorError } from '../../lib/errors';
import { freePort, waitFor } from '../helpers/wait';
import { parseProm, sampleValue } from './helpers';
import { selfSignedCertificate } from '../helpers/tls';

/** A source whose start and messages the test controls. */
class ControlledSource implements SourceDriver<string> {
  readonly scheme = 'controlled';
  context: SourceContext<string> | undefined;
  private release!: () => void;
  private readonly startGate = new Promise<void>((resolve) => (this.release = resolve));
  start(context: SourceContext<string>): Promise<void> {
    this.context = context;
    return this.startGate;
  }
  finishStarting(): void {
    this.release();
  }
  push(body: string): Message | undefined {
    return this.context?.receive({ body }, body);
  }
  ack(): void {}
  nack(): void {}
  async close(): Promise<void> {}
}

/** A sink driver whose connection state the test flips, and whose writes it can hold unconfirmed. */
class SwitchableSink implements SinkDriver {
  readonly scheme = 'switch';
  ready = true;
  hold = false;
  held = 0;
  private waiting: (() => void)[] = [];
  write(batch: readonly Message[]): void | Promise<void> {
    if (!this.hold) return;
    this.held += batch.length;
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    this.hold = false;
    for (const confirm of this.waiting.splice(0)) confirm();
  }
  async close(): Promise<void> {}
}

async function readiness(admin: AdminServer): Promise<{ status: number; report: ReadinessReport }> {
  const response = await fetch(`${admin.url}/ready`);
  return { status: response.status, report: (await response.json()) as ReadinessReport };
}

describe('admin server', () => {
  let driver: ControlledSource;
  let sinkDriver: SwitchableSink;
  let running: RunningPipeline;
  let admin: AdminServer;
  let redis: Cache;

  beforeEach(async () => {
    driver = new ControlledSource();
    sinkDriver = new SwitchableSink();
    redis = openCacheUri('redis://127.0.0.1:6379/0?prefix=admin-test:');
    running = start(
      createSource('controlled://in', () => driver, { ackTimeout: 0 }, driver),
      new SinkRuntime('switch://out', sinkDriver),
      {
        handleSignals: false,
        shutdownTimeout: 5000,
      },
    );
    admin = await startAdminServer({ port: 0, readiness: () => pipelineReadiness(running, { cache: redis }) });
  });

  afterEach(async () => {
    driver.finishStarting();
    sinkDriver.release();
    await running.stop();
    await admin.close();
    await redis.close();
  });

  test('/ping answers 200 whatever the pipeline does; unknown paths 404, other methods 405', async () => {
    const ping = await fetch(`${admin.url}/ping`);
    expect(ping.status).toBe(200);
    expect(await ping.text()).toBe('pong\n');
    const missing = await fetch(`${admin.url}/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toContain('/ready');
    const post = await fetch(`${admin.url}/ready`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(`${admin.url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  test('/ready: 503 while the source starts, naming it; 200 once it and the sink and cache are connected', async () => {
    const starting = await readiness(admin);
    expect(starting.status).toBe(503);
    expect(starting.report.state).toBe('starting');
    expect(starting.report.notReady).toEqual(
      expect.arrayContaining([
        { role: 'pipeline', name: 'pipeline', ready: false, reason: 'starting' },
        { role: 'source', name: 'controlled://in', ready: false, reason: 'not connected' },
      ]),
    );
    driver.finishStarting();
    await running.started;
    await redis.connect?.();
    const ready = await readiness(admin);
    expect(ready.status).toBe(200);
    expect(ready.report).toMatchObject({ ready: true, state: 'running', notReady: [] });
  });

  test('/ready: 503 naming the sink while its driver is not connected, and the ready gauge follows', async () => {
    driver.finishStarting();
    await running.started;
    await redis.connect?.();
    sinkDriver.ready = false;
    const down = await readiness(admin);
    expect(down.status).toBe(503);
    expect(down.report.notReady).toEqual([{ role: 'sink', name: 'switch://out', ready: false, reason: 'not connected' }]);
    const metrics = parseProm(await (await fetch(`${admin.url}/metrics`)).text());
    expect(sampleValue(metrics, 'wasm_pipes_ready', { role: 'sink', stage: 'switch://out' })).toBe(0);
    expect(sampleValue(metrics, 'wasm_pipes_ready', { role: 'source', stage: 'controlled://in' })).toBe(1);
    sinkDriver.ready = true;
    expect((await readiness(admin)).status).toBe(200);
  });

  test('/ready: 503 naming the cache while it cannot reach its server', async () => {
    driver.finishStarting();
    await running.started;
    const port = await freePort();
    const unreachable = openCacheUri(`redis://127.0.0.1:${port}/0`);
    const own = await startAdminServer({ port: 0, readiness: () => pipelineReadiness(running, { cache: unreachable }) });
    try {
      // not connected (nothing listens there): no connection attempt is needed to say so
      const { status, report } = await readiness(own);
      expect(status).toBe(503);
      expect(report.notReady).toEqual([{ role: 'cache', name: `redis://127.0.0.1:${port}/0`, ready: false, reason: 'not connected' }]);
    } finally {
      await own.close();
      await unreachable.close();
    }
  });

  test('/ready: 503 draining while in-flight messages settle after stop(), then stopped; /ping stays 200', async () => {
    driver.finishStarting();
    await running.started;
    await redis.connect?.();
    sinkDriver.hold = true;
    driver.push('held');
    await waitFor(() => sinkDriver.held === 1, 'the message at the sink');
    const stopping = running.stop();
    await waitFor(() => running.state === 'draining', 'draining');
    const draining = await readiness(admin);
    expect(draining.status).toBe(503);
    expect(draining.report.notReady[0]).toEqual({ role: 'pipeline', name: 'pipeline', ready: false, reason: 'draining' });
    expect((await fetch(`${admin.url}/ping`)).status).toBe(200);
    sinkDriver.release();
    await stopping;
    const stopped = await readiness(admin);
    expect(stopped.status).toBe(503);
    expect(stopped.report.state).toBe('stopped');
  });
});

describe('admin server binding and TLS', () => {
  test("binds to 127.0.0.1 by default: not reachable on the machine's other addresses", async () => {
    const admin = await startAdminServer({ port: 0 });
    try {
      expect(admin.url).toBe(`http://127.0.0.1:${admin.port}`);
      expect((await fetch(`${admin.url}/ping`)).status).toBe(200);
      const others = Object.values(os.networkInterfaces())
        .flat()
        .filter((address) => address !== undefined && address.family === 'IPv4' && !address.internal)
        .map((address) => (address as os.NetworkInterfaceInfo).address);
      for (const address of others) {
        const refused = await new Promise<boolean>((resolve) => {
          const socket = net.connect(admin.port, address);
          socket.once('connect', () => {
            socket.destroy();
            resolve(false);
          });
          socket.once('error', () => resolve(true));
        });
        expect(refused).toBe(true);
      }
    } finally {
      await admin.close();
    }
  });

  test('serves HTTPS with a certificate and key; plain HTTP to it gets no answer', async () => {
    const tls = selfSignedCertificate();
    const admin = await startAdminServer({ port: 0, tls: { cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) } });
    const agent = new Agent({ connect: { ca: fs.readFileSync(tls.cert) } });
    try {
      expect(admin.url).toBe(`https://127.0.0.1:${admin.port}`);
      const response = await fetch(`${admin.url}/ping`, { dispatcher: agent });
      expect(response.status).toBe(200);
      await expect(fetch(`http://127.0.0.1:${admin.port}/ping`)).rejects.toThrow();
    } finally {
      await agent.close();
      await admin.close();
      fs.rmSync(tls.dir, { recursive: true, force: true });
    }
  });

  test('a port in use is a ConnectorError that says so and how to fix it', async () => {
    const first = await startAdminServer({ port: 0 });
    try {
      const attempt = startAdminServer({ port: first.port });
      await expect(attempt).rejects.toThrow(ConnectorError);
      await expect(attempt).rejects.toThrow(`port ${first.port} is already in use; set ADMIN_PORT to a free port`);
    } finally {
      await first.close();
    }
  });
});

describe('ADMIN_TOKEN on the admin server', () => {
  const token = 'admin-token-5f1e9c2d7a';
  const notReady: ReadinessReport = {
    ready: false,
    state: 'running',
    notReady: [{ role: 'sink', name: 'nats://audit', ready: false, reason: 'not connected' }],
    checks: [{ role: 'sink', name: 'nats://audit', ready: false, reason: 'not connected' }],
  };
  let admin: AdminServer;
  beforeAll(async () => {
    admin = await startAdminServer({ port: 0, token, readiness: () => notReady });
  });
  afterAll(() => admin.close());

  test('/metrics needs the bearer token (the scheme in any case); /ping stays open', async () => {
    const metrics = (authorization?: string): Promise<number> =>
      fetch(`${admin.url}/metrics`, { headers: authorization === undefined ? {} : { authorization } }).then((response) => response.status);
    expect(await metrics()).toBe(401);
    expect(await metrics('Bearer wrong-token-0000000000')).toBe(401);
    expect(await metrics(`Basic ${token}`)).toBe(401);
    expect(await metrics(`Bearer ${token}x`)).toBe(401);
    expect(await metrics(`Bearer ${token}`)).toBe(200);
    expect(await metrics(`bearer ${token}`)).toBe(200);
    const refused = await fetch(`${admin.url}/metrics`);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="wasm-pipes admin"');
    expect(await refused.json()).toEqual({ error: 'missing or wrong token; send Authorization: Bearer <ADMIN_TOKEN>' });
    expect((await fetch(`${admin.url}/ping`)).status).toBe(200);
  });

  test('/ready answers its status to anyone (probes send no header), and its details only with the token', async () => {
    const open = await fetch(`${admin.url}/ready`);
    expect(open.status).toBe(503);
    expect(await open.json()).toEqual({ ready: false, state: 'running' });
    const detailed = await fetch(`${admin.url}/ready`, { headers: { authorization: `Bearer ${token}` } });
    expect(detailed.status).toBe(503);
    expect(await detailed.json()).toEqual(notReady);
  });
});
