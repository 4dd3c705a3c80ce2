// What the benchmarks that run the built bin as a process group share (P8, P8B): starting it with an environment,
// waiting for its start, stopping it by its PID, and its peak memory with its workers.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const BIN = path.resolve(__dirname, '../../bin/wasm-pipes.js');

export interface RunningBin {
  child: ChildProcess;
  /** Everything it logged so far. */
  stderr(): string;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
}

/** Starts the bin with `env` (and PATH, HOME) and resolves once it logged `wasm-pipes started`. */
export async function startBin(env: Record<string, string>, timeoutMs = 60_000): Promise<RunningBin> {
  const child = spawn(process.execPath, [BIN], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir(), ADMIN_PORT: '0', STATS_INTERVAL: '0', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  while (!stderr.includes('"msg":"wasm-pipes started"')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      if (child.exitCode === null) process.kill(child.pid as number, 'SIGKILL');
      throw new Error(`the bin did not start:\n${stderr.slice(-4000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    child,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGTERM');
      return exited;
    },
  };
}

/** Peak resident memory (VmHWM) of a process, in MB; 0 once it is gone. */
export function peakRssMb(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** The load average over the last minute, as uptime says it, for the notes of scenarios that need the cores. */
export function loadNote(): string {
  const [one, five] = os.loadavg();
  return `load average at the end: ${one.toFixed(2)} (1 min), ${five.toFixed(2)} (5 min) on ${os.availableParallelism()} cores`;
}
