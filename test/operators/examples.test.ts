// The combinator examples of examples/typescript run as docs/operators.md shows them: two sources merged, routing by a
// JSON field to three NATS subjects, batching into one HTTP POST per 100 messages, a fallback from HTTP to a file.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/wait';
import { envelopeBodies } from '../helpers/bin';

const root = path.resolve(__dirname, '../..');

function runExample(
  name: string,
  env: Record<string, string> = {},
  input = '',
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'dist/examples/typescript', `${name}.js`)], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'warn', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

test('merge-two-sources.ts: two NATS subjects into one file', async () => {
  const result = await runExample('merge-two-sources');
  expect(result.status).toBe(0);
  const match = /^2 messages from 2 sources in (\S+)$/m.exec(result.stdout);
  expect(match).not.toBeNull();
  const file = (match as RegExpExecArray)[1];
  const bodies = envelopeBodies(fs.readFileSync(file, 'utf8'));
  expect(bodies.sort()).toEqual(['{"order":1}', '{"refund":7}']);
  fs.rmSync(file, { force: true });
});

test('route-by-type.ts: webhook events to three NATS subjects by their type, the rest to a fourth', async () => {
  const result = await runExample('route-by-type', { PORT: String(await freePort()) });
  expect(result.status).toBe(0);
  expect(result.stdout.trim().split('\n')).toEqual([
    'orders {"type":"order"}',
    'other {"type":"ping"}',
    'refunds {"type":"refund"}',
    'users {"type":"login"}',
  ]);
});

test('batch-to-http.ts: 1 000 events in 10 POSTs', async () => {
  const result = await runExample('batch-to-http');
  expect(result.status).toBe(0);
  expect(result.stdout.trim()).toBe('1000 events in 10 POSTs');
});

test('fallback-to-file.ts: what the webhook cannot take goes to the spool file', async () => {
  const spool = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'spool-')), 'spool.jsonl');
  const result = await runExample('fallback-to-file', { SPOOL: spool, WEBHOOK: `http://127.0.0.1:${await freePort()}/hook` }, 'a\nb\n');
  expect(result.status).toBe(0);
  const bodies = envelopeBodies(fs.readFileSync(spool, 'utf8'));
  // each line retried on its own (backoff with jitter) before it falls back: the spool's order is not promised
  expect(bodies.sort()).toEqual(['a', 'b']);
  fs.rmSync(path.dirname(spool), { recursive: true, force: true });
});

test('docs/operators.md shows the examples word for word', () => {
  const page = fs.readFileSync(path.join(root, 'docs/operators.md'), 'utf8');
  for (const name of ['merge-two-sources', 'route-by-type', 'batch-to-http', 'fallback-to-file']) {
    const example = fs.readFileSync(path.join(root, 'examples/typescript', `${name}.ts`), 'utf8');
    expect(page).toContain('```ts\n' + example + '```');
  }
});
