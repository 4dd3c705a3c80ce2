// The bin with CACHE_URI and WASM_MODULE: the per-name counting modules (native ABI and the Go prototype's) give the
// same outputs with memory://, redis:// and nats-kv://, and leave the counts in the shared backends.
import { cache, type Cache } from '../../lib/cache';
import { runBinToEnd } from '../helpers/bin';
import { buildAs } from './helpers';
import { capturingLogger, deleteKvBuckets, deleteRedisPrefix, NATS_ENV, REDIS_URL, uniqueName } from '../cache/helpers';

const { logger } = capturingLogger('error');

/** The bin with stdin in and bodies out, as the local module runner is used. */
async function runBin(env: Record<string, string>, input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const result = await runBinToEnd({ LOG_LEVEL: 'warn', SOURCE_URI: 'stdin://', SINK_URI: 'stdout://?format=lines', ...env }, input);
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const NAMES = ['ann', 'bob', 'cy', 'dee'];
const INPUTS = Array.from({ length: 60 }, (_, i) => NAMES[(i * 5 + (i >> 2)) % NAMES.length]);
/** stdin:// reads JSON envelopes: each message's key is its name, so that one name's messages never overlap. */
const STDIN = INPUTS.map((name) => JSON.stringify({ key: name, body: name })).join('\n') + '\n';

function perName(lines: string[]): Record<string, string[]> {
  const grouped: Record<string, string[]> = {};
  for (const line of lines) (grouped[line.split('=')[0]] ??= []).push(line);
  return grouped;
}

const EXPECTED = perName(INPUTS.map((name, i) => `${name}=${INPUTS.slice(0, i + 1).filter((other) => other === name).length}`));

const redisPrefix = `${uniqueName('wasmcache_bin')}:`;
const bucket = uniqueName('wasmcache_bin');
const backends: { name: string; env: Record<string, string>; open?: () => Cache }[] = [
  { name: 'memory://', env: { CACHE_URI: 'memory://' } },
  {
    name: 'redis://',
    env: { CACHE_URI: `${REDIS_URL}?prefix=${redisPrefix}` },
    open: () => cache(`${REDIS_URL}?prefix=${redisPrefix}`, { logger }),
  },
  {
    name: 'nats-kv://',
    env: { CACHE_URI: `nats-kv://${bucket}?storage=memory`, ...NATS_ENV },
    open: () => cache(`nats-kv://${bucket}?storage=memory`, { env: NATS_ENV, logger }),
  },
];

let modules: { native: string; go: string };

beforeAll(async () => {
  const [native, go] = await Promise.all([buildAs('count.ts'), buildAs('go/count.ts', ['-O3', '--runtime', 'stub', '--use', 'abort='])]);
  modules = { native, go };
});

afterAll(async () => {
  await deleteRedisPrefix(redisPrefix);
  await deleteKvBuckets(bucket);
});

const outputs: Record<string, string[]> = {};

describe.each(backends)('CACHE_URI=$name', (backend) => {
  test.each(['native', 'go'] as const)('WASM_MODULE=%s counting module: exact per-name counts, stored in the cache', async (abi) => {
    const result = await runBin({ ...backend.env, WASM_MODULE: modules[abi] }, STDIN.replace(/"body":"/g, `"body":"${abi}-`));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter((line) => line.length > 0);
    const expected = Object.fromEntries(
      Object.entries(EXPECTED).map(([name, list]) => [`${abi}-${name}`, list.map((line) => `${abi}-${line}`)]),
    );
    expect(perName(lines)).toEqual(expected);
    outputs[`${backend.name} ${abi}`] = lines.map((line) => line.replace(`${abi}-`, ''));
    if (backend.open !== undefined) {
      const store = backend.open();
      try {
        for (const name of NAMES) {
          expect((await store.get(`count:${abi}-${name}`))?.toString()).toBe(String(EXPECTED[name].length));
        }
      } finally {
        await store.close();
      }
    }
  });
});

test('the same outputs, name by name, on every backend and for both ABIs', () => {
  expect(Object.keys(outputs)).toHaveLength(backends.length * 2);
  for (const lines of Object.values(outputs)) expect(perName(lines)).toEqual(EXPECTED);
});

test("WASM_PREFETCH on Redis: the counts stay exact (a prefetched key still reads the previous message's write)", async () => {
  const prefix = `${uniqueName('wasmcache_prefetch')}:`;
  try {
    const result = await runBin(
      { CACHE_URI: `${REDIS_URL}?prefix=${prefix}`, WASM_MODULE: modules.native, WASM_PREFETCH: 'count:native-{key}' },
      STDIN.replace(/"body":"/g, '"body":"native-'),
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => line.replace('native-', ''));
    expect(perName(lines)).toEqual(EXPECTED);
  } finally {
    await deleteRedisPrefix(prefix);
  }
});
