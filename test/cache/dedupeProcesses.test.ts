// dedupe across two pipeline processes sharing Redis: 10 000 messages with 30% duplicates in, split between the
// processes, and each distinct key out exactly once. The workers run the built dist/ (npm test builds first).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { spawn, type ChildProcess } from 'node:child_process';
import { deleteRedisPrefix, stopChild, uniqueName } from './helpers';

const WORKER = path.join(__dirname, 'fixtures', 'dedupeWorker.js');

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

function firstLine(child: ChildProcess): Promise<string> {
  const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
  return new Promise((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
  });
}

describe('dedupe across processes', () => {
  const prefix = `${uniqueName('dedupe2p')}:`;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'wp-dedupe-'));
  const workers: ChildProcess[] = [];

  afterAll(async () => {
    await Promise.all(workers.map((worker) => stopChild(worker, 'SIGKILL')));
    fs.rmSync(directory, { recursive: true, force: true });
    await deleteRedisPrefix(prefix);
  });

  test('10 000 messages with 30% duplicates over two processes: each distinct key out exactly once', async () => {
    const random = seeded(42);
    const distinct = 7000;
    const events: string[] = Array.from({ length: distinct }, (_, i) => `event-${i}`);
    for (let i = 0; i < 3000; i++) events.push(`event-${Math.floor(random() * distinct)}`);
    for (let i = events.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [events[i], events[j]] = [events[j], events[i]];
    }
    // alternate messages between the processes, so that copies of one key often land in both
    const inputs = [0, 1].map((worker) => path.join(directory, `in-${worker}.jsonl`));
    const outputs = [0, 1].map((worker) => path.join(directory, `out-${worker}.jsonl`));
    for (const [worker, file] of inputs.entries()) {
      const lines = events
        .map((event, i) => ({ event, i }))
        .filter(({ i }) => i % 2 === worker)
        .map(({ event, i }) => JSON.stringify({ id: `m${i}`, body: JSON.stringify({ event }) }));
      fs.writeFileSync(file, `${lines.join('\n')}\n`);
    }

    for (let worker = 0; worker < 2; worker++) {
      workers.push(
        spawn(process.execPath, [WORKER, prefix, inputs[worker], outputs[worker]], {
          stdio: ['pipe', 'pipe', 'inherit'],
          env: { ...process.env, LOG_LEVEL: 'warn' },
        }),
      );
    }
    expect(await Promise.all(workers.map(firstLine))).toEqual(['ready', 'ready']);
    const finished = workers.map(
      (worker) =>
        new Promise<{ code: number | null; stats: { received: number; acked: number; nacked: number } }>((resolve) => {
          let text = '';
          worker.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
          worker.once('exit', (code) => resolve({ code, stats: JSON.parse(text.trim().split('\n').pop() || '{}') }));
        }),
    );
    for (const worker of workers) worker.stdin?.write('go\n');
    const results = await Promise.all(finished);
    expect(results.map((result) => result.code)).toEqual([0, 0]);
    expect(results[0].stats.acked + results[1].stats.acked).toBe(events.length);

    const out = outputs.flatMap((file) =>
      fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(JSON.parse(line).body) as { event: string }).event),
    );
    expect(out).toHaveLength(distinct);
    expect(new Set(out).size).toBe(distinct);
    expect([...new Set(events)].sort()).toEqual([...out].sort());
    // both processes did part of the work
    expect(outputs.every((file) => fs.readFileSync(file, 'utf8').length > 0)).toBe(true);
  });
});
