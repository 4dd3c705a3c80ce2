// The built bin as an operator runs it: health checks and metrics over the admin server, the stats line, the start-up
// summary, log settings, TLS for the HTTP source and the admin server, and start-up errors.
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Agent, fetch } from 'undici';
import { startAdmin } from '../../bin/cli';
import { createLogger } from '../../lib/logging/logger';
import { type pipelineReadiness } from '../../lib/admin/server';
import { freePort, uniqueName, waitFor } from '../helpers/wait';
import { binEnv, logRecords } from '../helpers/bin';
import { parseProm, sampleValue, LineCapture } from './helpers';
import { selfSignedCertificate } from '../helpers/tls';

const BIN = path.resolve(__dirname, '../../dist/bin/wasm-pipes.js');
// no admin server unless a test sets ADMIN_PORT (see binEnv)
const BASE_ENV = binEnv();

interface RunningBin {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
}

function spawnBin(env: Record<string, string>): RunningBin {
  let stderr = '';
  const child = spawn(process.execPath, [BIN], { env: { ...BASE_ENV, ...env }, cwd: os.tmpdir() });
  child.stderr?.on('data', (chunk) => (stderr += String(chunk)));
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => stderr, exited };
}

function runBin(env: Record<string, string>): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [BIN], { env: { ...BASE_ENV, ...env }, cwd: os.tmpdir(), encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stderr: result.stderr };
}

