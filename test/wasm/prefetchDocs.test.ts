// docs/wasm.md's prefetch example, run as written: the `enrich-redis.mjs` program (saved in the project folder, as
// the page says) and the bin command after it, both against the Redis on 127.0.0.1:6379 with the page's prefix.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { BIN, binEnv } from '../helpers/bin';

const ROOT = path.resolve(__dirname, '../..');
const page = fs.readFileSync(path.join(ROOT, 'docs', 'wasm.md'), 'utf8');
const sample = fs.readFileSync(path.join(ROOT, 'examples', 'enrich', 'sample.jsonl'));
const EXPECTED = ['{"user":"u1","amount":5,"profile":{"name":"Ann","tier":"gold"}}', '{"user":"u2","amount":7}'];

let redis: Redis;
beforeAll(() => {
  redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
});
afterAll(async () => {
  await redis.del('demo:profile:u1');
  redis.disconnect();
});

test('the enrich-redis.mjs program prints the enriched events the page shows', () => {
  const program = /Save this as `enrich-redis\.mjs`[\s\S]*?```js\n([\s\S]*?)```/.exec(page)?.[1];
  expect(program).toContain("prefetch: 'profile:{json.user}'");
  // in the project folder, as the page says, so that `import 'wasm-pipes'` resolves to this package
  const file = path.join(ROOT, `enrich-redis-${process.pid}.mjs`);
  fs.writeFileSync(file, program as string);
  try {
    const result = spawnSync(process.execPath, [file], {
      cwd: ROOT,
      input: sample,
      encoding: 'utf8',
      timeout: 30_000,
      env: binEnv({ LOG_LEVEL: 'warn' }),
    });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim().split('\n')).toEqual(EXPECTED);
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('the bin command with WASM_PREFETCH prints the same', async () => {
  await redis.set('demo:profile:u1', '{"name":"Ann","tier":"gold"}');
  const line = /`(CACHE_URI='redis:[^`]*WASM_PREFETCH[^`]*)`/.exec(page)?.[1] as string;
  expect(line).toContain("WASM_PREFETCH='profile:{json.user}'");
  const command = line.replace('./wasm-pipes', `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)}`);
  const result = spawnSync('bash', ['--norc', '-c', command], { cwd: ROOT, encoding: 'utf8', timeout: 30_000, env: binEnv() });
  expect(result.status).toBe(0);
  expect(result.stdout.trim().split('\n')).toEqual(EXPECTED);
});
