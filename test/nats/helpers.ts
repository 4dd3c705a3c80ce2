// Helpers of the NATS tests: a management connection to the shared server, streams with unique names, reading what a
// stream holds, and a private nats-server started on a free port (for tests that stop it), stopped by its PID.
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, AckPolicy, StorageType, JetStreamManager } from '@nats-io/jetstream';
import { freePort, sleep, uniqueName } from '../helpers/wait';
import type { BinProcess } from '../helpers/bin';

export const NATS_URL = '127.0.0.1:4222';

export async function natsConnection(servers = NATS_URL): Promise<NatsConnection> {
  return connect({ servers, name: 'wasm-pipes tests' });
}

/** A subject and a stream name unique to this run (subjects with dots, stream names without). */
export function uniqueSubject(prefix: string): string {
  return uniqueName(prefix).replace(/[^a-zA-Z0-9]+/g, '_');
}

export async function createStream(
  manager: JetStreamManager,
  name: string,
  subjects: string[],
  storage: 'memory' | 'file' = 'memory',
): Promise<void> {
  await manager.streams.add({ name, subjects, storage: storage === 'memory' ? StorageType.Memory : StorageType.File });
}

export async function deleteStream(manager: JetStreamManager, name: string): Promise<void> {
  await manager.streams.delete(name).catch(() => undefined);
}

/** Every message of a stream (body text and Nats-Msg-Id), read with a throwaway consumer that acks nothing. */
export async function readStream(connection: NatsConnection, stream: string): Promise<{ id: string; body: string }[]> {
  const manager = await jetstreamManager(connection);
  const info = await manager.streams.info(stream);
  const total = info.state.messages;
  const name = uniqueSubject('reader');
  await manager.consumers.add(stream, { name, ack_policy: AckPolicy.None, inactive_threshold: 60_000_000_000 });
  const consumer = await manager.jetstream().consumers.get(stream, name);
  const out: { id: string; body: string }[] = [];
  while (out.length < total) {
    const batch = await consumer.fetch({ max_messages: Math.min(5000, total - out.length), expires: 2000 });
    let got = 0;
    for await (const message of batch) {
      got++;
      out.push({ id: message.headers?.get('Nats-Msg-Id') ?? '', body: message.string() });
    }
    if (got === 0) break;
  }
  await manager.consumers.delete(stream, name).catch(() => undefined);
  return out;
}

export { jetstreamManager };

/** A nats-server of our own (JetStream on, file store in a temporary folder), on a free port of 127.0.0.1. */
export class PrivateNatsServer {
  readonly storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-nats-'));
  port = 0;
  private child: ChildProcess | undefined;
  log = '';

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const child = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.storeDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (chunk) => (this.log += String(chunk)));
    child.stderr?.on('data', (chunk) => (this.log += String(chunk)));
    const deadline = Date.now() + 15_000;
    while (!/Server is ready/.test(this.log)) {
      if (child.exitCode !== null) throw new Error(`nats-server exited: ${this.log}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not start: ${this.log}`);
      await sleep(50);
    }
  }

  /** Stops the server by its PID (SIGKILL: no goodbye to the clients), and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid as number, 'SIGKILL');
    await exited;
    this.child = undefined;
  }

  async stop(): Promise<void> {
    await this.kill();
    fs.rmSync(this.storeDir, { recursive: true, force: true });
  }
}

/**
 * A private server for a test file that runs the bin against it: started before the file's tests; after them, the
 * bins pushed into `bins` are killed and the server is stopped.
 */
export function privateNatsServerForFile(): { server: PrivateNatsServer; bins: BinProcess[] } {
  const server = new PrivateNatsServer();
  const bins: BinProcess[] = [];
  beforeAll(async () => {
    await server.start();
  });
  afterAll(async () => {
    for (const bin of bins) await bin.kill();
    await server.stop();
  });
  return { server, bins };
}
