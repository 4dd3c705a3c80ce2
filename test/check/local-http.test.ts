// `wasm-pipes check` for the configuration itself (variables, modules, several problems at once, --offline, .env) and
// for the connectors that need no broker: the local schemes (file://, stdin://, stdout://) and HTTP (a port to listen
// on; a server that answers OPTIONS, or HEAD where OPTIONS is refused).
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { runCheck } from './helpers';
import { freePort } from '../helpers/wait';
import { closeServer } from '../helpers/servers';

const ROOT = path.resolve(__dirname, '../..');
const UPPERCASE = path.join(ROOT, 'examples/uppercase/uppercase.wasm');

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-check-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('wasm-pipes check: the configuration', () => {
  test('a good configuration: exit 0, one line per endpoint and one for the modules, nothing on stderr', async () => {
    const input = path.join(dir, 'in.jsonl');
    fs.writeFileSync(input, '{"body":"a"}\n');
    const digest = createHash('sha256').update(fs.readFileSync(UPPERCASE)).digest('hex');
    const run = await runCheck({
      SOURCE_URI: `file://${input}`,
      SINK_URI: `file://${path.join(dir, 'out.jsonl')},stdout://`,
      DEAD_LETTER_URI: `file://${path.join(dir, 'dead.jsonl')}`,
      WASM_MODULE: UPPERCASE,
      WASM_SHA256: digest,
    });
    expect(run.problems).toEqual([]);
    expect(run.status).toBe(0);
    expect(run.ok).toEqual([
      expect.stringMatching(/^ok {2}WASM_MODULE +uppercase\.wasm {2}loaded: /),
      expect.stringMatching(new RegExp(`^ok {2}SOURCE_URI +file://${input} {2}a readable file of 13 bytes$`)),
      expect.stringMatching(/^ok {2}SINK_URI +file:\/\/.*out\.jsonl {2}a new file in a writable directory$/),
      expect.stringMatching(/^ok {2}SINK_URI +stdout:\/\/ {2}standard output$/),
      expect.stringMatching(/^ok {2}DEAD_LETTER_URI +file:\/\/.*dead\.jsonl {2}a new file in a writable directory$/),
    ]);
    // nothing was written: check opens no sink for writing
    expect(fs.readdirSync(dir)).toEqual(['in.jsonl']);
  });

  test('every problem at once, one line each with its fix: bad variables, a module that fails its pin, a missing file, a missing directory', async () => {
    const run = await runCheck({
      SOURCE_URI: `file://${path.join(dir, 'missing.jsonl')}`,
      SINK_URI: `file://${path.join(dir, 'no/such/dir/out.jsonl')}`,
      MAX_IN_FLIGHT: 'lots',
      WASM_MODULE: UPPERCASE,
      WASM_SHA256: '0'.repeat(64),
      OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
    });
    expect(run.status).toBe(2);
    expect(run.problems).toEqual(
      expect.arrayContaining([
        "wasm-pipes check: MAX_IN_FLIGHT: 'lots' is not a whole number 1 or more, written in digits (for example 1024)",
        expect.stringMatching(/^wasm-pipes check: WASM_SHA256: .*uppercase\.wasm/),
        expect.stringMatching(/^wasm-pipes check: OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' is not an http\(s\):\/\/ URL/),
        expect.stringMatching(
          /^wasm-pipes check: SOURCE_URI file:\/\/.*missing\.jsonl: reading .*missing\.jsonl does not exist; give the path of an existing JSON-lines file/,
        ),
        expect.stringMatching(
          /^wasm-pipes check: SINK_URI file:\/\/.*out\.jsonl: the directory .*no\/such\/dir does not exist for writing; create it/,
        ),
      ]),
    );
    expect(run.problems).toHaveLength(5);
  });

  test('--offline validates everything but connects nothing; the .env of the working directory is read', async () => {
    fs.writeFileSync(
      path.join(dir, '.env'),
      'SOURCE_URI=nats://orders.created?stream=ORDERS&consumer=relay\nNATS_SERVER_URL=127.0.0.1:1\n',
    );
    const offline = await runCheck(
      { SINK_URI: 'rabbit://?routing_key=audit', RABBIT_SERVER_URL: 'amqp://guest:guest@127.0.0.1:1/' },
      ['--offline'],
      dir,
    );
    expect(offline.problems).toEqual([]);
    expect(offline.status).toBe(0);
    expect(offline.ok).toEqual([
      'ok  SOURCE_URI      nats://orders.created?stream=ORDERS&consumer=relay  valid (not connected: --offline)',
      'ok  SINK_URI        rabbit://?routing_key=audit  valid (not connected: --offline)',
    ]);
    // the same, connecting: both endpoints are out of reach
    const online = await runCheck(
      { SINK_URI: 'rabbit://?routing_key=audit', RABBIT_SERVER_URL: 'amqp://guest:guest@127.0.0.1:1/' },
      [],
      dir,
    );
    expect(online.status).toBe(2);
    expect(online.problems).toEqual([
      expect.stringMatching(
        /^wasm-pipes check: SOURCE_URI nats:\/\/orders\.created\?stream=ORDERS&consumer=relay: cannot connect to NATS at 127\.0\.0\.1:1 .*fix NATS_SERVER_URL$/,
      ),
      expect.stringMatching(
        /^wasm-pipes check: SINK_URI rabbit:\/\/\?routing_key=audit: cannot connect to RabbitMQ at 127\.0\.0\.1:1 .*fix RABBIT_SERVER_URL$/,
      ),
    ]);
  });

  test('an unknown argument is a usage error', async () => {
    const run = await runCheck({}, ['--online']);
    expect(run.status).toBe(2);
    expect(run.problems).toEqual(["wasm-pipes check: unknown argument '--online'; usage: wasm-pipes check [--offline]"]);
  });

  test('a secret in a URI is not printed', async () => {
    const run = await runCheck({ SOURCE_URI: 'stdin://', SINK_URI: 'http://user:s3cret-pass@127.0.0.1:1/hook' });
    expect(run.status).toBe(2);
    expect(run.problems.join('\n')).not.toContain('s3cret-pass');
    expect(run.problems[0]).toMatch(
      /^wasm-pipes check: SINK_URI http:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:1\/hook: nothing listens at 127\.0\.0\.1:1/,
    );
  });
});

describe('wasm-pipes check: HTTP', () => {
  let server: http.Server;
  let base: string;
  beforeAll(async () => {
    server = http.createServer((request, response) => {
      if (request.url === '/hook' && request.headers.authorization === `Basic ${Buffer.from('relay:pw').toString('base64')}`) {
        // a webhook that takes POST only: 405 to OPTIONS and HEAD still proves it is there
        response.writeHead(405, { allow: 'POST' }).end();
      } else if (request.url === '/hook') response.writeHead(401).end();
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await closeServer(server);
  });

  test('a free port for the source, a sink the server answers for: exit 0', async () => {
    const port = await freePort();
    const run = await runCheck({ SOURCE_URI: `http://127.0.0.1:${port}/events`, SINK_URI: `http://relay:pw@${base.slice(7)}/hook` });
    expect(run.problems).toEqual([]);
    expect(run.status).toBe(0);
    expect(run.ok).toEqual([
      `ok  SOURCE_URI      http://127.0.0.1:${port}/events  127.0.0.1:${port} can be listened on, requests to /events`,
      `ok  SINK_URI        http://***:***@${base.slice(7)}/hook  the server answers HEAD with 405 (the endpoint is there; POST is what the sink sends)`,
    ]);
  });

  test('a port in use, a path the server does not have, refused credentials, nothing listening: exit 2, a line each', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const run = await runCheck({
        SOURCE_URI: `http://127.0.0.1:${port}/events`,
        SINK_URI: `${base}/nowhere,${base}/hook,http://127.0.0.1:1/hook`,
      });
      expect(run.status).toBe(2);
      expect(run.problems).toEqual([
        `wasm-pipes check: SOURCE_URI http://127.0.0.1:${port}/events: port ${port} on 127.0.0.1 is in use (another wasm-pipes?); stop what holds it, or choose another port in the URI`,
        `wasm-pipes check: SINK_URI ${base}/nowhere: the server has nothing at /nowhere (404); fix the path`,
        `wasm-pipes check: SINK_URI ${base}/hook: the server refuses requests without credentials (401); give user:password@ in the URI, or ask for access`,
        'wasm-pipes check: SINK_URI http://127.0.0.1:1/hook: nothing listens at 127.0.0.1:1; start the server, or fix the host and port',
      ]);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
