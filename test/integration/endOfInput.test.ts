// The bin at the end of an in-process input (stdin://, file://): it waits until every message is delivered,
// dead-lettered or given up after MAX_DELIVERIES, and says so in its last line and its exit code. Every count in that
// line agrees with what happened, including dead letters sent by a module.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { logRecords, runBinToEnd, type LogRecord } from '../helpers/bin';
import { buildAs } from '../wasm/helpers';

const lastLine = (stderr: string): LogRecord =>
  logRecords(stderr)
    .filter((line) => line.msg.startsWith('wasm-pipes stopped'))
    .pop() as LogRecord;

let dir: string;
let native: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'end-of-input-'));
  native = await buildAs('native.ts');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// a closed port: every write fails at once with a retryable error
const UNREACHABLE = 'http://127.0.0.1:1/x';

test('stdin into a sink that always fails: the bin waits for the redeliveries, gives up, and exits 1 saying so', async () => {
  const result = await runBinToEnd(
    { SOURCE_URI: 'stdin://', SINK_URI: UNREACHABLE, SINK_MAX_ATTEMPTS: '1', MAX_DELIVERIES: '2', LOG_FORMAT: 'json' },
    'hello\n',
  );
  expect(result.status).toBe(1);
  const last = lastLine(result.stderr);
  expect(last.level).toBe(50);
  expect(last.msg).toContain('received 3'); // two deliveries, then the third is given up
  expect(last.msg).toContain('NOT DELIVERED 1');
  // each failure said why at warn, with the message's id
  const warnings = logRecords(result.stderr).filter((line) => line.level === 40);
  expect(warnings.some((line) => /failed and was nacked: .*ECONNREFUSED|failed and was nacked/.test(line.msg))).toBe(true);
  expect(warnings.some((line) => line.msg.includes('given up after 2 failed deliveries'))).toBe(true);
});

test('the same with DEAD_LETTER_URI: the message is dead-lettered after MAX_DELIVERIES and the bin exits 0', async () => {
  const dead = path.join(dir, 'dead-stdin.jsonl');
  const result = await runBinToEnd(
    {
      SOURCE_URI: 'stdin://',
      SINK_URI: UNREACHABLE,
      SINK_MAX_ATTEMPTS: '1',
      MAX_DELIVERIES: '2',
      DEAD_LETTER_URI: `file://${dead}`,
      LOG_FORMAT: 'json',
    },
    'hello\n',
  );
  expect(result.status).toBe(0);
  const letters = fs.readFileSync(dead, 'utf8').trim().split('\n');
  expect(letters).toHaveLength(1);
  expect(JSON.parse(letters[0]).body).toBe('hello');
  expect(lastLine(result.stderr).msg).toContain('dead-lettered 1');
});

test('a file:// source through a module failing one line in three, with DEAD_LETTER_URI: dead letters written and counted', async () => {
  const input = path.join(dir, 'in.jsonl');
  const dead = path.join(dir, 'dead-file.jsonl');
  const out = path.join(dir, 'out.jsonl');
  fs.writeFileSync(input, ['a', 'b', 'fail', 'c', 'd', 'fail', 'e', 'f', 'fail'].map((body) => JSON.stringify({ body })).join('\n') + '\n');
  const result = await runBinToEnd({
    SOURCE_URI: `file://${input}`,
    SINK_URI: `file://${out}`,
    WASM_MODULE: native,
    WASM_ON_ERROR: 'deadLetter',
    DEAD_LETTER_URI: `file://${dead}`,
    LOG_FORMAT: 'json',
  });
  expect(result.status).toBe(0);
  const letters = fs
    .readFileSync(dead, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { body: string; metadata: Record<string, string> });
  expect(letters.map((letter) => letter.body)).toEqual(['fail', 'fail', 'fail']);
  expect(letters[0].metadata['dead-letter-reason']).toContain('asked to fail');
  expect(fs.readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(6);
  const last = lastLine(result.stderr);
  expect(last.msg).toContain('received 9');
  expect(last.msg).toContain('dead-lettered 3');
  expect(last.msg).toContain('written 6');
  expect(last.stats).toMatchObject({ received: 9, acked: 9, deadLettered: 3, written: 6, givenUp: 0 });
  // every failing message was logged at warn with the module's reason
  const failures = logRecords(result.stderr).filter((line) => line.level === 40 && String(line.msg).includes('asked to fail'));
  expect(failures.length).toBeGreaterThanOrEqual(3);
});
