// WASI preview 1: a C module built against Debian's wasi-libc and a Rust std module built for wasm32-wasi run
// through the bin, their prints in the log (attributed to the module), with clocks, randomness and their config as
// the environment, and nothing of the host's; an import outside that set stops start-up naming it.
import fs from 'node:fs';
import path from 'node:path';
import { testModule } from '../../lib';
import { BinProcess, logRecords, runBinToEnd, type BinRun } from '../helpers/bin';
import { freePort, waitFor } from '../helpers/wait';
import { wat } from '../wasm/helpers';
import { buildFixture, temporaryFolder } from './helpers';

let folder: { dir: string; remove(): void };
let cModule: string;
let rustModule: string;

beforeAll(async () => {
  folder = temporaryFolder('wasi');
  // stable names: the log attributes lines to the module's file name
  cModule = path.join(folder.dir, 'wasi-c.wasm');
  rustModule = path.join(folder.dir, 'wasi-rust.wasm');
  fs.copyFileSync(await buildFixture('c-wasi', 'wasi.c'), cModule);
  fs.copyFileSync(await buildFixture('rust-wasi', 'wasi.rs'), rustModule);
}, 300_000);

afterAll(() => folder.remove());

interface LogLine {
  level: number;
  msg: string;
  module?: string;
  stream?: string;
}

test('a C module on wasi-libc (malloc, printf, snprintf, getenv, clock, getentropy) runs through the bin, printf in the log', async () => {
  const input = ['hello ann', 'warn disk almost full', 'env greeting', 'env SECRET_TOKEN', 'time', 'random', 'random', '{"name":"a\\"b"}'].join('\n');
  const before = Date.now();
  const run = await runBinToEnd(
    { SOURCE_URI: 'stdin://', SINK_URI: 'stdout://?format=lines', WASM_MODULE: cModule, WASM_CONFIG: 'greeting=hi', SECRET_TOKEN: 'from-the-host', LOG_FORMAT: 'json' },
    `${input}\n`,
  );
  const after = Date.now();
  expect(run.status).toBe(0);
  const lines = run.stdout.trim().split('\n');
  expect(lines[0]).toBe('hello ann from C');
  expect(lines[1]).toBe('hi');
  expect(lines[2]).toBe('(unset)'); // the host's environment stays outside
  expect(Number(lines[3])).toBeGreaterThanOrEqual(before - 1000);
  expect(Number(lines[3])).toBeLessThanOrEqual(after + 1000);
  expect(lines[4]).toMatch(/^[0-9a-f]{32}$/);
  expect(lines[5]).toMatch(/^[0-9a-f]{32}$/);
  expect(lines[5]).not.toBe(lines[4]);
  expect(JSON.parse(lines[6])).toEqual({ name: 'a"b', seen: 'a"b' });
  const logs = logRecords<LogLine>(run.stderr);
  expect(logs).toContainEqual(expect.objectContaining({ level: 30, msg: 'C says hello ann (16 bytes)', module: 'wasi-c.wasm', stream: 'stdout' }));
  expect(logs).toContainEqual(expect.objectContaining({ level: 40, msg: 'disk almost full', module: 'wasi-c.wasm', stream: 'stderr' }));
  // nothing of the module went to the process's stdout, which is the pipeline's output, and stderr holds only log
  // lines (node:wasi's "experimental" warning is not printed around the log)
  expect(lines).toHaveLength(7);
  expect(run.stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('{'))).toEqual([]);
});

test('a Rust std module for wasm32-wasi (String, Vec, format!, println!, eprintln!, env, SystemTime) runs through the bin', async () => {
  const run = await runBinToEnd(
    { SOURCE_URI: 'stdin://', SINK_URI: 'stdout://?format=lines', WASM_MODULE: rustModule, WASM_CONFIG: '{"greeting":"hello"}', LOG_FORMAT: 'json' },
    'words alpha beta gamma\nenv greeting\ntime\neprint something odd\n',
  );
  expect(run.status).toBe(0);
  const lines = run.stdout.trim().split('\n');
  expect(lines.slice(0, 4)).toEqual(['0:alpha', '1:beta', '2:gamma', 'hello']);
  expect(Math.abs(Number(lines[4]) - Date.now())).toBeLessThan(60_000);
  const logs = logRecords<LogLine>(run.stderr);
  expect(logs).toContainEqual(expect.objectContaining({ level: 30, msg: 'Rust says 3 word(s)', module: 'wasi-rust.wasm', stream: 'stdout' }));
  expect(logs).toContainEqual(expect.objectContaining({ level: 40, msg: 'something odd', module: 'wasi-rust.wasm', stream: 'stderr' }));
});

