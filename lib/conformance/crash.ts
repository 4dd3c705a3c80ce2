// The crash check: the bin relays from one fresh endpoint to another, is killed with SIGKILL mid-way, and is started
// again; every message must arrive (duplicates allowed, losses not). It runs for every target whose service gives a
// dead consumer's messages back, with only what the target gives the rest of the suite.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Message } from '../message';
import { source, sink } from '../endpoints';
import { start } from '../run';
import type { ConformanceEndpoints, ConformanceTarget, CrashOptions } from './target';
import { holdingSink, type TestRunner, until, writeAll } from './harness';
import { sinkOptionsOf, sourceOptionsOf } from './checks';

/** Of the names `${prefix}0` .. `${prefix}${total - 1}`, those not in `seen`. */
export function missingIds(seen: ReadonlySet<string>, prefix: string, total: number): string[] {
  return Array.from({ length: total }, (_, i) => `${prefix}${i}`).filter((id) => !seen.has(id));
}

/** The bin of this package: beside the compiled suite (dist/lib/conformance -> dist/bin), or the build of a checkout. */
function binPath(): string {
  const candidates = [path.resolve(__dirname, '../../bin/wasm-pipes.js'), path.resolve(__dirname, '../../dist/bin/wasm-pipes.js')];
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (found === undefined) throw new Error(`the wasm-pipes bin is not built (looked for ${candidates.join(' and ')}); run npm run build`);
  return found;
}

/** The bin as a child process, known by its PID, with the end of its log for failure messages. */
class Bin {
  private readonly child: ChildProcess;
  private log = '';
  private sawStart = false;
  readonly exited: Promise<number | null>;

  constructor(env: Record<string, string>, nodeArgs: readonly string[]) {
    this.child = spawn(process.execPath, [...nodeArgs, binPath()], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      const log = this.log + chunk.toString();
      this.sawStart ||= log.includes('wasm-pipes started');
      this.log = log.slice(-20_000);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  tail(): string {
    return this.log.slice(-4000);
  }

  async started(timeoutMs: number): Promise<void> {
    await until(() => this.sawStart || !this.running, 'the bin to start', timeoutMs);
    if (!this.sawStart) throw new Error(`the bin exited before it started:\n${this.tail()}`);
  }

  async stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<number | null> {
    if (this.running) process.kill(this.child.pid as number, signal);
    return this.exited;
  }
}

/** Only the variables given: the bin must not depend on the test process's environment. */
function binEnvironment(target: ConformanceTarget, crash: CrashOptions, extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir(), ADMIN_PORT: '0' };
  for (const layer of [target.env, target.sourceOptions?.env, target.sinkOptions?.env, crash.env, extra]) {
    for (const [name, value] of Object.entries(layer ?? {})) if (value !== undefined) env[name] = value;
  }
  return env;
}

export function declareCrash(runner: TestRunner, target: ConformanceTarget): void {
  const crash = target.crash ?? {};
  // at most once (core NATS): what the killed process held is lost by design, as the nack check proves
  if (!target.redelivery || 'unsupported' in crash) return;
  const total = crash.messages ?? 2000;
  const timeout = crash.timeoutMs ?? 90_000;

  runner.test(
    `crash: kill -9 of the bin mid-way through ${total} messages, restart: every message arrives (duplicates allowed)`,
    async () => {
      const created: ConformanceEndpoints[] = [];
      const fresh = async (): Promise<ConformanceEndpoints> => {
        const endpoints = await (crash.endpoints === undefined ? target.endpoints() : crash.endpoints());
        created.push(endpoints);
        return endpoints;
      };
      const bins: Bin[] = [];
      const closing: (() => Promise<unknown>)[] = [];
      try {
        const input = await fresh();
        const output = await fresh();
        // the output is read here from the start, each body counted once: duplicates are allowed, losses are not
        const arrived = new Set<string>();
        const countBody = (message: Message): void => {
          arrived.add(message.text());
          message.ack();
        };
        const reader = start(source(output.sourceUri, sourceOptionsOf(target)), holdingSink([], countBody), {
          handleSignals: false,
          shutdownTimeout: 2000,
        });
        closing.push(() => reader.stop().catch(() => undefined));
        await reader.started;

        // the writer retries through the restart when the bin itself is the service (HTTP)
        const writer = sink(input.sinkUri, { ...sinkOptionsOf(target), retry: { maxAttempts: 100, maxDelay: 500 } });
        closing.push(() => writer.close());
        // keys spread the messages over a service's partitions or ordering groups, as real traffic does
        const messages = Array.from({ length: total }, (_, i) => ({ body: `crash-${i}`, key: target.keys ? `key-${i % 7}` : undefined }));
        let written: Promise<(Error | undefined)[]> | undefined;
        if (!target.subscribeFirst)
          assert.deepEqual(
            await writeAll(writer, messages),
            messages.map(() => undefined),
          );

        const env = binEnvironment(target, crash, { SOURCE_URI: input.sourceUri, SINK_URI: output.sinkUri });
        // the first process relays slowly (a small window, one write at a time, and at most 400 messages a second, so
        // that a quick service cannot relay them all before the reader here has counted a quarter), so that the kill
        // lands mid-way
        const first = new Bin(
          { MAX_IN_FLIGHT: '5', SINK_CONCURRENCY: '1', RATE_LIMIT: '400/s', RATE_LIMIT_BURST: '5', ...env },
          crash.nodeArgs ?? [],
        );
        bins.push(first);
        await first.started(timeout);
        if (target.subscribeFirst) written = writeAll(writer, messages);
        await until(() => arrived.size >= total / 4 || !first.running, 'a quarter of the messages relayed', timeout);
        assert.ok(first.running, `the first bin exited by itself:\n${first.tail()}`);
        await first.stop('SIGKILL');
        assert.ok(arrived.size < total, `the kill came after the last message (${arrived.size} of ${total} had arrived), not mid-way`);

        const second = new Bin({ MAX_IN_FLIGHT: '200', ...env }, crash.nodeArgs ?? []);
        bins.push(second);
        await second.started(timeout);
        await until(() => arrived.size >= total || !second.running, `all ${total} messages at the output`, timeout).catch(
          (error: Error) => {
            throw new Error(`${error.message}: ${total - arrived.size} missing; the restarted bin's log:\n${second.tail()}`);
          },
        );
        assert.deepEqual(missingIds(arrived, 'crash-', total), [], `the restarted bin's log:\n${second.tail()}`);
        if (written !== undefined)
          assert.ok(
            (await written).every((outcome) => outcome === undefined),
            'a write into the relay failed',
          );
        assert.equal(await second.stop('SIGTERM'), 0, `the restarted bin did not stop cleanly:\n${second.tail()}`);
      } finally {
        for (const bin of bins) await bin.stop('SIGKILL');
        for (const close of closing.reverse()) await close();
        for (const endpoints of created) await endpoints.cleanup?.();
      }
    },
    timeout * 3 + 60_000,
  );
}
