// The shell examples of the docs, run as written: a server block that starts the bin and a client block that talks to
// it, in a private network namespace (`unshare --net`), since the examples listen on their documented fixed ports.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN } from './bin';

/** What a server and client pair left: the script's stdout (the client's), and the bin's stdout and stderr. */
export interface ExampleRun {
  stdout: string;
  out: string;
  err: string;
}

/**
 * Runs `server` in the background in a new temporary folder, its `./wasm-pipes` replaced by `command` (the build) with
 * stdout and stderr kept in out.txt and err.txt; waits for the bin to log its start, runs `client`, stops the bin with
 * SIGTERM and prints `EXIT <its code>`.
 */
export function runServerAndClient(server: string, client: string, command: string): ExampleRun {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-doc-example-'));
  const script = [
    'set -u',
    'ip link set lo up',
    `cd ${JSON.stringify(dir)}`,
    server.trim().replace('./wasm-pipes', `${command} >out.txt 2>err.txt &`),
    'pid=$!',
    "for _ in $(seq 1 100); do grep -q 'wasm-pipes started' err.txt 2>/dev/null && break; sleep 0.1; done",
    client,
    'echo',
    'kill -TERM "$pid"; wait "$pid"; echo "EXIT $?"',
  ].join('\n');
  const result = spawnSync('unshare', ['--net', 'bash', '-c', script], { encoding: 'utf8', timeout: 30_000 });
  const out = fs.readFileSync(path.join(dir, 'out.txt'), 'utf8');
  const err = fs.readFileSync(path.join(dir, 'err.txt'), 'utf8');
  fs.rmSync(dir, { recursive: true, force: true });
  return { stdout: result.stdout, out, err };
}

/**
 * The arguments of `bash` that run the first sh block of `page` as written, but for `./wasm-pipes`, which is the build
 * run by this Node, and the paths of `replaced` (a path the page names -> the one this run uses); the script stops at
 * its first failing command.
 */
export function pageScriptArgs(page: string, replaced: Record<string, string>): string[] {
  const commands = /```sh\n([\s\S]*?)```/.exec(page)?.[1] ?? '';
  expect(commands).toContain('./wasm-pipes');
  let script = commands.replaceAll('./wasm-pipes', `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)}`);
  for (const [named, used] of Object.entries(replaced)) script = script.replaceAll(named, used);
  return ['--norc', '--noprofile', '-c', `set -euo pipefail\n${script}`];
}
