// The built bin as a child process, for every test that runs it as users do: started with an environment, watched
// through its stderr (pino JSON lines), stopped with a signal or killed with SIGKILL, always by its own PID.
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from './wait';
import { testLogs } from './testLogs';

export const BIN = path.resolve(__dirname, '../../dist/bin/wasm-pipes.js');

/** Copies a bin's stderr into the test's log buffer, each line marked with its PID: shown only if the test fails. */
function keepForFailure(child: ChildProcess): void {
  const buffer = testLogs();
  if (buffer === undefined) return;
  let partial = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) buffer.write(`[bin ${child.pid}] ${line}\n`);
  });
  child.stderr?.on('end', () => {
    if (partial !== '') buffer.write(`[bin ${child.pid}] ${partial}\n`);
  });
}

/**
 * The environment of a bin a test starts: PATH, HOME, and no admin server unless the test sets ADMIN_PORT (two bins
 * of parallel test files, or a wasm-pipes the developer left running, would otherwise fight over the default 4195).
 * Every spawn of the bin goes through this, so that none of them depends on a default port being free.
 */
export function binEnv(env: Record<string, string | undefined> = {}): Record<string, string> {
  const merged: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir(), ADMIN_PORT: '0' };
  for (const [name, value] of Object.entries(env)) if (value !== undefined) merged[name] = value;
  return merged;
}

/** A log line of the bin (pino JSON) as parsed: its level (30 info, 40 warn, 50 error, 60 fatal), message, fields. */
export interface LogRecord {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** The pino JSON lines of a bin's stderr, parsed; the lines that are not JSON (usage errors, printf) are left out. */
export function logRecords<Line extends { msg: string } = LogRecord>(stderr: string): Line[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Line);
}

/** The bodies of the JSON envelope lines in `text` (what stdout:// and file:// write by default), in order. */
export function envelopeBodies(text: string): string[] {
  return text
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { body: string }).body);
}

/** An http:// source on a free port, for a bin whose source does not matter to the test. */
export async function httpSourceOnFreePort(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}/events`;
}

/**
 * Collects what `child` writes on stdout and stderr as it comes (read `output.stdout` and `output.stderr` at any time);
 * `exited` resolves with its exit code.
 */
export function captureOutput(child: ChildProcess): { stdout: string; stderr: string; exited: Promise<number | null> } {
  const output = { stdout: '', stderr: '', exited: new Promise<number | null>((resolve) => child.on('exit', resolve)) };
  child.stdout?.on('data', (chunk) => (output.stdout += String(chunk)));
  child.stderr?.on('data', (chunk) => (output.stderr += String(chunk)));
  return output;
}

export class BinProcess {
  readonly child: ChildProcess;
  stderr = '';
  stdout = '';
  readonly exited: Promise<number | null>;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, [BIN], {
      env: binEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stderr?.on('data', (chunk) => (this.stderr += String(chunk)));
    keepForFailure(this.child);
    this.child.stdout?.on('data', (chunk) => (this.stdout += String(chunk)));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once the bin logged `wasm-pipes started`; fails early (with its stderr) when it exits first. */
  async started(timeoutMs = 20_000): Promise<void> {
    await waitFor(() => this.stderr.includes('wasm-pipes started') || !this.running, 'the bin to start', timeoutMs);
    if (!this.stderr.includes('wasm-pipes started')) throw new Error(`the bin exited before starting:\n${this.stderr}`);
  }

  /** The log lines (pino JSON), parsed. */
  records(): { msg: string; [field: string]: unknown }[] {
    return logRecords(this.stderr);
  }

  /** The log lines (pino JSON) whose message matches `pattern`. */
  logs(pattern: RegExp): string[] {
    return this.stderr
      .split('\n')
      .map((line) => {
        try {
          return (JSON.parse(line) as { msg?: string }).msg ?? '';
        } catch {
          return line;
        }
      })
      .filter((message) => pattern.test(message));
  }

  async kill(): Promise<void> {
    if (this.running) process.kill(this.child.pid as number, 'SIGKILL');
    await this.exited;
  }

  async terminate(): Promise<number | null> {
    if (this.running) process.kill(this.child.pid as number, 'SIGTERM');
    return this.exited;
  }
}

/** What a bin run to its end left behind. */
export interface BinRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the bin to its end with only `env` (plus PATH and HOME) as its environment, `input` on stdin, and resolves
 * with its exit code and output (asynchronous: other tests of the file keep their timers running meanwhile).
 */
export function runBinToEnd(
  env: Record<string, string>,
  input = '',
  options: {
    cwd?: string;
    timeoutMs?: number;
    /** A file descriptor to give the bin as its stdout (default: a pipe). */ stdout?: number;
    /** Arguments after the bin's name: a command (`test`, `new`) and its arguments. */ args?: readonly string[];
  } = {},
): Promise<BinRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...(options.args ?? [])], {
      env: binEnv({ HOME: process.env.HOME ?? os.tmpdir(), ...env }),
      cwd: options.cwd ?? os.tmpdir(),
      stdio: ['pipe', options.stdout ?? 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    keepForFailure(child);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}
