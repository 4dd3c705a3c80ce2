// A cache that is down at start-up, or goes down mid-run: a clear error, recovery once it answers, and no message
// lost (messages whose cache operation failed are nacked and redelivered). Each test runs its own server on a free
// port and stops it by PID; the shared servers are never touched.
import type { ChildProcess } from 'node:child_process';
import { cache, type Cache } from '../../lib/cache';
import { source, sink, start } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import { cacheSet } from '../../operators';
import { ConnectorError } from '../../lib/errors';
import { capturingLogger, freePort, sleep, startRedis, stopChild, uniqueName, waitFor } from './helpers';
import { PrivateNatsServer } from '../helpers/natsServer';

describe('redis:// outages', () => {
  const children: ChildProcess[] = [];
  const caches: Cache[] = [];
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((open) => open.close()));
    await Promise.all(children.splice(0).map((child) => stopChild(child, 'SIGKILL')));
  });

  test('down at start-up: ready stays false, operations fail with a clear error, and it recovers when the server comes', async () => {
    const port = await freePort();
    const { logger, lines } = capturingLogger('info');
    const redis = cache(`redis://127.0.0.1:${port}/0?timeout=300ms`, { logger });
    caches.push(redis);
    const connected = redis.connect?.();
    let isConnected = false;
    void connected?.then(() => (isConnected = true));
    await waitFor(() => lines().some((line) => line.level === 40), 'the warning');
    expect(redis.ready).toBe(false);
    expect(lines().find((line) => line.level === 40)?.msg).toMatch(
      new RegExp(`cache redis://127.0.0.1:${port}/0\\?timeout=300ms is unreachable \\(.*ECONNREFUSED.*\\); retrying every second`),
    );
    const failure = await redis.get('k').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ConnectorError);
    expect((failure as Error).message).toMatch(
      new RegExp(`^redis \\(127.0.0.1:${port}\\): cache get 'k' failed: the server has not answered for \\d+ s \\(.*ECONNREFUSED`),
    );
    expect(isConnected).toBe(false);

    children.push(await startRedis(port));
    await connected;
    expect(redis.ready).toBe(true);
    await redis.set('k', Buffer.from('v'));
    expect((await redis.get('k'))?.toString()).toBe('v');
    expect(lines().some((line) => line.level === 30 && /answers again after/.test(line.msg))).toBe(true);
  });

  test('killed mid-run and restarted: a clear error, recovery, and every message delivered', async () => {
    const port = await freePort();
    let server = await startRedis(port);
    children.push(server);
    const { logger, lines } = capturingLogger('info');
    const redis = cache(`redis://127.0.0.1:${port}/0?timeout=300ms`, { logger });
    caches.push(redis);
    await redis.connect?.();

    const name = uniqueName('outage');
    const input = memTopic(`${name}-in`);
    const output = memTopic(`${name}-out`);
    const total = 3000;
    const running = start(
      source(`mem://${name}-in?redelivery_delay=20ms`, { maxInFlight: 64, logger }).pipe(cacheSet(redis, { key: (m) => m.id })),
      sink(`mem://${name}-out`, { logger }),
      { handleSignals: false, logger },
    );
    // the messages trickle in, so that the kill lands in the middle of the run
    let published = 0;
    const feeder = setInterval(() => {
      for (let i = 0; i < 30 && published < total; i++, published++) input.publish({ id: `m${published}`, body: `body ${published}` });
      if (published >= total) clearInterval(feeder);
    }, 5);

    const delivered = new Set<string>();
    let copies = 0;
    const reader = source(`mem://${name}-out`, { logger }).subscribe((message) => {
      delivered.add(message.id);
      copies++;
      message.ack();
    });

    try {
      await waitFor(() => delivered.size >= total / 4, 'a quarter of the messages');
      await stopChild(server, 'SIGKILL');
      await waitFor(() => running.stats().nacked > 0, 'nacks while the cache is down');
      expect(redis.ready).toBe(false);
      const failure = await redis.set('probe', Buffer.from('x')).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(ConnectorError);
      expect((failure as Error).message).toMatch(new RegExp(`^redis \\(127.0.0.1:${port}\\): cache set 'probe' failed: `));
      const stalled = delivered.size;
      await sleep(300);
      expect(delivered.size).toBeLessThan(total);
      expect(delivered.size - stalled).toBeLessThan(100); // nothing gets through the cache while it is down

      server = await startRedis(port);
      children.push(server);
      await waitFor(() => delivered.size === total, 'every message after the restart', 30_000);
      await waitFor(() => running.stats().inFlight === 0, 'every message settled');
      const stats = running.stats();
      expect(stats.acked).toBe(total);
      expect(stats.received).toBe(stats.acked + stats.nacked);
      expect(stats.nacked).toBeGreaterThan(0);
      expect(copies).toBe(total); // nacked messages never reached the sink, so nothing was written twice
      expect((await redis.get(`m${total - 1}`))?.toString()).toBe(`body ${total - 1}`);
      const messages = lines().map((line) => line.msg);
      expect(messages.some((msg) => /connection lost \(.*\); retrying every second/.test(msg))).toBe(true);
      expect(messages.some((msg) => /answers again after/.test(msg))).toBe(true);
    } finally {
      clearInterval(feeder);
      reader.unsubscribe();
      await running.stop();
      input.delete();
      output.delete();
    }
  });
});

describe('nats-kv:// outages', () => {
  const server = new PrivateNatsServer();
  afterEach(async () => {
    await server.stop();
  });

  test('operations fail with a clear error until NATS answers, then the bucket is created and used; a restart is survived', async () => {
    server.port = await freePort();
    const port = server.port;
    const { logger, lines } = capturingLogger('info');
    const kv = cache('nats-kv://outage_test?ttl=1m', { env: { NATS_SERVER_URL: `127.0.0.1:${port}` }, logger });
    try {
      const failure = await kv.get('k').catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(ConnectorError);
      expect((failure as Error).message).toMatch(
        new RegExp(`^nats-kv \\(127.0.0.1:${port}\\): cache get 'k' failed: the bucket 'outage_test' has not been reachable`),
      );
      expect(kv.ready).toBe(false);
      expect(lines().find((line) => line.level === 40)?.msg).toMatch(/is not available \(.*\); retrying every 2 s/);

      await server.start();
      await kv.connect?.();
      expect(kv.ready).toBe(true);
      expect(await kv.add('k', Buffer.from('v'))).toBe(true);
      expect((await kv.get('k'))?.toString()).toBe('v');

      // killed mid-run: operations fail fast and clearly; after a restart (same store) the bucket is back
      await server.kill();
      await waitFor(() => kv.ready === false, 'the disconnect to be noticed');
      const down = await kv.set('k2', Buffer.from('x')).catch((error: unknown) => error);
      expect(down).toBeInstanceOf(ConnectorError);
      expect((down as Error).message).toMatch(
        /cache set 'k2' failed: the bucket 'outage_test' has not been reachable for \d+ s \(disconnected from/,
      );
      await server.start();
      await waitFor(() => kv.ready === true, 'the reconnect', 15_000);
      expect((await kv.get('k'))?.toString()).toBe('v');
      expect(await kv.add('k2', Buffer.from('x'))).toBe(true);
      const messages = lines().map((line) => line.msg);
      expect(messages.some((msg) => /disconnected from NATS; reconnecting/.test(msg))).toBe(true);
      expect(messages.some((msg) => /answers again after .* \(reconnected to/.test(msg))).toBe(true);
    } finally {
      await kv.close();
    }
  });
});
