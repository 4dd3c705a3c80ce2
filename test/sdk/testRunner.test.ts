// `wasm-pipes test` and testModule(): cases run on the real modules of examples/, without a broker; a wrong
// expectation fails with a readable diff and exit 1, all passing exits 0, a bad case file exits 2 naming the fix.
import fs from 'node:fs';
import path from 'node:path';
import { testModule } from '../../lib';
import { runBinToEnd } from '../helpers/bin';
import { buildExamples, ROOT, temporaryFolder, writeJson } from './helpers';

const example = (name: string): string => path.join(ROOT, 'examples', name, `${name}.wasm`);

// building every example from source the first time takes a minute on a loaded machine
beforeAll(async () => {
  await buildExamples();
}, 300_000);

test('testModule runs cases through a transform: outputs, JSON bodies, config, failures, keys and metadata', async () => {
  const report = await testModule(example('redact'), [
    { name: 'redacts the password', input: '{"user":"ann","password":"hunter2"}', expect: [{ json: { user: 'ann', password: '***' } }] },
    { name: 'another field', input: '{"ssn":123}', config: { field: 'ssn' }, expect: ['{"ssn":"***"}'] },
    { name: 'malformed', input: '{"password":"unterminated', expect: { fails: 'malformed JSON value' } },
    { name: 'regex failure', input: '{"password":"unterminated', expect: { fails: '/^redact\\.wasm failed on message case-4: malformed JSON/' } },
    { name: 'key and metadata pass', input: { body: '{}', key: 'k1', metadata: { a: 'b' } }, expect: [{ body: '{}', key: 'k1', metadata: { a: 'b', c: null } }] },
  ]);
  expect(report.results.map((result) => [result.name, result.passed, result.problems])).toEqual([
    ['redacts the password', true, []],
    ['another field', true, []],
    ['malformed', true, []],
    ['regex failure', true, []],
    ['key and metadata pass', true, []],
  ]);
  expect(report.ok).toBe(true);
  expect(report.toString()).toContain('5 case(s): 5 passed, 0 failed');
});

test('a chain of modules, a filter ("kept", "dropped"), N outputs with keys and metadata, and the cache before and after', async () => {
  const chain = await testModule([example('threshold'), example('redact')], [
    { name: 'hot', input: '{"temperature":40,"password":"x"}', expect: [{ json: { temperature: 40, password: '***' } }] },
    { name: 'cold', input: '{"temperature":10,"password":"x"}', expect: 'dropped' },
  ]);
  expect(chain.failed).toBe(0);
  const filter = await testModule(example('threshold'), [{ input: '{"temperature":40}', expect: 'kept' }, { input: '{"temperature":4}', expect: 'dropped' }]);
  expect(filter.results.map((result) => result.passed)).toEqual([true, true]);
  expect(filter.results.map((result) => result.name)).toEqual(['case 1', 'case 2']);
  const split = await testModule(example('split'), [
    {
      input: '[{"id":"a"},{"id":"b"}]',
      expect: [
        { json: { id: 'a' }, key: 'a', metadata: { 'split-index': '0' } },
        { json: { id: 'b' }, key: 'b', metadata: { 'split-index': '1' } },
      ],
    },
  ]);
  expect(split.results[0].problems).toEqual([]);
  const enrich = await testModule(
    example('enrich'),
    [
      { name: 'known user', input: '{"user":"u1"}', expect: [{ json: { user: 'u1', profile: { tier: 'gold' } }, metadata: { enriched: 'true' } }] },
      { name: 'case cache wins', input: '{"user":"u1"}', cache: { 'profile:u1': '{"tier":"silver"}' }, expect: [{ json: { user: 'u1', profile: { tier: 'silver' } } }] },
      { name: 'unknown user', input: '{"user":"u2"}', expect: [{ metadata: { enriched: 'false' } }], cacheAfter: { 'profile:u1': { json: { tier: 'gold' } }, 'profile:u2': null } },
    ],
    { cache: { 'profile:u1': { json: { tier: 'gold' } } } },
  );
  expect(enrich.results.map((result) => result.problems)).toEqual([[], [], []]);
});

