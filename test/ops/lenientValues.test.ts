// Values that used to be taken as something else are refused at start-up with the usual one line and exit 2:
// MAX_IN_FLIGHT=1e3 (ran as 1 000), an empty SINK_URI= (fell back to stdout://), SINK_URI=stdout://, (accepted).
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { buildFromEnv } from '../../bin/cli';
import { ConfigError } from '../../lib/errors';
import { MAX_TIMER_MS, parseDuration, parseInteger, parseSize } from '../../lib/config';
import { BIN } from '../helpers/bin';

function runBin(env: Record<string, string>): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [BIN], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir(), ADMIN_PORT: '0', SOURCE_URI: 'stdin://', ...env },
    input: 'x\n',
    cwd: os.tmpdir(),
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stderr: result.stderr };
}

/** The ConfigError message buildFromEnv throws for `env`, or undefined when it builds. */
function configError(env: Record<string, string>): string | undefined {
  try {
    const built = buildFromEnv({ ADMIN_PORT: '0', SOURCE_URI: 'stdin://', ...env });
    void built.cache.close();
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
}

describe('lenient values are refused', () => {
  test.each([
    ['MAX_IN_FLIGHT=1e3', { MAX_IN_FLIGHT: '1e3' }, "MAX_IN_FLIGHT: '1e3' is not a whole number"],
    ['an empty SINK_URI=', { SINK_URI: '' }, 'SINK_URI: is set but empty; give it a value, or unset it for the default (stdout://)'],
    ['SINK_URI=stdout://,', { SINK_URI: 'stdout://,' }, "SINK_URI: 'stdout://,' has an empty item"],
  ])('the bin refuses %s with one line and exit 2', (_name, env, expected) => {
    const result = runBin(env);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(expected);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  test.each([
    [{ MAX_IN_FLIGHT: '0x10' }, 'MAX_IN_FLIGHT'],
    [{ MAX_IN_FLIGHT: '1.0' }, 'MAX_IN_FLIGHT'],
    [{ MAX_IN_FLIGHT: '1_000' }, 'MAX_IN_FLIGHT'],
    [{ MAX_DELIVERIES: '5e0' }, 'MAX_DELIVERIES'],
    [{ SINK_MAX_ATTEMPTS: ' ' }, 'SINK_MAX_ATTEMPTS'],
    [{ ADMIN_PORT: '' }, 'ADMIN_PORT'],
    [{ ADMIN_PORT: '4e3' }, 'ADMIN_PORT'],
    [{ SOURCE_URI: '  ' }, 'SOURCE_URI'],
    [{ HTTP_SOURCE_TOKEN: '' }, 'HTTP_SOURCE_TOKEN'],
    [{ DEAD_LETTER_URI: '' }, 'DEAD_LETTER_URI'],
    [{ SINK_URI: ',stdout://' }, 'SINK_URI'],
    [{ SINK_URI: 'stdout://, ,file:///tmp/x.jsonl' }, 'SINK_URI'],
    [{ WASM_MODULE: 'a.wasm,' }, 'WASM_MODULE'],
    [{ ACK_TIMEOUT: '0.4ms' }, 'ACK_TIMEOUT'],
    [{ ACK_TIMEOUT: '1000h' }, 'ACK_TIMEOUT'],
    [{ SHUTDOWN_TIMEOUT: '30d' }, 'SHUTDOWN_TIMEOUT'],
    [{ STATS_INTERVAL: '9999999999' }, 'STATS_INTERVAL'],
  ])('%j is refused naming %s', (env, variable) => {
    expect(configError(env)).toMatch(new RegExp(`^${variable}: `));
  });

  test('values that mean what they say still work, and the cloud SDKs keep "empty = unset"', () => {
    expect(
      configError({ MAX_IN_FLIGHT: ' 1000 ', ACK_TIMEOUT: '0', SHUTDOWN_TIMEOUT: '1.5s', SINK_URI: 'stdout://, file:///tmp/x.jsonl' }),
    ).toBeUndefined();
    expect(configError({ AWS_REGION: '', AWS_PROFILE: ' ', PUBSUB_EMULATOR_HOST: '', SERVICEBUS_CONNECTION_STRING: '' })).toBeUndefined();
  });

  test('the parsers of lib/config.ts take digits and units only', () => {
    expect(parseInteger('42', 'N')).toBe(42);
    expect(parseInteger('-3', 'N', -5)).toBe(-3);
    for (const bad of ['1e3', '0x10', '0b1', '1.0', '', ' ', '+', '12abc', '99999999999999999999'])
      expect(() => parseInteger(bad, 'N')).toThrow(ConfigError);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('0.5ms', 'D')).toBe(1); // rounds up to 1, not down to 0
    expect(() => parseDuration('0.4ms', 'D')).toThrow(/less than 1 ms/);
    expect(() => parseDuration('1e3', 'D')).toThrow(/not a duration/);
    expect(() => parseDuration(`${MAX_TIMER_MS + 1}`, 'D', MAX_TIMER_MS)).toThrow(/longest it can be/);
    expect(parseDuration('30h', 'D')).toBe(30 * 3_600_000);
    expect(parseSize('1.5kb')).toBe(1536);
    expect(() => parseSize('0.5b', 'S')).toThrow(/less than one byte/);
    expect(() => parseSize('99999999999gb', 'S')).toThrow(/not a size/);
    expect(() => parseSize('1e3', 'S')).toThrow(/not a size/);
  });
});