describe('the bin in operation', () => {
  let bin: RunningBin | undefined;
  afterEach(async () => {
    if (bin && bin.child.exitCode === null) {
      bin.child.kill('SIGKILL');
      await bin.exited;
    }
    bin = undefined;
  });

  test('a probe gets /ping and /ready, /metrics counts the requests, the stats line shows them, SIGTERM exits 0', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const file = path.join(os.tmpdir(), `${uniqueName('ops-bin')}.jsonl`);
    const sourceUri = `http://127.0.0.1:${port}/events`;
    bin = spawnBin({ SOURCE_URI: sourceUri, SINK_URI: `file://${file}`, ADMIN_PORT: String(adminPort), STATS_INTERVAL: '200ms' });
    const running = bin;
    await waitFor(() => running.stderr().includes('wasm-pipes started'), 'the bin to start');
    // as a Kubernetes httpGet probe would ask
    const probe = (endpoint: string): string =>
      execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${adminPort}${endpoint}`], {
        encoding: 'utf8',
      });
    expect(probe('/ping')).toBe('200');
    expect(probe('/ready')).toBe('200');

    for (let i = 0; i < 20; i++) {
      const response = await fetch(sourceUri, {
        method: 'POST',
        body: JSON.stringify({ i }),
        headers: { 'content-type': 'application/json' },
      });
      expect(response.status).toBe(200);
    }
    const unauthorized = await fetch(sourceUri, { method: 'DELETE' });
    expect(unauthorized.status).toBe(405);
    const samples = parseProm(await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text());
    const sourceLabels = { role: 'source', stage: sourceUri, scheme: 'http' };
    expect(sampleValue(samples, 'wasm_pipes_messages_received_total', sourceLabels)).toBe(20);
    expect(sampleValue(samples, 'wasm_pipes_messages_acked_total', sourceLabels)).toBe(20);
    expect(sampleValue(samples, 'wasm_pipes_errors_total', { ...sourceLabels, kind: 'method_not_allowed' })).toBe(1);
    expect(sampleValue(samples, 'wasm_pipes_message_latency_seconds_count', { ...sourceLabels, outcome: 'ack' })).toBe(20);
    expect(sampleValue(samples, 'wasm_pipes_messages_acked_total', { role: 'sink', stage: `file://${file}` })).toBe(20);
    expect(sampleValue(samples, 'wasm_pipes_ready', { role: 'cache', stage: 'memory://' })).toBe(1);
    expect(samples.some((sample) => sample.name === 'process_resident_memory_bytes')).toBe(true);

    await waitFor(
      () => logRecords(running.stderr()).some((line) => line.msg.startsWith('stats: in') && (line.stats as { acked: number }).acked === 20),
      'a stats line with the 20 acks',
    );
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    const lines = logRecords(running.stderr());
    const summary = lines.filter((line) => line.msg.startsWith('pipeline: '));
    expect(summary).toHaveLength(1);
    expect(summary[0].msg).toContain(`pipeline: ${sourceUri} -> file://${file} [maxInFlight 1024, ackTimeout 2m`);
    expect(summary[0].msg).toContain(`admin http://127.0.0.1:${adminPort}; stats 200ms`);
    expect(summary[0].pipeline).toMatchObject({ source: sourceUri, sinks: [`file://${file}`], httpSourceAuth: 'none', cache: 'memory://' });
    expect(lines.some((line) => line.msg === `admin server listening on http://127.0.0.1:${adminPort} (/ping, /ready, /metrics)`)).toBe(
      true,
    );
    expect(lines.find((line) => line.msg.startsWith('wasm-pipes stopped'))?.msg).toBe(
      'wasm-pipes stopped: received 20, acked 20, nacked 0, dead-lettered 0, written 20',
    );
    fs.rmSync(file, { force: true });
  });

  test('LOG_FORMAT=pretty writes readable lines; ADMIN_PORT=0 turns the admin server off', () => {
    const result = spawnSync(process.execPath, [BIN], {
      env: { ...BASE_ENV, SOURCE_URI: 'stdin://', SINK_URI: 'stdout://', LOG_FORMAT: 'pretty', ADMIN_PORT: '0' },
      input: 'x\n',
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(0);
    const lines = result.stderr.trim().split('\n');
    expect(lines.some((line) => /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: wasm-pipes started$/.test(line))).toBe(true);
    expect(lines.some((line) => line.startsWith('{'))).toBe(false);
    expect(result.stderr).not.toContain('admin server');
    expect(result.stderr).toContain('admin off');
  });

  test('ADMIN_HOST beyond loopback with ADMIN_TOKEN, and the admin server over HTTPS with ADMIN_TLS_CERT and ADMIN_TLS_KEY', async () => {
    const tls = selfSignedCertificate();
    const adminPort = await freePort();
    const token = 'k8s-admin-token-8d2f61';
    bin = spawnBin({
      SOURCE_URI: 'stdin://',
      SINK_URI: 'stdout://',
      ADMIN_PORT: String(adminPort),
      ADMIN_HOST: '0.0.0.0',
      ADMIN_TOKEN: token,
      ADMIN_TLS_CERT: tls.cert,
      ADMIN_TLS_KEY: tls.key,
    });
    const running = bin;
    await waitFor(() => running.stderr().includes('admin server listening'), 'the admin server');
    expect(running.stderr()).toContain(`admin server listening on https://0.0.0.0:${adminPort}`);
    const agent = new Agent({ connect: { ca: fs.readFileSync(tls.cert) } });
    const get = (endpoint: string, headers: Record<string, string> = {}): Promise<number> =>
      fetch(`https://127.0.0.1:${adminPort}${endpoint}`, { dispatcher: agent, headers }).then((response) => response.status);
    expect(await get('/ping')).toBe(200);
    expect(await get('/metrics')).toBe(401);
    expect(await get('/metrics', { authorization: `Bearer ${token}` })).toBe(200);
    await agent.close();
    expect(running.stderr()).not.toContain(token);
    expect(running.stderr()).toContain(`admin https://0.0.0.0:${adminPort} (token)`);
    running.child.stdin?.end();
    expect(await running.exited).toBe(0);
    fs.rmSync(tls.dir, { recursive: true, force: true });
  });

  test('an https:// source serves TLS with HTTP_TLS_CERT and HTTP_TLS_KEY', async () => {
    const tls = selfSignedCertificate();
    const port = await freePort();
    bin = spawnBin({
      SOURCE_URI: `https://127.0.0.1:${port}/events`,
      SINK_URI: 'stdout://',
      ADMIN_PORT: '0',
      HTTP_TLS_CERT: tls.cert,
      HTTP_TLS_KEY: tls.key,
    });
    const running = bin;
    let stdout = '';
    running.child.stdout?.on('data', (chunk) => (stdout += String(chunk)));
    await waitFor(() => running.stderr().includes('wasm-pipes started'), 'the bin to start');
    const agent = new Agent({ connect: { ca: fs.readFileSync(tls.cert) } });
    const response = await fetch(`https://127.0.0.1:${port}/events`, { method: 'POST', body: '{"secure":true}', dispatcher: agent });
    expect(response.status).toBe(200);
    await agent.close();
    await waitFor(() => stdout.includes('secure'), 'the message on stdout');
    expect(JSON.parse(stdout.trim()).body).toBe('{"secure":true}');
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    fs.rmSync(tls.dir, { recursive: true, force: true });
  });
});

describe('start-up errors of the operations settings', () => {
  let tls: ReturnType<typeof selfSignedCertificate>;
  beforeAll(() => {
    tls = selfSignedCertificate();
  });
  afterAll(() => fs.rmSync(tls.dir, { recursive: true, force: true }));

  const cases: [string, Record<string, string>, string][] = [
    [
      'a bad LOG_LEVEL',
      { LOG_LEVEL: 'loud' },
      "LOG_LEVEL: 'loud' is not a log level; use one of trace, debug, info, warn, error, fatal, silent",
    ],
    ['a bad LOG_FORMAT', { LOG_FORMAT: 'yaml' }, "LOG_FORMAT: 'yaml' is not a log format; use json or pretty"],
    ['a bad STATS_INTERVAL', { STATS_INTERVAL: 'often' }, "STATS_INTERVAL: 'often' is not a duration"],
    ['an ADMIN_PORT out of range', { ADMIN_PORT: '70000' }, "ADMIN_PORT: '70000' is not a whole number between 0 and 65535"],
    // the host is read only when the admin server is on; the start stops before anything listens on the port
    ['a garbled ADMIN_HOST', { ADMIN_HOST: 'local host', ADMIN_PORT: '4196' }, "ADMIN_HOST: 'local host' is not a host name or address"],
    ['a certificate without its key', { ADMIN_TLS_CERT: '/x/cert.pem' }, 'ADMIN_TLS_KEY: TLS needs both ADMIN_TLS_CERT and ADMIN_TLS_KEY'],
    [
      'an ADMIN_HOST beyond loopback without ADMIN_TOKEN',
      { ADMIN_HOST: '0.0.0.0', ADMIN_PORT: '4196' },
      'ADMIN_HOST: 0.0.0.0 serves /metrics and /ready beyond this machine; set ADMIN_TOKEN to a long random value',
    ],
    ['a short ADMIN_TOKEN', { ADMIN_TOKEN: 'short' }, 'ADMIN_TOKEN: is 5 characters long; use 16 or more random ones'],
  ];
  for (const [what, env, message] of cases) {
    test(`${what} exits 2 with one line naming the variable`, () => {
      const result = runBin({ SOURCE_URI: 'stdin://', ...env });
      expect(result.status).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    });
  }

  test('ADMIN_ANONYMOUS=true serves the admin server beyond loopback without a token, on purpose', async () => {
    const adminPort = await freePort();
    const bin = spawnBin({
      SOURCE_URI: 'stdin://',
      SINK_URI: 'stdout://',
      ADMIN_PORT: String(adminPort),
      ADMIN_HOST: '0.0.0.0',
      ADMIN_ANONYMOUS: 'true',
    });
    try {
      await waitFor(() => bin.stderr().includes('wasm-pipes started'), 'the bin to start');
      expect((await fetch(`http://127.0.0.1:${adminPort}/metrics`)).status).toBe(200);
      bin.child.stdin?.end();
      expect(await bin.exited).toBe(0);
    } finally {
      if (bin.child.exitCode === null) bin.child.kill('SIGKILL');
    }
  });

  test('TLS files set for an http:// source exit 2 rather than serve plain HTTP', () => {
    const result = runBin({ SOURCE_URI: 'http://127.0.0.1:1/events', HTTP_TLS_CERT: tls.cert, HTTP_TLS_KEY: tls.key });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('SOURCE_URI: HTTP_TLS_CERT and HTTP_TLS_KEY are set but the source is http://; write it https://');
  });

  test('a key that does not belong to the certificate exits 2 naming HTTP_TLS_KEY', () => {
    const result = runBin({ SOURCE_URI: 'https://127.0.0.1:1/events', HTTP_TLS_CERT: tls.cert, HTTP_TLS_KEY: tls.otherKey });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('HTTP_TLS_KEY: the certificate and key are not a valid PEM pair');
  });

  test('an unreadable certificate exits 2 naming the file and the variable', () => {
    const result = runBin({ SOURCE_URI: 'stdin://', ADMIN_TLS_CERT: '/nonexistent/cert.pem', ADMIN_TLS_KEY: tls.key });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("ADMIN_TLS_CERT: cannot read '/nonexistent/cert.pem'");
  });

  test('an ADMIN_PORT that is in use stops the start with exit 1 and says how to fix it', async () => {
    const port = await freePort();
    const blocker = net.createServer().listen(port, '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    const result = spawnSync(process.execPath, [BIN], {
      env: { ...BASE_ENV, SOURCE_URI: 'stdin://', ADMIN_PORT: String(port) },
      input: '',
      encoding: 'utf8',
      timeout: 20_000,
    });
    blocker.close();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`port ${port} is already in use; set ADMIN_PORT to a free port`);
  });

  test('the default admin port in use (another wasm-pipes) is a warning, not a failure', async () => {
    const port = await freePort();
    const blocker = net.createServer().listen(port, '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    const out = new LineCapture();
    const logger = createLogger({ format: 'json', destination: out, env: {} });
    const readiness = (): ReturnType<typeof pipelineReadiness> => ({ ready: true, state: 'running', notReady: [], checks: [] });
    try {
      const admin = await startAdmin({ port, host: '127.0.0.1', explicit: false }, readiness, logger);
      expect(admin).toBeUndefined();
      expect(out.json()[0]).toMatchObject({ level: 40, msg: expect.stringContaining(`admin server not started: port ${port} is in use`) });
      await expect(startAdmin({ port, host: '127.0.0.1', explicit: true }, readiness, logger)).rejects.toThrow('already in use');
    } finally {
      blocker.close();
    }
  });
});
