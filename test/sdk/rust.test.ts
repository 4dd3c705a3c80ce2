// The Rust SDK crate (sdk/rust), built offline with Debian's cargo and rustc: its safe wrappers against the host,
// the transform! and filter! macros over plain functions, and a panic turned into the message's failure reason.
import { testModule } from '../../lib';
import { wasmFilter, wasmTransform } from '../../operators';
import { MemoryCache } from '../../lib/cache/memory';
import { through } from '../wasm/helpers';
import { buildFixture } from './helpers';

let crate: string;

beforeAll(async () => {
  crate = await buildFixture('rust-crate', 'rust-sdk');
}, 300_000);

test('body, emit, metadata, key, config, cache and log wrappers, and outputs returned from a plain function', async () => {
  const big = 'x'.repeat(100_000); // larger than the first buffer: the buffer rule's second call
  const report = await testModule(
    crate,
    [
      { name: 'upper', input: 'upper héllo', expect: ['HÉLLO'] },
      { name: 'metadata', input: { body: 'meta tenant', metadata: { tenant: 'acme', 'drop-me': '1' } }, expect: [{ body: 'acme', metadata: { seen: 'tenant', tenant: 'acme', 'drop-me': null } }] },
      { name: 'no metadata', input: 'meta nothing', expect: ['(none)'] },
      { name: 'key', input: { body: 'key', key: 'k1' }, expect: [{ body: 'k1', key: 're-k1' }] },
      { name: 'config', input: 'config field', config: { field: 'password' }, expect: ['password'] },
      { name: 'count', input: 'count ann', cache: { 'count:ann': '41' }, expect: ['42'], cacheAfter: { 'count:ann': '42', first: 'ann' } },
      { name: 'add keeps the first', input: 'count bob', cache: { first: 'ann' }, expect: ['1'], cacheAfter: { first: 'ann' } },
      { name: 'large value', input: 'big', cache: { big }, expect: ['100000'] },
      { name: 'split', input: 'split a b c', expect: ['a', 'b', 'c'] },
      { name: 'emit', input: 'emit', expect: ['emitted'] },
      { name: 'none drops', input: 'drop', expect: 'dropped' },
      { name: 'err fails', input: 'fail this', expect: { fails: '/\\.wasm failed on message case-12: refused this$/' } },
      { name: 'not utf-8', input: { base64: '/w==' }, expect: { fails: 'the body is not UTF-8' } },
    ],
    {},
  );
  expect(report.results.filter((result) => !result.passed).map((result) => `${result.name}: ${result.problems.join(' ')}`)).toEqual([]);
});

test('a panic fails the message with its message and place, and the next message runs on a fresh instance', async () => {
  const report = await testModule(crate, [
    { name: 'panic', input: 'panic now', expect: { fails: '/failed: panicked at src\\/lib\\.rs:\\d+:\\d+: asked to panic with now \\(then it trapped: unreachable\\)$/' } },
    { name: 'after', input: 'upper ok', expect: ['OK'] },
  ]);
  expect(report.results.map((result) => result.problems)).toEqual([[], []]);
});

test('log lines reach the log with the module; filter! keeps, drops and fails', async () => {
  const logged = await testModule(crate, [{ input: 'log hello', expect: ['nope'] }]);
  expect(logged.results[0].logs).toContain('info logged hello');
  const { outputs, outcomes } = await through(wasmFilter(crate), ['abcd', 'ab', 'bad']);
  expect(outputs.map((message) => message.text())).toEqual(['abcd']);
  expect(outcomes[0]).toBe('ack');
  expect(outcomes[1]).toBe('ack');
  expect((outcomes[2] as Error).message).toContain('a bad body');
  // the transform export of the same module, with a shared cache through the operator
  const cache = new MemoryCache();
  const counted = await through(wasmTransform(crate, { cache }), ['count z', 'count z']);
  expect(counted.outputs.map((message) => message.text())).toEqual(['1', '2']);
});
