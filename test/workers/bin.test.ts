// WORKERS through the bin: refused (exit 2) where the source cannot be shared; with the HTTP source, N workers share
// the port, the one admin server reports every worker ready and sums their counters, and SIGTERM stops them all with
// one summary that is the sum of theirs.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { BinProcess, runBinToEnd } from '../helpers/bin';
import { freePort, waitFor } from '../helpers/wait';
import { groupFinalStats, sample, workerFinalStats, workerPid } from './helpers';

const bins: BinProcess[] = [];
afterAll(async () => {
  for (const bin of bins) await bin.kill();
});

describe('refused where the workers cannot share the source', () => {
  test.each([
    ['mem://in', /mem:\/\/ is an input of one process \(mem:\/\/in\); 2 workers cannot share it\. Set WORKERS=1/],
    ['stdin://', /stdin:\/\/ is an input of one process/],
    ['file:///tmp/none.jsonl', /file:\/\/ is an input of one process/],
    [
      'nats://orders.created',
      /without a queue group: each of the 2 workers would receive every message\. Add a queue group .*nats:\/\/orders\.created\?queue=relay/,
    ],
  ])('WORKERS=2 SOURCE_URI=%s exits 2 naming the fix', async (uri, message) => {
    const run = await runBinToEnd({ WORKERS: '2', SOURCE_URI: uri, SINK_URI: 'stdout://' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^wasm-pipes: WORKERS: /);
    expect(run.stderr).toMatch(message);
  });

  test('WORKERS=three exits 2', async () => {
    const run = await runBinToEnd({ WORKERS: 'three', SINK_URI: 'stdout://' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/WORKERS: 'three' is not a number of workers/);
  });

  test('WORKERS=auto reads a file in one process, to its end', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workers-auto-'));
    const file = path.join(dir, 'in.jsonl');
    fs.writeFileSync(file, Array.from({ length: 20 }, (_, i) => JSON.stringify({ n: i })).join('\n') + '\n');
    try {
      const run = await runBinToEnd({ WORKERS: 'auto', SOURCE_URI: `file://${file}`, SINK_URI: 'stdout://', LOG_FORMAT: 'json' });
      expect(run.status).toBe(0);
      expect(run.stdout.trim().split('\n')).toHaveLength(20);
      if (os.availableParallelism() > 1) expect(run.stderr).toMatch(/WORKERS=auto runs one process: file:\/\/ is read by one process only/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** POSTs `body` on a connection of its own (the primary hands out connections to the workers in turn). */
function post(port: number, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, path: '/events', method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url);
  return { status: response.status, text: await response.text() };
}

test('HTTP source in 2 workers: one port, /ready names both, /metrics totals are the sum of the workers, SIGTERM stops both', async () => {
  const port = await freePort();
  const adminPort = await freePort();
  const bin = new BinProcess({
    WORKERS: '2',
    SOURCE_URI: `http://127.0.0.1:${port}/events`,
    SINK_URI: 'stdout://',
    ADMIN_PORT: String(adminPort),
    LOG_FORMAT: 'json',
    STATS_INTERVAL: '0',
  });
  bins.push(bin);
  await bin.started();
  expect(workerPid(bin, 1)).toBeDefined();
  expect(workerPid(bin, 2)).toBeDefined();

  const ready = await get(`http://127.0.0.1:${adminPort}/ready`);
  expect(ready.status).toBe(200);
  const report = JSON.parse(ready.text) as { ready: boolean; checks: { role: string; worker?: number; ready: boolean }[] };
  expect(report.ready).toBe(true);
  for (const worker of [1, 2]) {
    expect(report.checks).toContainEqual(expect.objectContaining({ role: 'source', worker, ready: true }));
  }

  const total = 40;
  for (let i = 0; i < total; i++) expect(await post(port, JSON.stringify({ n: i }))).toBe(200);
  await waitFor(() => bin.stdout.trim().split('\n').length >= total, 'every message on stdout');

  const metrics = (await get(`http://127.0.0.1:${adminPort}/metrics`)).text;
  const source = { role: 'source', stage: `http://127.0.0.1:${port}/events`, scheme: 'http' };
  expect(sample(metrics, 'wasm_pipes_messages_received_total', source)).toBe(total);
  expect(sample(metrics, 'wasm_pipes_messages_acked_total', source)).toBe(total);
  expect(sample(metrics, 'wasm_pipes_messages_acked_total', { role: 'sink', stage: 'stdout://' })).toBe(total);
  // ready is the lowest of the workers (1), not their sum
  expect(sample(metrics, 'wasm_pipes_ready', source)).toBe(1);

  expect(await bin.terminate()).toBe(0);
  const perWorker = workerFinalStats(bin);
  expect([...perWorker.keys()].sort()).toEqual([1, 2]);
  const counts = [...perWorker.values()];
  // both took a share of the connections
  for (const stats of counts) expect(stats.received).toBeGreaterThan(0);
  expect(counts.reduce((sum, stats) => sum + stats.received, 0)).toBe(total);
  expect(groupFinalStats(bin)).toMatchObject({ received: total, acked: total, written: total, nacked: 0 });
  expect(bin.logs(/^wasm-pipes stopped: received 40, acked 40/)).toHaveLength(1);
});

test("docs/operating.md's WORKERS command runs as written (its port swapped for a free one)", async () => {
  const page = fs.readFileSync(path.join(__dirname, '../../docs/operating.md'), 'utf8');
  const section = page.slice(page.indexOf('## Every core: WORKERS'));
  const command = /```sh\n(.+)\n```/.exec(section)?.[1] ?? '';
  expect(command).toBe('WORKERS=auto SOURCE_URI=http://:9000/events SINK_URI=stdout:// ./wasm-pipes');
  const port = await freePort();
  const env = Object.fromEntries(
    command
      .replace(':9000', `:${port}`)
      .split(' ')
      .filter((word) => word.includes('='))
      .map((word) => [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]),
  );
  const bin = new BinProcess({ ...env, LOG_FORMAT: 'json' });
  bins.push(bin);
  await bin.started();
  expect(await post(port, '{"hello":"workers"}')).toBe(200);
  await waitFor(() => bin.stdout.includes('{\\"hello\\":\\"workers\\"}'), 'the message on stdout');
  expect(await bin.terminate()).toBe(0);
  expect(bin.logs(/^wasm-pipes stopped: received 1, acked 1/)).toHaveLength(1);
});
