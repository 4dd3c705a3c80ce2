// A nats-server of our own, for tests and benchmarks that must not load or stop the shared one: JetStream on, a file
// store in a temporary folder, 127.0.0.1 and a free port; killed and removed by its PID.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, sleep, stopChild } from './wait';

/** A nats-server of our own (JetStream on, file store in a temporary folder), on a free port of 127.0.0.1. */
export class PrivateNatsServer {
  readonly storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-nats-'));
  port = 0;
  private child: ChildProcess | undefined;
  log = '';

  /** `args`: more arguments of nats-server, like `--user relay --pass right` for a server that asks for them. */
  constructor(private readonly args: readonly string[] = []) {}

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const child = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.storeDir, ...this.args], {
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
    if (this.child !== undefined) await stopChild(this.child, 'SIGKILL');
    this.child = undefined;
  }

  async stop(): Promise<void> {
    await this.kill();
    fs.rmSync(this.storeDir, { recursive: true, force: true });
  }
}
