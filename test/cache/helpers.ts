// Shared by the cache tests: unique names per run, and clean-up of what the tests create on the real servers.
import Redis from 'ioredis';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import pino from 'pino';
import type { Logger } from '../../lib/logger';

export const REDIS_URL = 'redis://127.0.0.1:6379/0';
export const NATS_ENV = { NATS_SERVER_URL: '127.0.0.1:4222' };

let counter = 0;
/** A name unique to this run: letters, digits and _ (valid as a KV bucket, a Redis prefix, a mem:// topic). */
export function uniqueName(label: string): string {
  return `wp_${label}_${process.pid}_${Date.now().toString(36)}_${++counter}`;
}

/** Deletes every Redis key under `prefix` (on db 0 of the shared server unless `url` says otherwise). */
export async function deleteRedisPrefix(prefix: string, url = REDIS_URL): Promise<void> {
  const client = new Redis(url, { lazyConnect: true });
  try {
    await client.connect();
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** Deletes the streams behind the KV buckets (KV_<bucket>) that a test created. */
export async function deleteKvBuckets(...buckets: string[]): Promise<void> {
  const connection = await connect({ servers: '127.0.0.1:4222' });
  try {
    const manager = await jetstreamManager(connection);
    for (const bucket of buckets) await manager.streams.delete(`KV_${bucket}`).catch(() => undefined);
  } finally {
    await connection.close();
  }
}

export async function kvBucketExists(bucket: string): Promise<boolean> {
  const connection = await connect({ servers: '127.0.0.1:4222' });
  try {
    const manager = await jetstreamManager(connection);
    return await manager.streams.info(`KV_${bucket}`).then(
      () => true,
      () => false,
    );
  } finally {
    await connection.close();
  }
}

/** A TCP port nothing listens on right now (bound and released on 127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `condition` holds, checking every 10 ms; fails with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A logger that keeps what is logged (pino JSON lines) for assertions, and prints nothing. */
export function capturingLogger(level: pino.Level = 'info'): { logger: Logger; lines: () => { level: number; msg: string }[] } {
  const chunks: string[] = [];
  const stream = { write: (chunk: string) => void chunks.push(chunk) };
  const logger = pino({ level }, stream);
  return {
    logger,
    lines: () => chunks.flatMap((chunk) => chunk.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { level: number; msg: string })),
  };
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await sleep(20);
  }
}

/** Stops a child process this test started, by its PID, and waits for it to exit. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid as number, signal);
  await exited;
}

/** Starts a private redis-server on `port` (127.0.0.1 only, no persistence). */
export async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  await waitForPort(port);
  return child;
}
