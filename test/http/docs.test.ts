// The shell examples of docs/connectors/http.md run as written: each server block (with `./wasm-pipes` pointed at
// the build) in the background, then its client block, in a private network namespace (they use port 9000).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const page = fs.readFileSync(path.join(root, 'docs/connectors/http.md'), 'utf8');
const bin = path.join(root, 'dist/bin/wasm-pipes.js');

/** Runs `server` in the background, waits for the bin to start, runs `client`, stops the bin; prints EXIT <code>. */
function runPair(server: string, client: string): { stdout: string; out: string; err: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-http-doc-'));
  const script = [
    'set -u',
    'ip link set lo up',
    `cd ${JSON.stringify(dir)}`,
    server.trim().replace('./wasm-pipes', `node ${JSON.stringify(bin)} >out.txt 2>err.txt &`),
    'pid=$!',
    "for _ in $(seq 1 100); do grep -q 'wasm-pipes started' err.txt 2>/dev/null && break; sleep 0.1; done",
    client,
    'echo',
    'kill -TERM "$pid"; wait "$pid"; echo "EXIT $?"',
  ].join('\n');
  const result = spawnSync('unshare', ['--net', 'bash', '-c', script], { encoding: 'utf8', timeout: 30_000 });
  const out = fs.readFileSync(path.join(dir, 'out.txt'), 'utf8');
  const err = fs.readFileSync(path.join(dir, 'err.txt'), 'utf8');
  fs.rmSync(dir, { recursive: true, force: true });
  return { stdout: result.stdout, out, err };
}

describe('docs/connectors/http.md', () => {
  const section = page.slice(page.indexOf('### Webhooks with authentication'), page.indexOf('### What a sender'));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]);

  test('has a server block and a client block for the token and for the HMAC signature', () => {
    expect(blocks).toHaveLength(4);
    expect(blocks[0]).toContain('HTTP_SOURCE_TOKEN=s3cret ./wasm-pipes');
    expect(blocks[2]).toContain('HTTP_SOURCE_HMAC_SECRET=hmac-key ./wasm-pipes');
  });

  test('the bearer token example runs as written', () => {
    const { stdout, out, err } = runPair(blocks[0], blocks[1]);
    expect(stdout).toContain('{"status":"ok"}');
    expect(stdout).toContain('EXIT 0');
    expect(JSON.parse(out.trim())).toMatchObject({ body: '{"a":1}' });
    expect(err).toContain('HTTP auth bearer token');
    expect(err).not.toContain('s3cret');
  });

  test('the HMAC signature example runs as written', () => {
    const { stdout, out, err } = runPair(blocks[2], blocks[3]);
    expect(stdout).toContain('{"status":"ok"}');
    expect(stdout).toContain('EXIT 0');
    expect(JSON.parse(out.trim())).toMatchObject({ body: '{"a":1}' });
    expect(err).toContain('HTTP auth HMAC signature');
    expect(err).not.toContain('hmac-key');
  });
});
