// Configuration of the nats:// and rabbit:// connectors: NATS_SERVER_URL and the credentials variables, URI checks
// that fail at start-up with a ConfigError naming the variable and a valid example, and unknown-parameter warnings.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseNatsServers, natsConnectionOptions } from '../../lib/connectors/nats/servers';
import { source, sink } from '../../lib/endpoints';
import { BIN, binEnv } from '../helpers/bin';
import { capturingLogger, freePort } from '../helpers/wait';
import { configError } from '../helpers/configError';

describe('NATS_SERVER_URL', () => {
  test("the seed README's form without a scheme, and comma-separated lists of URLs", () => {
    expect(parseNatsServers('0.0.0.0:4222').map((entry) => entry.hostPort)).toEqual(['127.0.0.1:4222']);
    expect(parseNatsServers('[::]:4222').map((entry) => entry.hostPort)).toEqual(['[::1]:4222']);
    expect(parseNatsServers(' nats://a.example:4223 , b.example ,tls://c.example:80').map((entry) => [entry.hostPort, entry.tls])).toEqual([
      ['a.example:4223', false],
      ['b.example:4222', false],
      ['c.example:80', true],
    ]);
    expect(parseNatsServers('[::1]:4222')[0].hostPort).toBe('[::1]:4222');
  });

  test('credentials in a URL: user:password@ or token@', () => {
    expect(parseNatsServers('nats://relay:s%40cret@h:4222')[0]).toMatchObject({ user: 'relay', pass: 's@cret', hostPort: 'h:4222' });
    expect(parseNatsServers('nats://t0ken@h')[0]).toMatchObject({ token: 't0ken' });
    const options = natsConnectionOptions({ NATS_SERVER_URL: 'nats://relay:pw@h:1' });
    expect(options).toMatchObject({ user: 'relay', pass: 'pw', servers: ['h:1'] });
  });

  test('a wrong scheme, a bad port or an empty list name the variable and show valid values', () => {
    for (const value of ['http://h:4222', 'h:99999', ' , ', 'nats://h:4222/path']) {
      const error = configError(() => parseNatsServers(value));
      expect(error.message).toContain('NATS_SERVER_URL');
      expect(error.message).toContain('127.0.0.1:4222');
    }
  });

  test('defaults to 127.0.0.1:4222 and reconnects forever', () => {
    expect(natsConnectionOptions({})).toMatchObject({ servers: ['127.0.0.1:4222'], reconnect: true, maxReconnectAttempts: -1 });
  });
});

describe('NATS credentials', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-creds-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('NATS_USER and NATS_PASSWORD go together', () => {
    expect(natsConnectionOptions({ NATS_USER: 'relay', NATS_PASSWORD: 'pw' })).toMatchObject({ user: 'relay', pass: 'pw' });
    expect(configError(() => natsConnectionOptions({ NATS_USER: 'relay' })).message).toContain('NATS_PASSWORD');
    expect(configError(() => natsConnectionOptions({ NATS_PASSWORD: 'pw' })).message).toContain('NATS_USER');
  });

  test('one way to authenticate at a time', () => {
    const error = configError(() => natsConnectionOptions({ NATS_USER: 'relay', NATS_PASSWORD: 'pw', NATS_TOKEN: 't' }));
    expect(error.message).toContain('NATS_USER and NATS_TOKEN');
  });

  test('NATS_TOKEN', () => {
    expect(natsConnectionOptions({ NATS_TOKEN: 's3cret' })).toMatchObject({ token: 's3cret' });
  });

  test('NATS_CREDS must be a readable creds file', () => {
    expect(configError(() => natsConnectionOptions({ NATS_CREDS: path.join(dir, 'missing.creds') })).message).toContain('cannot read');
    const wrong = path.join(dir, 'wrong.creds');
    fs.writeFileSync(wrong, 'not a creds file');
    expect(configError(() => natsConnectionOptions({ NATS_CREDS: wrong })).message).toContain('not a NATS creds file');
    const creds = path.join(dir, 'user.creds');
    fs.writeFileSync(
      creds,
      '-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJqd3QifQ.e30.sig\n------END NATS USER JWT------\n\n' +
        '-----BEGIN USER NKEY SEED-----\nSUAAVWRZG6M5FQ5TK2BPGAHVQOWTJHXGDKIYNRKHZ3B6PQGGE3OVSNNZNE\n------END USER NKEY SEED------\n',
    );
    expect(typeof natsConnectionOptions({ NATS_CREDS: creds }).authenticator).toBe('function');
  });

  test('TLS: tls:// or NATS_TLS_CA turn it on; a client certificate needs its key', () => {
    expect(natsConnectionOptions({ NATS_SERVER_URL: 'tls://h:4222' }).tls).toEqual({});
    const ca = path.join(dir, 'ca.pem');
    fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    expect(natsConnectionOptions({ NATS_TLS_CA: ca }).tls?.ca).toContain('BEGIN CERTIFICATE');
    expect(configError(() => natsConnectionOptions({ NATS_TLS_CERT: ca })).message).toContain('NATS_TLS_KEY');
  });
});

