// Shared by the cache tests: unique names per run, and clean-up of what the tests create on the real servers.
import Redis from 'ioredis';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { spawn, type ChildProcess } from 'node:child_process';
import { waitForPort } from '../helpers/wait';

export { capturingLogger, freePort, sleep, stopChild, waitFor, waitForPort } from '../helpers/wait';

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

/** Starts a private redis-server on `port` (127.0.0.1 only, no persistence). */
export async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  await waitForPort(port);
  return child;
}
