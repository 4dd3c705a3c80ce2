// The shell examples of docs/connectors/http.md run as written: each server block (with `./wasm-pipes` pointed at
// the build) in the background, then its client block, in a private network namespace (they use port 9000).
import fs from 'node:fs';
import path from 'node:path';
import { runServerAndClient, type ExampleRun } from '../helpers/docExamples';

const root = path.resolve(__dirname, '../..');
const page = fs.readFileSync(path.join(root, 'docs/connectors/http.md'), 'utf8');
const bin = path.join(root, 'dist/bin/wasm-pipes.js');

/** Runs `server` in the background, waits for the bin to start, runs `client`, stops the bin; prints EXIT <code>. */
function runPair(server: string, client: string): ExampleRun {
  return runServerAndClient(server, client, `node ${JSON.stringify(bin)}`);
}

describe('docs/connectors/http.md', () => {
  const section = page.slice(page.indexOf('### Webhooks with authentication'), page.indexOf('### What a sender'));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]);

  test('has a server block and a client block for the token and for the HMAC signature', () => {
    expect(blocks).toHaveLength(4);
    expect(blocks[0]).toContain('HTTP_SOURCE_TOKEN=s3cret ./wasm-pipes');
    expect(blocks[2]).toContain('HTTP_SOURCE_HMAC_SECRET=hmac-key ./wasm-pipes');
  });

  test.each([
    ['bearer token', 0, 'HTTP auth bearer token', 's3cret'],
    ['HMAC signature', 2, 'HTTP auth HMAC signature', 'hmac-key'],
  ])('the %s example runs as written', (_name, server, summary, secret) => {
    const { stdout, out, err } = runPair(blocks[server], blocks[server + 1]);
    expect(stdout).toContain('{"status":"ok"}');
    expect(stdout).toContain('EXIT 0');
    expect(JSON.parse(out.trim())).toMatchObject({ body: '{"a":1}' });
    expect(err).toContain(summary);
    expect(err).not.toContain(secret);
  });
});
