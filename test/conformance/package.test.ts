// The suite as a connector outside this repository uses it: a project of its own with this package in its
// node_modules (the build, through package.json's `exports`), a connector in plain JavaScript that registers dirq://
// with registerScheme(), and the test file that docs/connectors/writing-a-connector.md shows, word for word, run by
// jest in that project: every check, and the kill -9 crash test of the bin loading the connector with --require.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const GUIDE = path.join(ROOT, 'docs/connectors/writing-a-connector.md');

/** The first TypeScript block of the guide's section on connectors outside this repository. */
function documentedTest(): string {
  const guide = fs.readFileSync(GUIDE, 'utf8');
  const section = guide.slice(guide.indexOf('## 7. The conformance suite for a connector outside this repository'));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  if (block === null) throw new Error(`no \`\`\`ts block in section 7 of ${GUIDE}`);
  return block[1];
}

interface JestReport {
  numFailedTests: number;
  numPassedTests: number;
  testResults: { assertionResults: { title: string; status: string; failureMessages: string[] }[]; message: string }[];
}

describe('wasm-pipes/driver/conformance from a project of its own', () => {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'dirq-connector-'));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir() };

  beforeAll(() => {
    // the package as built (dist/ and package.json's exports), as `npm install` would place it: a copy taken now, so
    // that nothing the rest of the suite does in the checkout meanwhile can change it under this project's jest; its
    // dependencies are the checkout's (a link, as npm would nest or hoist them)
    const installed = path.join(project, 'node_modules/wasm-pipes');
    fs.mkdirSync(installed, { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(installed, 'package.json'));
    fs.cpSync(path.join(ROOT, 'dist'), path.join(installed, 'dist'), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(installed, 'node_modules'), 'dir');
    for (const entry of ['lib/conformance/index.js', 'lib/conformance/index.d.ts', 'bin/wasm-pipes.js']) {
      if (!fs.existsSync(path.join(installed, 'dist', entry)))
        throw new Error(`dist/${entry} is missing from the build: run npm run build`);
    }
    fs.mkdirSync(path.join(project, 'src'));
    fs.mkdirSync(path.join(project, 'test'));
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'dirq', version: '1.0.0', private: true }));
    fs.copyFileSync(path.join(__dirname, 'external/register.js'), path.join(project, 'src/register.js'));
    fs.copyFileSync(path.join(__dirname, 'external/admin.ts'), path.join(project, 'test/admin.ts'));
    fs.writeFileSync(path.join(project, 'test/dirq.test.ts'), documentedTest());
  });

  afterAll(() => fs.rmSync(project, { recursive: true, force: true }));

  test('importing it needs no test framework, and calling it outside one says what it needs', () => {
    const script =
      "const { conformance } = require('wasm-pipes/driver/conformance');" +
      "try { conformance({ name: 'x', redelivery: true, subscribeFirst: false, endpoints: async () => ({ sourceUri: '', sinkUri: '' }) }); }" +
      'catch (error) { console.log(error.message); }';
    const run = spawnSync(process.execPath, ['-e', script], { cwd: project, env, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(
      /^conformance\(\) declares tests, so it must be called from a test file run by jest .*missing globals: describe, test/,
    );
  });

  test("the guide's test file type-checks against the package's declarations (node16 resolution, strict)", () => {
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'node16',
          moduleResolution: 'node16',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          esModuleInterop: true,
          types: ['node', 'jest'],
          typeRoots: [path.join(ROOT, 'node_modules/@types')],
        },
        include: ['test/**/*.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], {
      cwd: project,
      env,
      encoding: 'utf8',
    });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });

  test("the guide's test file, run by jest there, passes every check and the crash test of the bin", () => {
    fs.writeFileSync(
      path.join(project, 'jest.config.js'),
      `module.exports = ${JSON.stringify({
        rootDir: project,
        testEnvironment: 'node',
        testMatch: ['<rootDir>/test/**/*.test.ts'],
        transform: {
          '^.+\\.ts$': [path.join(ROOT, 'node_modules/ts-jest'), { isolatedModules: true, tsconfig: { esModuleInterop: true } }],
        },
      })};\n`,
    );
    const report = path.join(project, 'report.json');
    // the child's own exit code is in the report; execFileSync would throw on a failing test before we could read it
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'node_modules/jest/bin/jest.js'), '--ci', '--json', `--outputFile=${report}`], {
        cwd: project,
        env,
        stdio: 'pipe',
        timeout: 280_000,
      });
    } catch {
      // read below
    }
    const result = JSON.parse(fs.readFileSync(report, 'utf8')) as JestReport;
    const outcomes = result.testResults.flatMap((file) =>
      file.assertionResults.map(
        (test) => `${test.status}: ${test.title}${test.failureMessages.length > 0 ? `\n${test.failureMessages.join('\n')}` : ''}`,
      ),
    );
    expect({ failed: result.numFailedTests, outcomes, message: result.testResults.map((file) => file.message).join('') }).toEqual({
      failed: 0,
      outcomes: outcomes.filter((line) => line.startsWith('passed: ')),
      message: '',
    });
    expect(outcomes).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^passed: crash: kill -9 of the bin/),
        expect.stringMatching(/^passed: missing queue: a source/),
      ]),
    );
    expect(result.numPassedTests).toBe(13);
  }, 300_000);
});
