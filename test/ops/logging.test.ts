// LOG_LEVEL and LOG_FORMAT, and the secret scrubbing of every log line at every level.
import { createLogger, parseLogSettings, LOG_LEVELS } from '../../lib/logging/logger';
import { ConfigError } from '../../lib/errors';
import { Redactor, secretsFromEnv } from '../../lib/security/redact';
import { redactUri } from '../../lib/registry';
import { LineCapture, SECRET_ENV, SECRET_VALUES } from './helpers';

describe('LOG_LEVEL and LOG_FORMAT', () => {
  test('defaults: info, and the format left to the terminal test', () => {
    expect(parseLogSettings({})).toEqual({ level: 'info', format: undefined });
    expect(parseLogSettings({ LOG_LEVEL: 'DEBUG', LOG_FORMAT: 'Pretty' })).toEqual({ level: 'debug', format: 'pretty' });
  });

  test('a bad value is a ConfigError naming the variable and the valid values', () => {
    expect(() => parseLogSettings({ LOG_LEVEL: 'verbose' })).toThrow(ConfigError);
    expect(() => parseLogSettings({ LOG_LEVEL: 'verbose' })).toThrow(
      `LOG_LEVEL: 'verbose' is not a log level; use one of ${LOG_LEVELS.join(', ')}`,
    );
    expect(() => parseLogSettings({ LOG_FORMAT: 'xml' })).toThrow("LOG_FORMAT: 'xml' is not a log format; use json or pretty");
  });

  test('json: one JSON object per line; the level filters', () => {
    const out = new LineCapture();
    const logger = createLogger({ level: 'info', format: 'json', destination: out, env: {} });
    logger.debug('hidden');
    logger.info({ count: 3 }, 'shown');
    const lines = out.json();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, msg: 'shown', count: 3, name: 'wasm-pipes' });
  });

  test('pretty: one readable line per event, with the level word and the message', () => {
    const out = new LineCapture();
    const logger = createLogger({ level: 'debug', format: 'pretty', destination: out, env: {} });
    logger.debug({ id: 'm1' }, 'a per-message event');
    logger.warn('something to look at');
    expect(out.lines).toHaveLength(2);
    expect(out.lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] DEBUG: a per-message event \{"id":"m1"\}$/);
    expect(out.lines[1]).toMatch(/WARN: something to look at$/);
    expect(() => JSON.parse(out.lines[0])).toThrow();
  });
});

