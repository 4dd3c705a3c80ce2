// No secret in any output of the bin, at the most verbose level: every log line on stderr, the data on stdout, and
// the admin server's answers, while the secrets are in use (authenticated webhook, a sink URI with a password that
// fails and is retried, a Redis cache with a password, a dead letter with a token).
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { freePort, uniqueName, waitFor } from '../helpers/wait';
import { binEnv, captureOutput } from '../helpers/bin';
import { SECRET_ENV, SECRET_VALUES } from './helpers';
import { Redactor } from '../../lib/security/redact';

const BIN = path.resolve(__dirname, '../../dist/bin/wasm-pipes.js');
// no admin server unless a test sets ADMIN_PORT (see binEnv)
const BASE_ENV = binEnv();
const SINK_PASSWORD = 'sinkpw-e81f0a';

function expectNoSecret(text: string, secrets: readonly string[]): void {
  for (const secret of secrets) {
    expect(text).not.toContain(secret);
    expect(text).not.toContain(encodeURIComponent(secret));
  }
}

describe('secret redaction in the bin', () => {
  test('LOG_LEVEL=trace: no secret in any log line, in stdout, in /metrics or in /ready', async () => {
    // the webhook the sink posts to: refuses the first attempt (so the retry is logged with its error), then accepts
    let calls = 0;
    const hook = http.createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        calls++;
        response.writeHead(calls === 1 ? 503 : 200).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const hookPort = (hook.address() as AddressInfo).port;
    const [port, adminPort] = [await freePort(), await freePort()];
    const deadFile = path.join(os.tmpdir(), `${uniqueName('dead')}.jsonl`);
    const env = {
      ...BASE_ENV,
      ...SECRET_ENV,
      DEAD_LETTER_URI: `file://${deadFile}?token=dltok-0a1b2c`,
      SOURCE_URI: `http://127.0.0.1:${port}/events`,
      SINK_URI: `http://hookuser:${SINK_PASSWORD}@127.0.0.1:${hookPort}/hook`,
      ADMIN_PORT: String(adminPort),
      STATS_INTERVAL: '100ms',
      LOG_LEVEL: 'trace',
      LOG_FORMAT: 'json',
    };
    const child = spawn(process.execPath, [BIN], { env, cwd: os.tmpdir() });
    const output = captureOutput(child);
    try {
      await waitFor(() => output.stderr.includes('wasm-pipes started'), 'the bin to start', 15_000);
      const url = `http://127.0.0.1:${port}/events`;
      const body = '{"order":1}';
      const signature = `sha256=${createHmac('sha256', SECRET_ENV.HTTP_SOURCE_HMAC_SECRET).update(body).digest('hex')}`;
      const good = await fetch(url, {
        method: 'POST',
        body,
        headers: { authorization: `Bearer ${SECRET_ENV.HTTP_SOURCE_TOKEN}`, 'x-signature-256': signature },
      });
      expect(good.status).toBe(200);
      const wrongToken = await fetch(url, {
        method: 'POST',
        body,
        headers: { authorization: 'Bearer nope', 'x-signature-256': signature },
      });
      expect(wrongToken.status).toBe(401);
      const wrongSignature = await fetch(url, {
        method: 'POST',
        body,
        headers: { authorization: `Bearer ${SECRET_ENV.HTTP_SOURCE_TOKEN}`, 'x-signature-256': 'sha256=00' },
      });
      expect(wrongSignature.status).toBe(401);
      const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      const ready = await (await fetch(`http://127.0.0.1:${adminPort}/ready`)).text();
      await waitFor(() => output.stderr.includes('"msg":"stats: in'), 'a stats line');
      child.kill('SIGTERM');
      expect(await output.exited).toBe(0);

      const everything = [output.stderr, output.stdout, metrics, ready].join('\n');
      expectNoSecret(everything, [...SECRET_VALUES, SINK_PASSWORD]);
      // the secrets were in play, and what carries them was logged, masked
      expect(calls).toBe(2);
      expect(output.stderr).toContain(`"sink":"http://***:***@127.0.0.1:${hookPort}/hook"`);
      expect(output.stderr).toContain('write failed; retrying');
      expect(metrics).toContain(`stage="http://***:***@127.0.0.1:${hookPort}/hook"`);
      expect(ready).toContain(`file://${deadFile}?token=***`);
      const summary = output.stderr.split('\n').find((line) => line.includes('"msg":"pipeline: ')) ?? '';
      expect(JSON.parse(summary).pipeline).toMatchObject({
        httpSourceAuth: 'bearer token + HMAC signature',
        cache: 'redis://:***@127.0.0.1:6379/0',
        deadLetter: `file://${deadFile}?token=***`,
      });
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      hook.close();
      fs.rmSync(deadFile, { force: true });
    }
  });

  test('webhook credentials in sink URIs (?code=, ?key=, a Slack-style path, TOKEN@, sk_live:@) never reach /metrics, /ready or the start-up line', async () => {
    // every sink posts to this server, which checks that the real URIs were used
    const seen: string[] = [];
    const hook = http.createServer((request, response) => {
      seen.push(request.url ?? '');
      request.resume();
      request.on('end', () => response.writeHead(200).end());
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const at = `127.0.0.1:${(hook.address() as AddressInfo).port}`;
    const secrets = [
      'azfn-code-7Q2xY9',
      'AIzaSyGchatKey42',
      'slackTok9Zx81Lm3Qp',
      'T0A1B2C3D',
      'B0E4F5G6H',
      'ghp-usertoken-55aa',
      'sk_live_51Hx9Zt',
    ];
    const sinks = [
      `http://${at}/api/orders?code=${secrets[0]}`,
      `http://${at}/v1/spaces/chat/messages?key=${secrets[1]}`,
      `http://${at}/services/${secrets[3]}/${secrets[4]}/${secrets[2]}`,
      `http://${secrets[5]}@${at}/hook`,
      `http://${secrets[6]}:@${at}/charges`,
    ];
    const [adminPort] = [await freePort()];
    const adminToken = 'redaction-admin-token-0c7d';
    const child = spawn(process.execPath, [BIN], {
      env: {
        ...BASE_ENV,
        SOURCE_URI: 'stdin://',
        SINK_URI: sinks.join(','),
        ADMIN_PORT: String(adminPort),
        ADMIN_TOKEN: adminToken,
        LOG_LEVEL: 'trace',
        LOG_FORMAT: 'json',
      },
      cwd: os.tmpdir(),
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await waitFor(() => stderr.includes('wasm-pipes started'), 'the bin to start', 15_000);
      child.stdin.write('{"order":1}\n');
      await waitFor(() => seen.length === sinks.length, 'a request to every sink');
      const authorization = { authorization: `Bearer ${adminToken}` };
      const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: authorization })).text();
      const ready = await (await fetch(`http://127.0.0.1:${adminPort}/ready`, { headers: authorization })).text();
      child.stdin.end();
      expect(await exited).toBe(0);

      // the sinks used the real URIs
      expect(seen).toEqual(
        expect.arrayContaining([`/api/orders?code=${secrets[0]}`, `/services/${secrets[3]}/${secrets[4]}/${secrets[2]}`]),
      );
      expectNoSecret([stderr, metrics, ready].join('\n'), secrets);
      const masked = [
        `http://${at}/api/orders?code=***`,
        `http://${at}/v1/spaces/chat/messages?key=***`,
        `http://${at}/services/***`,
        `http://***@${at}/hook`,
        `http://***:@${at}/charges`,
      ];
      for (const name of masked) {
        expect(metrics).toContain(`stage="${name}"`);
        expect(ready).toContain(`"name":"${name}"`);
      }
      const summary = stderr.split('\n').find((line) => line.includes('"msg":"pipeline: ')) ?? '';
      expect(JSON.parse(summary).pipeline.sinks).toEqual(masked);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      hook.close();
    }
  });

  test('a configuration error that quotes a URI with a password prints it masked', () => {
    const result = spawnSync(process.execPath, [BIN], {
      env: { ...BASE_ENV, SINK_URI: 'http://user:cfgpw-5566@[not-a-host/x', NATS_TOKEN: 'cfgtok-7788' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('SINK_URI:');
    expect(result.stderr).toContain('http://***:***@[not-a-host/x');
    expectNoSecret(result.stderr, ['cfgpw-5566']);
  });
});

test('a URI in free text ends before the punctuation that follows it', () => {
  const redactor = new Redactor([]);
  expect(redactor.redact('from https://h/downgrade.wasm to http://h:1/final.wasm: it would fetch it.')).toBe(
    'from https://h/downgrade.wasm to http://h:1/final.wasm: it would fetch it.',
  );
  expect(redactor.redact('see https://hooks.slack.com/services/T000/B000/XXXX.')).toBe('see https://hooks.slack.com/services/***.');
});
