// `npm test` shows logs only where they explain a failure: what in-process pipelines and spawned bins log during a
// test is kept, and printed after a failing test only. Proven by running a fixture file in a jest of its own.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

test('logs of a passing test are dropped; a failing test shows its in-process and bin logs', () => {
  const config = {
    // the suite's own jest.config.js, pointed at the fixture

    ...(require(path.join(ROOT, 'jest.config.js')) as Record<string, unknown>),
    rootDir: ROOT,
    roots: ['<rootDir>/test/local/fixtures'],
    testMatch: ['**/quietLogs.fixture.ts'],
  };
  const result = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), '--config', JSON.stringify(config), '--ci', '--no-cache'], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: '' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const output = result.stdout + result.stderr;
  expect(result.status).toBe(1); // the fixture's failing test
  expect(output).toContain('in-process line of the failing test');
  expect(output).toMatch(/\[bin \d+\] wasm-pipes: SOURCE_URI: unknown scheme 'bogus-failing:\/\/'/);
  expect(output).not.toContain('in-process line of the passing test');
  expect(output).not.toContain('"msg":"wasm-pipes started"'); // the passing test's bin
  expect(output).toMatch(/---- logs of a failing test ----/);
}, 150_000);
