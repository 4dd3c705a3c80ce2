// P5B: memory with a module that emits every input 2 000 times into a slow HTTP sink, through the built bin. The
// outputs count against the source's credit window, so the bin's peak RSS must stay near that of the same pipeline
// with one output per input (the baseline), and under 256 MB. The ratio is baseline RSS / candidate RSS.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Scenario } from '../harness';
import { fanoutModule } from './wasmFixtures';

const BIN = path.resolve(__dirname, '../../bin/wasm-pipes.js');
const RSS_LIMIT_MB = 256;
/** How long each run feeds the bin before it is stopped. */
const RUN_MS = { quick: 3000, full: 8000 };

const state = { server: undefined as http.Server | undefined, url: '', module: '', written: 0, peaks: [] as number[] };

function rssMb(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

/** Runs the bin for a while with `copies` outputs per input, and resolves to 1 / its peak RSS in MB. */
async function peakRss(copies: number, durationMs: number): Promise<number> {
  const child = spawn(process.execPath, [BIN], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      SOURCE_URI: 'stdin://',
      SINK_URI: state.url,
      WASM_MODULE: state.module,
      WASM_CONFIG: `copies=${copies}`,
      ADMIN_PORT: '0',
      LOG_LEVEL: 'warn',
      SHUTDOWN_TIMEOUT: '2s',
    },
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  // input enough for the whole run at the sink's pace, written as the bin asks for it
  const line = `${JSON.stringify({ event: 'reading', value: 42 }).padEnd(100, ' ')}\n`;
  const lines = copies === 1 ? 200_000 : 400;
  let sent = 0;
  const feed = (): void => {
    while (sent < lines) {
      sent++;
      if (!child.stdin.write(line)) {
        child.stdin.once('drain', feed);
        return;
      }
    }
  };
  child.stdin.on('error', () => undefined);
  feed();
  let peak = 0;
  const began = Date.now();
  while (Date.now() - began < durationMs && child.exitCode === null) {
    peak = Math.max(peak, rssMb(child.pid as number));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  if (copies !== 1) state.peaks.push(peak);
  return 1 / peak;
}

export const p5b: Scenario = {
  id: 'P5B',
  title: 'bin: stdin -> a module emitting each input 2 000 times -> a slow HTTP sink: peak RSS vs one output per input',
  messages: 1,
  quickMessages: 1,
  target: 0.5,
  unit: 'higher-is-better',
  warmup: false,
  rounds: { quick: 1, full: 3 },
  async setup() {
    state.module = await fanoutModule();
    state.peaks = [];
    // the slow sink: 10 ms a request; with the HTTP sink's 32 at once, about 3 200 messages a second
    state.server = http.createServer((request, response) => {
      request.resume();
      request.on('end', () => setTimeout(() => response.end('{}'), 10));
    });
    state.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => state.server?.listen(0, '127.0.0.1', resolve));
    state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/hook`;
  },
  async teardown() {
    await new Promise((resolve) => state.server?.close(resolve));
  },
  baseline: {
    name: 'one output per input (1/peak RSS MB)',
    run: () => peakRss(1, process.env.BENCH_QUICK === '1' ? RUN_MS.quick : RUN_MS.full),
  },
  candidate: {
    name: '2 000 outputs per input (1/peak RSS MB)',
    run: () => peakRss(2000, process.env.BENCH_QUICK === '1' ? RUN_MS.quick : RUN_MS.full),
  },
  async verify() {
    const worst = Math.max(...state.peaks);
    const notes = [`peak RSS with 2 000 outputs per input: ${worst.toFixed(0)} MB (limit ${RSS_LIMIT_MB} MB)`];
    if (worst > RSS_LIMIT_MB) notes.push(`FAIL: peak RSS ${worst.toFixed(0)} MB above ${RSS_LIMIT_MB} MB`);
    return notes;
  },
};