describe('nats:// URIs', () => {
  test('a subject is required, and must be valid', () => {
    expect(configError(() => source('nats://', { variable: 'SOURCE_URI' })).message).toMatch(/^SOURCE_URI: a NATS URI needs a subject/);
    expect(configError(() => sink('nats://a..b', { variable: 'SINK_URI' })).message).toContain("'a..b' is not a valid subject");
    expect(configError(() => source('nats://a.b*', { variable: 'SOURCE_URI' })).message).toContain('whole tokens');
  });

  test('a source may use wildcards (nats://orders.>), a sink may not', () => {
    expect(() => source('nats://orders.>')).not.toThrow();
    expect(() => source('nats://orders.*.created?queue=q')).not.toThrow();
    expect(configError(() => sink('nats://orders.>', { variable: 'SINK_URI' })).message).toContain('wildcard');
  });

  test('JetStream parameters are checked when the pipeline is built', () => {
    const messages = [
      ['nats://o?stream=ORDERS', 'needs a durable consumer name'],
      ['nats://o?stream=ORDERS&consumer=c&queue=q', '?queue does not apply to JetStream'],
      ['nats://o?ack_wait=5s', 'only apply to JetStream'],
      ['nats://o?stream=ORDERS&consumer=c&ack_wait=soon', 'is not a duration'],
      ['nats://o?stream=ORDERS&consumer=c&ack_wait=100ms', 'too short'],
      ['nats://o?stream=ORDERS&consumer=c&max_deliver=0', 'max_deliver=0'],
      ['nats://o?stream=ORDERS&consumer=c&deliver=first', 'use all, new or last'],
      ['nats://o?stream=OR.DERS&consumer=c', 'not a valid name'],
      ['nats://o?stream=ORDERS&consumer=c&max_pending=10', 'applies to core NATS'],
      ['nats://o?max_pending=-1', 'whole number'],
    ];
    for (const [uri, expected] of messages) {
      expect(configError(() => source(uri, { variable: 'SOURCE_URI' })).message).toContain(expected);
    }
  });

  test('unknown parameters are a warning naming them and the known ones, not an error', () => {
    const { logger, lines } = capturingLogger('warn');
    source('nats://sink?pipe=queue', { variable: 'SOURCE_URI', logger });
    sink('nats://sink?jetstream=true&color=blue', { variable: 'SINK_URI', logger });
    const messages = lines().map((line) => line.msg);
    expect(messages[0]).toBe(
      'SOURCE_URI: ignoring unknown parameter(s) pipe for nats://; known: queue, max_pending, stream, consumer, jetstream, ack_wait, max_deliver, nak_delay, deliver, stall_after',
    );
    expect(messages[1]).toContain('ignoring unknown parameter(s) color');
  });
});

describe('rabbit:// URIs', () => {
  test('a source needs a queue; prefetch_count is a whole number', () => {
    expect(configError(() => source('rabbit://', { variable: 'SOURCE_URI' })).message).toContain('needs a queue');
    expect(configError(() => source('rabbit://q?prefetch_count=0', { variable: 'SOURCE_URI' })).message).toContain('prefetch_count');
  });

  test('the default exchange needs a routing key; routing_key and key_name exclude each other', () => {
    expect(configError(() => sink('rabbit://', { variable: 'SINK_URI' })).message).toContain('rabbit://?routing_key=');
    expect(configError(() => sink('rabbit://x?routing_key=a&key_name=b', { variable: 'SINK_URI' })).message).toContain(
      'exclude each other',
    );
    expect(() => sink('rabbit://?routing_key=orders')).not.toThrow();
  });

  test('RABBIT_SERVER_URL must be an AMQP URL, and is never echoed with its password', () => {
    const error = configError(() => sink('rabbit://?routing_key=q', { env: { RABBIT_SERVER_URL: 'http://guest:hunter2@h/' } }));
    expect(error.message).toContain('RABBIT_SERVER_URL');
    expect(error.message).toContain('amqp://user:password@host:5672/vhost');
    expect(error.message).not.toContain('hunter2');
  });
});

describe('the bin with NATS settings', () => {
  test('a bad NATS variable exits 2 with one line naming it', () => {
    const result = spawnSync(process.execPath, [BIN], {
      env: binEnv({ SOURCE_URI: 'nats://orders', SINK_URI: 'stdout://', NATS_USER: 'relay' }),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('NATS_PASSWORD');
  });

  test('a NATS server that cannot be reached is a start-up failure (exit 1) naming the host, after NATS_CONNECT_TIMEOUT', async () => {
    const port = await freePort();
    const result = spawnSync(process.execPath, [BIN], {
      env: binEnv({ SOURCE_URI: 'nats://orders', SINK_URI: 'stdout://', NATS_SERVER_URL: `127.0.0.1:${port}`, NATS_CONNECT_TIMEOUT: '1s' }),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`nats (127.0.0.1:${port}): cannot connect`);
    expect(result.stderr).toContain('NATS_CONNECT_TIMEOUT');
  });
});
