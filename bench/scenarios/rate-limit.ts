// RATE: does rateLimit hold its rate? 1 000 messages a second for 10 s in this process: the measured rate over the run
// against the configured one (ratio near 1; the check fails outside 2%).
// RATE2: the rate shared through Redis by two bin processes (RATE_LIMIT=1000/s, RATE_LIMIT_SHARED=true): together
// they must stay within 5% of it.
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Scenario } from '../harness';
import { source, start } from '../../lib';
import type { Sink } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import type { Message } from '../../lib/message';
import { rateLimit } from '../../operators';

const RATE = 1000;
const BIN = path.resolve(__dirname, '../../bin/wasm-pipes.js');
const measured = { rate: [] as number[], shared: [] as number[] };

/** The rate at which `times` (ms, in order) arrived: the count after the first over the time they spanned. */
function rateOf(times: readonly number[]): number {
  return ((times.length - 1) * 1000) / (times[times.length - 1] - times[0]);
}

async function inProcess(seconds: number): Promise<number> {
  const count = RATE * seconds;
  const name = `bench-rate-${process.pid}-${Date.now()}`;
  const input = memTopic(name);
  for (let i = 0; i < count; i++) input.publish({ body: 'x' });
  const times: number[] = [];
  const out: Sink = {
    name: 'times',
    ready: true,
    next: (message: Message) => {
      times.push(performance.now());
      message.ack();
    },
    error: () => undefined,
    complete: () => undefined,
    close: async () => undefined,
  };
  const running = start(source(`mem://${name}`).pipe(rateLimit({ rate: `${RATE}/s`, burst: 1 })), out, { handleSignals: false });
  while (times.length < count) await new Promise((resolve) => setTimeout(resolve, 20));
  await running.stop();
  input.delete();
  const rate = rateOf(times);
  measured.rate.push(rate);
  return rate;
}

/** Two bins sharing RATE through Redis, each with more input than it can pass; their outputs' times, merged. */
async function twoProcesses(seconds: number): Promise<number> {
  const lines = RATE * seconds; // each would do it alone in `seconds`: together they need twice as long
  const name = `bench-rate2-${process.pid}-${Date.now()}`;
  const times: number[] = [];
  const children = [0, 1].map(() => {
    const child = spawn(process.execPath, [BIN], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        SOURCE_URI: 'stdin://?format=lines',
        SINK_URI: 'stdout://?format=lines',
        RATE_LIMIT: `${RATE}/s`,
        RATE_LIMIT_BURST: '1',
        RATE_LIMIT_SHARED: 'true',
        CACHE_URI: `redis://127.0.0.1:6379/0?prefix=${name}:`,
        ADMIN_PORT: '0',
        LOG_LEVEL: 'warn',
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const now = performance.now();
      const text = partial + chunk.toString();
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (let i = 0; i < parts.length; i++) times.push(now);
    });
    child.stdin.end(Array.from({ length: lines }, (_, i) => `m${i}`).join('\n') + '\n');
    return child;
  });
  await Promise.all(children.map((child) => new Promise((resolve) => child.once('exit', resolve))));
  times.sort((a, b) => a - b);
  if (times.length !== 2 * lines) throw new Error(`the two bins wrote ${times.length} of ${2 * lines} lines`);
  // the first second is left out: both processes start (and load) at slightly different times
  const steady = times.filter((time) => time >= times[0] + 1000);
  const rate = rateOf(steady);
  measured.shared.push(rate);
  return rate;
}

/**
 * A scenario of measured rates against RATE: the "messages" are seconds to run, one long round of each side and no
 * warm-up; it fails for a rate more than `tolerance` (a fraction) from RATE.
 */
function againstConfiguredRate(
  scenario: Pick<Scenario, 'id' | 'title' | 'target' | 'candidate'>,
  rates: readonly number[],
  tolerance: number,
): Scenario {
  const percent = `${tolerance * 100}%`;
  return {
    ...scenario,
    messages: 10,
    quickMessages: 3,
    unit: 'higher-is-better',
    warmup: false,
    rounds: { quick: 1, full: 1 },
    baseline: { name: `the configured rate (${RATE}/s)`, run: async () => RATE },
    async verify() {
      return rates
        .filter((rate) => Math.abs(rate - RATE) / RATE > tolerance)
        .map((rate) => `FAIL: ${rate.toFixed(1)}/s is more than ${percent} from ${RATE}/s`);
    },
  };
}

export const rate1 = againstConfiguredRate(
  {
    id: 'RATE',
    title: `rateLimit(${RATE}/s, burst 1) over 10 s: measured rate vs the configured one`,
    target: 0.98,
    candidate: { name: 'measured messages/s', run: (seconds) => inProcess(seconds) },
  },
  measured.rate,
  0.02,
);

export const rate2 = againstConfiguredRate(
  {
    id: 'RATE2',
    title: `two bins sharing RATE_LIMIT=${RATE}/s through Redis: their measured total vs the configured rate`,
    target: 0.95,
    candidate: { name: 'measured messages/s, both bins together', run: (seconds) => twoProcesses(seconds) },
  },
  measured.shared,
  0.05,
);
