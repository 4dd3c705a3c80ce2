// The bin's compositions: SOURCE_URI=a,b merges sources, SINK_URI='a|b' falls back, a SINK_URI template routes each
// message by its content, and RATE_LIMIT holds messages to a rate; malformed ones stop the start with exit 2.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { envelopeBodies, runBinToEnd } from '../helpers/bin';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const bodies = (file: string): string[] => envelopeBodies(fs.readFileSync(file, 'utf8'));

function inputFile(name: string, lines: readonly string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, lines.map((body) => JSON.stringify({ body })).join('\n') + '\n');
  return file;
}

test('SOURCE_URI=a,b merges two sources into one sink; the bin ends when both ended', async () => {
  const a = inputFile('a.jsonl', ['a1', 'a2', 'a3']);
  const b = inputFile('b.jsonl', ['b1', 'b2']);
  const out = path.join(dir, 'merged.jsonl');
  const result = await runBinToEnd({ SOURCE_URI: `file://${a},file://${b}`, SINK_URI: `file://${out}`, LOG_FORMAT: 'json' });
  expect(result.status).toBe(0);
  expect(bodies(out).sort()).toEqual(['a1', 'a2', 'a3', 'b1', 'b2']);
  expect(result.stderr).toContain('received 5');
});

test("SINK_URI='a|b' falls back to b for what a could not take", async () => {
  const input = inputFile('fallback-in.jsonl', ['x', 'y']);
  const spool = path.join(dir, 'spool.jsonl');
  const result = await runBinToEnd({
    SOURCE_URI: `file://${input}`,
    SINK_URI: `http://127.0.0.1:1/hook|file://${spool}`,
    SINK_MAX_ATTEMPTS: '1',
    LOG_FORMAT: 'json',
  });
  expect(result.status).toBe(0);
  expect(bodies(spool)).toEqual(['x', 'y']);
  expect(result.stderr).toContain('written 2');
});

test('a SINK_URI template routes each message by a JSON field; one without the field goes to the dead letter', async () => {
  const input = inputFile('routed-in.jsonl', ['{"type":"order","n":1}', '{"type":"refund","n":2}', '{"type":"order","n":3}', '{"n":4}']);
  const dead = path.join(dir, 'routed-dead.jsonl');
  const result = await runBinToEnd({
    SOURCE_URI: `file://${input}`,
    SINK_URI: `file://${dir}/routed-{json.type}.jsonl`,
    DEAD_LETTER_URI: `file://${dead}`,
    LOG_FORMAT: 'json',
  });
  expect(result.status).toBe(0);
  expect(bodies(path.join(dir, 'routed-order.jsonl'))).toEqual(['{"type":"order","n":1}', '{"type":"order","n":3}']);
  expect(bodies(path.join(dir, 'routed-refund.jsonl'))).toEqual(['{"type":"refund","n":2}']);
  const letters = fs
    .readFileSync(dead, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { body: string; metadata: Record<string, string> });
  expect(letters.map((letter) => letter.body)).toEqual(['{"n":4}']);
  expect(letters[0].metadata['dead-letter-reason']).toContain('has no value for {json.type}');
});

test('RATE_LIMIT holds messages to the rate and loses none', async () => {
  const input = inputFile(
    'rate-in.jsonl',
    Array.from({ length: 30 }, (_, i) => `m${i}`),
  );
  const out = path.join(dir, 'rate-out.jsonl');
  const began = Date.now();
  const result = await runBinToEnd({ SOURCE_URI: `file://${input}`, SINK_URI: `file://${out}`, RATE_LIMIT: '20/s', RATE_LIMIT_BURST: '1' });
  // 30 messages at 20 a second, one at a time: at least 1.45 s (a lower bound holds on a loaded machine too)
  expect(Date.now() - began).toBeGreaterThanOrEqual(1450);
  expect(result.status).toBe(0);
  expect(bodies(out)).toHaveLength(30);
});

test.each([
  [
    'a placeholder that is not one',
    { SINK_URI: 'nats://orders.{nope}' },
    "SINK_URI: 'nats://orders.{nope}' has a brace that is not a placeholder",
  ],
  ['a template in the scheme', { SINK_URI: '{json.kind}://x' }, 'SINK_URI'],
  ['an empty fallback', { SINK_URI: 'stdout://|' }, "SINK_URI: 'stdout://|' has an empty fallback"],
  ['a rate that is not one', { RATE_LIMIT: 'fast' }, "RATE_LIMIT: 'fast' is not a rate"],
  ['RATE_LIMIT_BURST alone', { RATE_LIMIT_BURST: '5' }, 'RATE_LIMIT_BURST: has no effect without RATE_LIMIT'],
  [
    'a shared rate on a memory cache',
    { RATE_LIMIT: '5/s', RATE_LIMIT_SHARED: 'true' },
    'RATE_LIMIT_SHARED: needs a cache that every copy of the pipeline shares',
  ],
  ['an empty source in a list', { SOURCE_URI: 'stdin://,' }, "SOURCE_URI: 'stdin://,' has an empty item"],
])('%s stops the start with exit 2 and one line', async (_what, env, message) => {
  const result = await runBinToEnd({ SOURCE_URI: 'stdin://', ...env });
  expect(result.status).toBe(2);
  expect(result.stderr).toContain(message);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
});
