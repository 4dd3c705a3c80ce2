// Operating wasm modules: WASM_SHA256 pins a module, a module fetched over plain http:// is warned about, and the
// wasm stages show up in /metrics with their traps and budget stops.
import fs from 'node:fs';
import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { buildAs } from './helpers';
import { runBinToEnd, type BinRun } from '../helpers/bin';
import { capturingLogger } from '../helpers/wait';
import { loadWasm } from '../../lib/wasm/load';
import { wasmFilter } from '../../operators';
import { source, sink, start } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import { metricsText } from '../../lib/metrics';
import { uniqueName, waitFor } from '../helpers/wait';

let keep: string;
beforeAll(async () => {
  keep = await buildAs('keep.ts');
});

function runBin(env: Record<string, string>): Promise<BinRun> {
  return runBinToEnd({ LOG_LEVEL: 'warn', SOURCE_URI: 'stdin://', SINK_URI: 'stdout://?format=lines', ...env }, 'keep\n');
}

test('WASM_SHA256: the right digest runs; a wrong one is refused at start-up with exit 2, naming both digests', async () => {
  const digest = createHash('sha256').update(fs.readFileSync(keep)).digest('hex');
  const pinned = await runBin({ WASM_MODULE: keep, WASM_SHA256: digest });
  expect(pinned.status).toBe(0);
  expect(pinned.stdout.trim()).toBe('keep');
  const wrong = 'a'.repeat(64);
  const refused = await runBin({ WASM_MODULE: keep, WASM_SHA256: wrong });
  expect(refused.status).toBe(2);
  expect(refused.stderr).toContain('WASM_SHA256');
  expect(refused.stderr).toContain(digest);
  expect(refused.stderr).toContain(wrong);
  expect(refused.stdout).toBe('');
});

test('WASM_SHA256 needs one digest per module and 64 hex digits', async () => {
  expect((await runBin({ WASM_MODULE: `${keep},${keep}`, WASM_SHA256: 'a'.repeat(64) })).stderr).toContain('1 digest(s) for 2 module(s)');
  const bad = await runBin({ WASM_MODULE: keep, WASM_SHA256: 'not-a-digest' });
  expect(bad.status).toBe(2);
  expect(bad.stderr).toContain('64 hex digits');
});

test('a module fetched over plain http:// logs a warning, unless its digest is pinned', async () => {
  const bytes = fs.readFileSync(keep);
  const server = http.createServer((_request, response) => response.end(bytes));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/keep.wasm`;
  try {
    const unpinned = capturingLogger('warn');
    await loadWasm(url, { logger: unpinned.logger });
    expect(unpinned.lines().some((line) => line.msg.includes('plain http://') && line.msg.includes('WASM_SHA256'))).toBe(true);
    const pinned = capturingLogger('warn');
    await loadWasm(url, { logger: pinned.logger, sha256: createHash('sha256').update(bytes).digest('hex') });
    expect(pinned.lines()).toEqual([]);
  } finally {
    server.close();
  }
});

test('wasm stages appear in /metrics: messages in, out, dropped, and traps by stage', async () => {
  const topic = uniqueName('wasm-metrics');
  const input = memTopic(topic);
  for (const body of ['keep', 'keep', 'trap', 'drop']) input.publish({ body });
  const module = await loadWasm(keep, { name: 'metrics-keep.wasm' });
  const outTopic = uniqueName('wasm-metrics-out');
  const running = start(source(`mem://${topic}`, { maxDeliveries: 1 }).pipe(wasmFilter(module)), sink(`mem://${outTopic}`), {
    handleSignals: false,
    shutdownTimeout: 100,
  });
  await waitFor(() => memTopic(outTopic).length === 2, 'the two kept messages');
  await waitFor(() => running.stats().nacked >= 1 && running.stats().acked >= 3, 'the trap nacked and the rest acked');
  const text = await metricsText();
  const stage = 'wasmFilter(metrics-keep.wasm)';
  const value = (metric: string): number => {
    const line = text.split('\n').find((entry) => entry.startsWith(metric) && entry.includes(`stage="${stage}"`));
    return Number(line?.split(' ').pop());
  };
  expect(value('wasm_pipes_messages_emitted_total')).toBeGreaterThanOrEqual(2);
  expect(value('wasm_pipes_messages_dropped_total')).toBeGreaterThanOrEqual(1);
  expect(value('wasm_pipes_wasm_traps_total')).toBeGreaterThanOrEqual(1);
  await running.stop();
  input.delete();
  memTopic(outTopic).delete();
});
