// `wasm-pipes check` as users run it: the built bin with the `check` command (and --offline where asked), only the
// given environment (through binEnv()), in a working directory of the test's choosing; its exit code and its lines.
import { spawn } from 'node:child_process';
import os from 'node:os';
import { BIN, binEnv } from '../helpers/bin';
import { testLogs } from '../helpers/testLogs';

export interface CheckRun {
  status: number | null;
  /** The lines on stdout: one `ok ...` per endpoint (and module), then any `warning: ...`. */
  ok: string[];
  /** The lines on stderr: one `wasm-pipes check: ...` per problem. */
  problems: string[];
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

export function runCheck(env: Record<string, string>, args: string[] = [], cwd = os.tmpdir()): Promise<CheckRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'check', ...args], { env: binEnv(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      // shown only when the test fails
      testLogs()?.write(`[check ${JSON.stringify(args)}] exit ${status}\n${stdout}${stderr}`);
      resolve({ status, ok: lines(stdout), problems: lines(stderr) });
    });
  });
}