test('wrong expectations fail with the difference spelled out', async () => {
  const report = await testModule(example('redact'), [
    { name: 'json', input: '{"user":"ann","password":"x"}', expect: [{ json: { user: 'bob', password: '***' } }] },
    { name: 'text', input: '{"user":"ann"}', expect: ['{"user":"anna"}'] },
    { name: 'count', input: '{}', expect: 'dropped' },
    { name: 'passes instead', input: '{}', expect: { fails: 'boom' } },
    { name: 'key', input: '{}', expect: [{ key: 'k' }] },
    { name: 'cache', input: '{}', expect: 'kept', cacheAfter: { missing: 'x' } },
  ]);
  expect(report.passed).toBe(0);
  expect(report.ok).toBe(false);
  const problems = Object.fromEntries(report.results.map((result) => [result.name, result.problems]));
  expect(problems.json).toEqual(['output body:', '    {', '  -   "user": "bob",', '  +   "user": "ann",', '      "password": "***"', '    }']);
  expect(problems.text).toEqual(['output body:', '  - "{\\"user\\":\\"anna\\"}"', '  + "{\\"user\\":\\"ann\\"}"', expect.stringMatching(/^ +\^ first difference at character 12$/)]);
  expect(problems.count).toEqual(['expected the message to be dropped, but it gave 1 output', '  got output 1: "{}"']);
  expect(problems['passes instead']).toEqual(['expected the message to fail with "boom", but it passed with 1 output', '  got output 1: "{}"']);
  expect(problems.key).toEqual(['output key: expected "k", got no key']);
  expect(problems.cache).toEqual(['cache "missing": expected "x", but it is absent']);
  expect(report.toString()).toContain('6 case(s): 0 passed, 6 failed');
});

test('wasm-pipes test exits 0 when every case passes, 1 with a diff on a wrong expectation, 2 for a bad case file', async () => {
  const folder = temporaryFolder('test-command');
  try {
    fs.copyFileSync(example('redact'), path.join(folder.dir, 'redact.wasm'));
    writeJson(path.join(folder.dir, 'cases.json'), {
      module: 'redact.wasm',
      cases: [{ name: 'redacts', input: '{"password":"x"}', expect: [{ json: { password: '***' } }] }],
    });
    const passing = await runBinToEnd({}, '', { args: ['test'], cwd: folder.dir });
    expect(passing.stderr).toBe('');
    expect(passing.stdout).toBe('cases.json (redact.wasm)\n  ok    redacts\n1 case(s): 1 passed, 0 failed\n');
    expect(passing.status).toBe(0);

    writeJson(path.join(folder.dir, 'wrong.cases.json'), {
      module: 'redact.wasm',
      cases: [{ name: 'expects the clear text', input: '{"password":"x"}', expect: ['{"password":"x"}'] }],
    });
    const failing = await runBinToEnd({}, '', { args: ['test', 'wrong.cases.json'], cwd: folder.dir });
    expect(failing.stdout).toContain('  FAIL  expects the clear text\n        output body:\n          - "{\\"password\\":\\"x\\"}"\n          + "{\\"password\\":\\"***\\"}"');
    expect(failing.stdout).toContain('1 case(s): 0 passed, 1 failed');
    expect(failing.status).toBe(1);

    // with no file named, every cases.json and *.cases.json of the folder runs: one failure fails the run
    const both = await runBinToEnd({}, '', { args: ['test'], cwd: folder.dir });
    expect(both.stdout).toContain('cases.json (redact.wasm)');
    expect(both.stdout).toContain('wrong.cases.json (redact.wasm)');
    expect(both.status).toBe(1);
    const only = await runBinToEnd({}, '', { args: ['test', 'wrong.cases.json', '--module', path.join(folder.dir, 'redact.wasm'), '--only', 'nothing'] , cwd: folder.dir });
    expect(only.stderr).toContain("no case ran (none is named like 'nothing')");
    expect(only.status).toBe(1);

    writeJson(path.join(folder.dir, 'bad.json'), { module: 'redact.wasm', cases: [{ input: 'x', expect: 'gone' }] });
    const bad = await runBinToEnd({}, '', { args: ['test', 'bad.json'], cwd: folder.dir });
    expect(bad.stderr).toBe(
      'wasm-pipes: bad.json: case 1: expect is a list of outputs like [{"body": "HELLO"}], "dropped", "kept", or {"fails": "part of the error"}, not "gone"\n',
    );
    expect(bad.status).toBe(2);
    const missingModule = await runBinToEnd({}, '', { args: ['test', 'cases.json', '--module', 'nothere.wasm'], cwd: folder.dir });
    expect(missingModule.stderr).toMatch(/^wasm-pipes: .*nothere\.wasm.*\n$/);
    expect(missingModule.status).toBe(2);
    const empty = temporaryFolder('test-empty');
    try {
      const none = await runBinToEnd({}, '', { args: ['test'], cwd: empty.dir });
      expect(none.stderr).toContain('no case file here');
      expect(none.status).toBe(2);
    } finally {
      empty.remove();
    }
  } finally {
    folder.remove();
  }
});

test('a failing case shows what the module logged, and a case that passes runs on a fresh instance', async () => {
  const report = await testModule(example('threshold'), [
    { name: 'no field', input: '{"x":1}', expect: 'dropped' },
    { name: 'after it', input: '{"temperature":99}', expect: 'kept' },
  ]);
  expect(report.results[0].passed).toBe(false);
  expect(report.results[0].problems).toEqual(['the message failed: threshold.wasm failed on message case-1: no such numeric field in the event']);
  expect(report.results[0].logs).toEqual([
    'warn wasmFilter(threshold.wasm): message case-1 was nacked: threshold.wasm failed on message case-1: no such numeric field in the event',
  ]);
  expect(report.results[1].passed).toBe(true);
});
