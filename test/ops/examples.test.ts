// The examples of docs/operating.md and docs/security.md run as written: the embedding example (the file, word for word)
// and the HTTPS webhook with a token and an HMAC signature (the shell blocks, with the bin's command pointed at the build).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, waitFor } from '../helpers/wait';
import { runServerAndClient } from '../helpers/docExamples';
import { captureOutput, envelopeBodies } from '../helpers/bin';
import { parseProm, sampleValue } from './helpers';

const root = path.resolve(__dirname, '../..');
const fragment = fs.readFileSync(path.join(root, 'docs/operating.md'), 'utf8');
// the webhook example moved to the security page when the README was split into docs/
const security = fs.readFileSync(path.join(root, 'docs/security.md'), 'utf8');

describe('the examples of "Operating it"', () => {
  test('health-and-metrics.ts is in the fragment word for word, serves /ready and /metrics, and prints the stages as shown', async () => {
    const example = fs.readFileSync(path.join(root, 'examples/typescript/health-and-metrics.ts'), 'utf8');
    expect(fragment).toContain('```ts\n' + example + '```');
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(root, 'dist/examples/typescript/health-and-metrics.js')], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ADMIN_PORT: String(port) },
    });
    const output = captureOutput(child);
    try {
      await waitFor(() => output.stderr.includes('admin server listening'), 'the admin server');
      child.stdin.write('a\n# note\n');
      await waitFor(() => output.stdout.includes('"a"'), 'the first message');
      expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200);
      const samples = parseProm(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      expect(sampleValue(samples, 'wasm_pipes_messages_dropped_total', { stage: 'dropComments' })).toBe(1);
      child.stdin.end('b\n');
      expect(await output.exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(envelopeBodies(output.stdout)).toEqual(['a', 'b']);
    const shown = /prints the two messages on stdout, then on stderr:\n\n```\n([\s\S]*?)```/.exec(fragment)?.[1] ?? '';
    for (const line of shown.trim().split('\n')) expect(output.stderr).toContain(line);
  });

  test('the HTTPS webhook with a token and an HMAC signature runs as written', () => {
    const section = security.slice(security.indexOf('A webhook over HTTPS'));
    const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]);
    expect(blocks).toHaveLength(2);
    expect(blocks[0]).toContain('./wasm-pipes');
    // the example listens on :9443 on every interface: a private network namespace keeps it to this test
    const client = [
      blocks[1],
      'echo',
      "curl -s --cacert cert.pem -H 'Authorization: Bearer s3cret' -H 'X-Signature-256: sha256=00' -d \"$body\" https://localhost:9443/events",
    ].join('\n');
    const { stdout, out, err } = runServerAndClient(blocks[0], client, JSON.stringify(path.join(root, 'wasm-pipes')));
    expect(stdout).toContain('{"status":"ok"}');
    expect(stdout).toContain('{"error":"missing or wrong X-Signature-256 (sha256=<hex HMAC of the body>)"}');
    expect(stdout).toContain('EXIT 0');
    expect(JSON.parse(out.trim())).toMatchObject({ body: '{"event_type":"push"}', metadata: { 'content-type': 'application/json' } });
    expect(err).toContain('HTTP auth bearer token + HMAC signature');
    expect(err).not.toContain('s3cret');
    expect(err).not.toContain('hmac-key');
  });
});
