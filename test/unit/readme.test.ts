// The README is the front door: its examples must be the code that the tests run, and its reference complete.
import fs from 'node:fs';
import path from 'node:path';
import { ENV_VARIABLES } from '../../bin/env';

const root = path.resolve(__dirname, '../..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

describe('README', () => {
  test('starts with the two commands: install and run the default, and run the tests', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    // the clone's own script, not npx: no npm cache to break, and signals reach the bin (test/integration/bin.test.ts)
    expect(firstBlock).toContain('npm install && ./wasm-pipes');
    expect(firstBlock).not.toContain('npx');
    expect(firstBlock).toContain('npm run setup && npm test');
    expect(readme.indexOf('```sh')).toBeLessThan(200);
  });

  test('the TypeScript example is the file the example test runs, word for word', () => {
    const example = fs.readFileSync(path.join(root, 'examples/typescript/uppercase-relay.ts'), 'utf8');
    expect(readme).toContain('```ts\n' + example + '```');
  });

  test('docs/configuration.md documents every environment variable of the bin', () => {
    const configuration = fs.readFileSync(path.join(root, 'docs/configuration.md'), 'utf8');
    for (const variable of ENV_VARIABLES) expect(configuration).toContain(`\`${variable.name}\``);
  });

  test('stays a front door: under 12 KB, the rest in docs/', () => {
    expect(Buffer.byteLength(readme)).toBeLessThan(12 * 1024);
  });

  test('the CI script runs the README test command', () => {
    const ci = fs.readFileSync(path.join(root, '.ci/run'), 'utf8');
    expect(ci).toContain('npm run setup');
    expect(ci).toMatch(/npm test -- --json/);
    // and the lint (docs/development.md), whose failure fails CI
    expect(ci).toMatch(/^npm run lint/m);
    expect(ci).toContain('exit "$lint_status"');
  });
});
