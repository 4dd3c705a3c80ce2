// Hot reload in the bin: SIGHUP under a steady stream of HTTP messages swaps the module between messages and loses
// nothing (every id comes out exactly once, 200 for each); a module that fails to load leaves the old one running
// with an error line; /metrics shows the digest and load time; WASM_WATCH=true reloads when the file changes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BinProcess } from '../helpers/bin';
import { freePort, waitFor } from '../helpers/wait';
import { wat } from '../wasm/helpers';
import { buildExamples, ROOT, temporaryFolder } from './helpers';

/** The second version: emits the body unchanged (the first, examples/uppercase, uppercases it). */
const IDENTITY = `(module
  (import "wasm_pipes_v1" "emit" (func $emit (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "transform") (param $ptr i32) (param $len i32) (result i32)
    (call $emit (local.get $ptr) (local.get $len)) (i32.const 0)))`;

let folder: { dir: string; remove(): void };
let upper: Buffer;
let identity: Buffer;

beforeAll(async () => {
  await buildExamples();
  folder = temporaryFolder('reload');
  upper = fs.readFileSync(path.join(ROOT, 'examples', 'uppercase', 'uppercase.wasm'));
  identity = Buffer.from(await wat(IDENTITY));
}, 300_000);

afterAll(() => folder.remove());

const sha256 = (bytes: Buffer): string => crypto.createHash('sha256').update(bytes).digest('hex');

/** Replaces the module file as a compiler would: a new file renamed over the old one. */
function replaceModule(file: string, bytes: Buffer): void {
  fs.writeFileSync(`${file}.new`, bytes);
  fs.renameSync(`${file}.new`, file);
}

async function metrics(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return response.text();
}

test('SIGHUP under a steady stream swaps the module between messages and loses nothing; a broken module leaves the old one running', async () => {
  const module = path.join(folder.dir, 'relay.wasm');
  fs.writeFileSync(module, upper);
  const [httpPort, adminPort] = [await freePort(), await freePort()];
  const bin = new BinProcess({
    SOURCE_URI: `http://127.0.0.1:${httpPort}/events`,
    SINK_URI: 'stdout://?format=lines',
    WASM_MODULE: module,
    ADMIN_PORT: String(adminPort),
    LOG_FORMAT: 'json',
  });
  try {
    await bin.started();
    const before = await metrics(adminPort);
    expect(before).toContain(`wasm_pipes_wasm_module_info{module="relay.wasm",sha256="${sha256(upper)}"} 1`);
    const loadedAt = Number(/wasm_pipes_wasm_module_loaded_timestamp_seconds\{module="relay.wasm"\} ([0-9.e+]+)/.exec(before)?.[1]);
    expect(Math.abs(loadedAt * 1000 - Date.now())).toBeLessThan(120_000);

    const total = 600;
    let next = 0;
    const statuses: number[] = [];
    const sentAfter: { reload?: number; broken?: number } = {};
    // four senders, each one message at a time: a steady stream while the module is swapped twice
    const sender = async (): Promise<void> => {
      while (next < total) {
        const id = next++;
        const response = await fetch(`http://127.0.0.1:${httpPort}/events`, { method: 'POST', body: `id-${id}` });
        statuses.push(response.status);
        await response.arrayBuffer();
      }
    };
    const senders = Promise.all([sender(), sender(), sender(), sender()]);
    await waitFor(() => next >= total / 4, 'a quarter of the messages to be sent');
    replaceModule(module, identity);
    process.kill(bin.child.pid as number, 'SIGHUP');
    await waitFor(() => bin.logs(/^reloaded relay\.wasm/).length === 1, 'the reload');
    sentAfter.reload = next;
    await waitFor(() => next >= sentAfter.reload! + total / 4, 'more messages after the reload');
    replaceModule(module, Buffer.from('not a module'));
    process.kill(bin.child.pid as number, 'SIGHUP');
    await waitFor(() => bin.logs(/^reloading relay\.wasm failed/).length === 1, 'the failed reload');
    sentAfter.broken = next;
    await senders;
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    const failed = bin.records().find((record) => record.msg.startsWith('reloading relay.wasm failed'));
    expect(failed).toMatchObject({ level: 50 });
    expect(failed?.msg).toContain('is not a WebAssembly module');
    expect(failed?.msg).toContain('the module loaded before keeps running');
    const after = await metrics(adminPort);
    expect(after).toContain(`wasm_pipes_wasm_module_info{module="relay.wasm",sha256="${sha256(identity)}"} 1`);
    expect(after).not.toContain(sha256(upper));
    expect(after).toContain('wasm_pipes_wasm_reloads_total{module="relay.wasm",result="ok"} 1');
    expect(after).toContain('wasm_pipes_wasm_reloads_total{module="relay.wasm",result="failed"} 1');
    expect(await bin.terminate()).toBe(0);

    const lines = bin.stdout.trim().split('\n');
    const ids = lines.map((line) => Number(/^id-(\d+)$/i.exec(line)?.[1]));
    expect(ids.filter((id) => Number.isNaN(id))).toEqual([]);
    expect(new Set(ids).size).toBe(total);
    expect(lines).toHaveLength(total);
    // the first messages ran on the first version, every message sent after the reload was seen on the second, and
    // the broken module never ran
    expect(lines.filter((line) => line.startsWith('ID-')).length).toBeGreaterThanOrEqual(total / 4 - 4);
    for (const line of lines) {
      const id = Number(/(\d+)$/.exec(line)?.[1]);
      if (id >= sentAfter.reload) expect(line).toBe(`id-${id}`);
    }
    expect(bin.logs(/wasm-pipes stopped: received 600, acked 600/)).toHaveLength(1);
  } finally {
    await bin.kill();
  }
});

test('WASM_WATCH=true reloads a module when its file changes', async () => {
  const module = path.join(folder.dir, 'watched.wasm');
  fs.writeFileSync(module, upper);
  const httpPort = await freePort();
  const bin = new BinProcess({
    SOURCE_URI: `http://127.0.0.1:${httpPort}/events`,
    SINK_URI: 'stdout://?format=lines',
    WASM_MODULE: module,
    WASM_WATCH: 'true',
    LOG_FORMAT: 'json',
  });
  try {
    await bin.started();
    const send = async (body: string): Promise<void> => {
      const response = await fetch(`http://127.0.0.1:${httpPort}/events`, { method: 'POST', body });
      expect(response.status).toBe(200);
    };
    await send('before');
    replaceModule(module, identity);
    await waitFor(() => bin.logs(/^reloaded watched\.wasm/).length === 1, 'the reload after the file changed');
    await send('after');
    await waitFor(() => bin.stdout.includes('after\n'), 'the message after the reload');
    expect(bin.stdout).toBe('BEFORE\nafter\n');
    expect(await bin.terminate()).toBe(0);
  } finally {
    await bin.kill();
  }
});
