// Helpers of the Redis Streams tests: a client on the shared Redis (127.0.0.1:6379, db 0), streams with unique names
// (deleted afterwards), and a private redis-server on a free port for the tests that stop the server.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { freePort, sleep, stopChild, uniqueName, waitForPort } from '../helpers/wait';

export const REDIS_URL = 'redis://127.0.0.1:6379/0';
export const env = { REDIS_SERVER_URL: REDIS_URL };

export function uniqueStream(prefix: string): string {
  return uniqueName(`wp-rs-${prefix}`);
}

/** A client of the tests, with the streams it was asked to create deleted by close(). */
export class StreamAdmin {
  readonly client: Redis;
  private readonly streams = new Set<string>();

  constructor(url = REDIS_URL) {
    this.client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    this.client.on('error', () => undefined);
  }

  /** A unique stream name, deleted by cleanup(). */
  stream(prefix: string): string {
    const name = uniqueStream(prefix);
    this.streams.add(name);
    return name;
  }

  async createGroup(stream: string, group: string, start = '0'): Promise<void> {
    this.streams.add(stream);
    await this.client.xgroup('CREATE', stream, group, start, 'MKSTREAM');
  }

  /** Adds entries with the given fields; returns their ids. */
  async add(stream: string, entries: readonly Record<string, string>[]): Promise<string[]> {
    this.streams.add(stream);
    const pipeline = this.client.pipeline();
    for (const fields of entries) pipeline.xadd(stream, '*', ...Object.entries(fields).flat());
    const results = (await pipeline.exec()) ?? [];
    return results.map(([error, id]) => {
      if (error) throw error;
      return String(id);
    });
  }

  /** Every entry of `stream`, as field maps (values as strings). */
  async entries(stream: string): Promise<{ id: string; fields: Record<string, string> }[]> {
    const rows = (await this.client.xrange(stream, '-', '+')) as [string, string[]][];
    return rows.map(([id, list]) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < list.length; i += 2) fields[list[i]] = list[i + 1];
      return { id, fields };
    });
  }

  async length(stream: string): Promise<number> {
    return this.client.xlen(stream);
  }

  /** Pending entries of `group`: [entry id, consumer, idle ms, deliveries]. */
  async pending(stream: string, group: string): Promise<[string, string, number, number][]> {
    return (await this.client.xpending(stream, group, '-', '+', 100_000)) as [string, string, number, number][];
  }

  async cleanup(): Promise<void> {
    if (this.streams.size > 0) await this.client.del(...this.streams).catch(() => undefined);
    this.streams.clear();
  }

  async close(): Promise<void> {
    await this.cleanup();
    this.client.disconnect();
  }
}

/**
 * A redis-server of our own on a free port of 127.0.0.1, its files in a temporary folder (`appendonly`: every write
 * synced to an append-only file, so that a restart after SIGKILL keeps the streams), stopped by its PID.
 */
export class PrivateRedis {
  port = 0;
  private child: ChildProcess | undefined;
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-redis-'));

  constructor(private readonly options: { appendonly?: boolean; password?: string } = {}) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.dir];
    args.push('--appendonly', this.options.appendonly ? 'yes' : 'no');
    if (this.options.appendonly) args.push('--appendfsync', 'always');
    if (this.options.password !== undefined) args.push('--requirepass', this.options.password);
    this.child = spawn('redis-server', args, { stdio: 'ignore' });
    await waitForPort(this.port);
  }

  /** SIGKILL by PID: the clients see the connection drop. */
  async kill(): Promise<void> {
    if (this.child === undefined) return;
    await stopChild(this.child, 'SIGKILL');
    this.child = undefined;
    await sleep(10);
  }

  /** Stops the server and removes its files. */
  async stop(): Promise<void> {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