describe('secret redaction', () => {
  test('finds the secrets of the environment: named variables, connection string keys, URI credentials', () => {
    const secrets = secretsFromEnv(SECRET_ENV);
    for (const value of SECRET_VALUES) expect(secrets).toContain(value);
    // a user name, a host or a file path is not a secret
    expect(secrets).not.toContain('guest');
    expect(secrets).not.toContain('127.0.0.1');
    expect(secretsFromEnv({ HTTP_TLS_KEY: '/etc/tls/key.pem', NATS_TLS_CERT: '/x.pem' })).toEqual([]);
  });

  for (const format of ['json', 'pretty'] as const) {
    test(`no secret reaches a ${format} log line, at any level, wherever it hides`, () => {
      const out = new LineCapture();
      const logger = createLogger({ level: 'trace', format, destination: out, env: SECRET_ENV });
      const child = logger.child({ source: 'http://:9000/events' });
      for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const) {
        for (const secret of SECRET_VALUES) {
          const failure = new Error(`connect failed with ${secret}`, { cause: new Error(`inner ${secret}`) });
          child[level]({ err: failure, detail: { nested: [secret] }, uri: `nats://${secret}@h:4222` }, `${level}: saw ${secret} here`);
        }
        child[level]({ connection: SECRET_ENV.SERVICEBUS_CONNECTION_STRING }, SECRET_ENV.SERVICEBUS_CONNECTION_STRING);
        // credentials of a URI nobody declared are masked by their shape
        child[level]({ target: 'postgres://app:undeclared-pw9@db:5432/x' }, 'connecting to postgres://app:undeclared-pw9@db:5432/x');
        child[level]({ password: 'field-named-password', headers: { authorization: 'Bearer field-bearer' } }, 'fields');
      }
      const text = out.text;
      // pretty prints an error's stack on the lines that follow
      if (format === 'json') expect(out.lines.length).toBe(6 * (SECRET_VALUES.length + 3));
      else expect(out.lines.filter((line) => /^\[\d\d:/.test(line)).length).toBe(6 * (SECRET_VALUES.length + 3));
      for (const secret of [...SECRET_VALUES, 'undeclared-pw9', 'field-named-password', 'field-bearer']) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain(encodeURIComponent(secret));
      }
      // what is not secret survives, so that the lines stay useful
      expect(text).toContain('postgres://app:***@db:5432/x');
      expect(text).toContain('connect failed with ***');
      expect(text).toContain('fields');
    });
  }

  test('a secret with JSON-special characters is found in its escaped form too', () => {
    const out = new LineCapture();
    const tricky = 'pa"ss\\word-77';
    const logger = createLogger({ format: 'json', destination: out, env: { KAFKA_PASSWORD: tricky } });
    logger.error({ value: tricky }, `login with ${tricky}`);
    expect(out.text).not.toContain(JSON.stringify(tricky).slice(1, -1));
    expect(JSON.parse(out.lines[0])).toMatchObject({ value: '***', msg: 'login with ***' });
  });

  test('redactUri masks passwords, NATS tokens and secret-looking parameters, and keeps the rest', () => {
    expect(redactUri('redis://user:pw@host:6379/0')).toBe('redis://user:***@host:6379/0');
    expect(redactUri('nats://s3cr3t@host:4222')).toBe('nats://***@host:4222');
    expect(redactUri('kafka://group?topic=t&sasl_password=x&api_key=y')).toBe('kafka://group?topic=t&sasl_password=***&api_key=***');
    expect(redactUri('http://:9000/events')).toBe('http://:9000/events');
    expect(redactUri('amqp://guest@host/')).toBe('amqp://guest@host/');
  });

  test.each([
    ['https://fn.azurewebsites.net/api/hook?code=abc123==&clientId=default', 'https://fn.azurewebsites.net/api/hook?code=***&clientId=***'],
    [
      'https://chat.googleapis.com/v1/spaces/AAAA/messages?key=AIzaSy&token=x',
      'https://chat.googleapis.com/v1/spaces/***?key=***&token=***',
    ],
    ['https://hooks.slack.com/services/T000/B000/XXXX', 'https://hooks.slack.com/services/***'],
    ['https://discord.com/api/webhooks/1234567890/abcDEF-ghi', 'https://discord.com/api/webhooks/***'],
    ['http://TOKEN@host/x', 'http://***@host/x'],
    ['http://sk_live:@host', 'http://***:@host'],
    ['https://ghp_abc:x-oauth-basic@github.com/x', 'https://***:***@github.com/x'],
    ['http://h/cb#access_token=abc', 'http://h/cb#***'],
    ['amqp://app:p@ss@host/', 'amqp://app:***@host/'],
    ['nats://events.in?queue=relay&stream=S&secret=x', 'nats://events.in?queue=relay&stream=S&secret=***'],
    ['awssqs://q?region=eu-west-1&endpoint=http://k:s@localhost:4566', 'awssqs://q?region=eu-west-1&endpoint=***'],
    ['file:///var/dead-1.jsonl', 'file:///var/dead-1.jsonl'],
  ])('redactUri(%s) is %s: every query value and user-info part of a webhook, and its path from the first non-word', (uri, masked) => {
    expect(redactUri(uri)).toBe(masked);
    // masking twice changes nothing (names are masked, then the answers that carry them)
    expect(redactUri(masked)).toBe(masked);
  });

  test('webhook credentials of the environment are scrubbed from free text too', () => {
    const redactor = new Redactor(
      secretsFromEnv({
        SINK_URI:
          'https://hooks.slack.com/services/T0A1B2C3D/B0E4F5G6H/slackTok9Zx81Lm3Qp,http://sk_live_51Hx9Zt:@h/x,https://f.net/api?code=azfnCode77',
      }),
    );
    expect(redactor.redact('posting slackTok9Zx81Lm3Qp with sk_live_51Hx9Zt and azfnCode77 failed')).toBe(
      'posting *** with *** and *** failed',
    );
    // words of a URI are not secrets
    expect(redactor.redact('services hooks api')).toBe('services hooks api');
  });

  test('Redactor ignores secrets too short to search for without garbling every line', () => {
    const redactor = new Redactor(['ab', 'abcd']);
    expect(redactor.redact('ab abcd')).toBe('ab ***');
  });
});