test("a panic's message reaches the log, exit() fails only that message, and the instance goes on", async () => {
  const rust = await testModule(rustModule, [
    { name: 'panic', input: 'panic', expect: { fails: 'trapped: unreachable' } },
    { name: 'after', input: 'words x', expect: ['0:x'] },
  ]);
  expect(rust.results.map((result) => result.problems)).toEqual([[], []]);
  const panicked = await testModule(rustModule, [{ input: 'panic', expect: 'dropped' }]);
  expect(panicked.results[0].logs.join('\n')).toMatch(/warn thread '.*' panicked at 'asked to panic', .*wasi\.rs:\d+:\d+/);
  const c = await testModule(cModule, [
    { name: 'exit', input: 'exit', expect: { fails: 'wasi-c.wasm called exit(3); a module returns a status instead' } },
    { name: 'after', input: 'hello bo', expect: ['hello bo from C'] },
  ]);
  expect(c.results.map((result) => result.problems)).toEqual([[], []]);
});

/** Runs the bin over an empty stdin with the module of `text` (WebAssembly text), saved as `name`. */
async function runWithModule(name: string, text: string): Promise<BinRun> {
  const file = path.join(folder.dir, name);
  fs.writeFileSync(file, await wat(text));
  return runBinToEnd({ SOURCE_URI: 'stdin://', SINK_URI: 'stdout://', WASM_MODULE: file }, '');
}

test('a WASI import outside the set, or a WASI command, stops the bin at start-up naming it', async () => {
  const refused = await runWithModule(
    'opens-files.wasm',
    `(module
      (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "sock_send" (func (param i32 i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "alloc") (param i32) (result i32) (i32.const 1024))
      (func (export "transform") (param i32 i32) (result i32) (i32.const 0)))`,
  );
  expect(refused.status).toBe(2);
  expect(refused.stderr).toContain("unknown import 'wasi_snapshot_preview1.path_open': modules get no filesystem");
  expect(refused.stderr).toContain("unknown import 'wasi_snapshot_preview1.sock_send': modules get no network");
  expect(refused.stderr.trim().split('\n')).toHaveLength(1);

  const commandRun = await runWithModule(
    'command.wasm',
    `(module (memory (export "memory") 1) (func (export "_start"))
      (func (export "alloc") (param i32) (result i32) (i32.const 1024))
      (func (export "transform") (param i32 i32) (result i32) (i32.const 0)))`,
  );
  expect(commandRun.status).toBe(2);
  expect(commandRun.stderr).toContain("it exports '_start': it was built as a WASI command");
  expect(commandRun.stderr).toContain('clang -mexec-model=reactor');
});

test("a module's prints are rate-limited like its log: 10 lines a second, then one line counts the rest", async () => {
  const port = await freePort();
  const bin = new BinProcess({ SOURCE_URI: `http://127.0.0.1:${port}/events`, SINK_URI: 'stdout://?format=lines', WASM_MODULE: cModule, LOG_FORMAT: 'json' });
  try {
    await bin.started();
    const response = await fetch(`http://127.0.0.1:${port}/events`, { method: 'POST', body: 'spam' });
    expect(response.status).toBe(200);
    await waitFor(() => bin.logs(/log line\(s\) from the module were suppressed/).length > 0, 'the line counting the suppressed prints');
    const printed = logRecords<LogLine>(bin.stderr).filter((line) => line.stream === 'stdout');
    expect(printed.length).toBeLessThanOrEqual(10);
    expect(printed[0]).toMatchObject({ msg: 'line 0', module: 'wasi-c.wasm' });
    const counted = logRecords<LogLine>(bin.stderr).find((line) => /suppressed/.test(line.msg)) as LogLine & { suppressed: number };
    expect(counted.suppressed + printed.length).toBe(50);
    expect(bin.stdout).toBe('spammed\n');
    expect(await bin.terminate()).toBe(0);
  } finally {
    await bin.kill();
  }
});
