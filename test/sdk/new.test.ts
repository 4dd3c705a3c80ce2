// `wasm-pipes new NAME --lang L` for every language: the generated folder builds with the command its README gives
// and passes `npx wasm-pipes test` as generated, both run as written from the README, in a fresh folder of this
// repository (as a user of a clone would); and a wrong expectation added to its cases makes the same command fail.
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { runBinToEnd } from '../helpers/bin';
import { ROOT } from './helpers';

/** Where the generated projects go: inside the repository (npx finds this package from there), git-ignored. */
const WORK = path.join(ROOT, '.cache', 'sdk-tests', `new-${process.pid}-${Date.now().toString(36)}`);

beforeAll(() => fs.mkdirSync(WORK, { recursive: true }));
afterAll(() => fs.rmSync(WORK, { recursive: true, force: true }));

/** The commands of the README's first ```sh block. */
function readmeCommands(folder: string): string[] {
  const readme = fs.readFileSync(path.join(folder, 'README.md'), 'utf8');
  const block = /```sh\n([\s\S]*?)```/.exec(readme);
  if (block === null) throw new Error(`no sh block in ${folder}/README.md`);
  return block[1].split('\n').filter((line) => line.trim() !== '');
}

/** Build commands the README gives in its text (inline code), as docs.test.ts finds them. */
function inlineCommands(folder: string): string[] {
  const prose = fs.readFileSync(path.join(folder, 'README.md'), 'utf8').replace(/```[a-z]*\n[\s\S]*?```/g, '');
  const command = /`((?:clang|\/usr\/bin\/rustc|rustc) -[^`]*|(?:\/usr\/bin\/cargo|cargo) build[^`]*|npx (?:asc|wat2wasm) [^`]*|RUSTC=[^`]*)`/g;
  return [...prose.matchAll(command)].map((match) => match[1]);
}

function shell(command: string, cwd: string): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', command], { cwd, env: { ...process.env, NO_COLOR: '1' }, timeout: 240_000 }, (error, stdout, stderr) => {
      resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, output: `${stdout}${stderr}` });
    });
  });
}

describe.each(['assemblyscript', 'c', 'rust', 'wat'])('wasm-pipes new --lang %s', (language) => {
  test('builds with its README commands and passes wasm-pipes test out of the box; a wrong case fails it', async () => {
    const name = `demo-${language}`;
    const created = await runBinToEnd({}, '', { args: ['new', name, '--lang', language], cwd: WORK });
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    expect(created.stdout).toContain(`next: cd ${name} && make && npx wasm-pipes test`);
    const folder = path.join(WORK, name);
    const commands = readmeCommands(folder);
    expect(commands).toEqual(['make', 'npx wasm-pipes test']);
    const build = await shell(commands[0], folder);
    expect(build.output).not.toMatch(/error/i);
    expect(build.status).toBe(0);
    expect(fs.existsSync(path.join(folder, `${name}.wasm`))).toBe(true);
    const tested = await shell(commands[1], folder);
    expect(tested.output).toMatch(/\d case\(s\): \d passed, 0 failed/);
    expect(tested.output).not.toContain('FAIL');
    expect(tested.status).toBe(0);

    // the commands the README names in its text run too, as written, and build a module that passes the cases
    const named = inlineCommands(folder);
    expect(named.length).toBeGreaterThan(0);
    for (const command of named) {
      fs.rmSync(path.join(folder, `${name}.wasm`), { force: true });
      const again = await shell(command, folder);
      expect(again.output).not.toMatch(/error/i);
      expect(again.status).toBe(0);
      if (/cargo build/.test(command)) {
        fs.copyFileSync(path.join(folder, 'target', 'wasm32-unknown-unknown', 'release', `${name.replace(/-/g, '_')}.wasm`), path.join(folder, `${name}.wasm`));
      }
      const retested = await shell(commands[1], folder);
      expect(retested.output).not.toContain('FAIL');
      expect(retested.status).toBe(0);
    }

    // a wrong expectation: the same command exits 1 and shows the diff
    const cases = JSON.parse(fs.readFileSync(path.join(folder, 'cases.json'), 'utf8')) as { cases: { expect: unknown }[] };
    cases.cases[0].expect = ['HELLO, WORLD!'];
    fs.writeFileSync(path.join(folder, 'cases.json'), JSON.stringify(cases));
    const failing = await shell(commands[1], folder);
    expect(failing.output).toContain('  FAIL  uppercases the body');
    expect(failing.output).toContain('- "HELLO, WORLD!"');
    expect(failing.output).toContain('+ "HELLO, WORLD"');
    expect(failing.status).toBe(1);
  }, 300_000); // compilers and npx, several times: minutes on a loaded machine
});

test('new refuses a bad name, an unknown language and a folder that is not empty, naming the fix', async () => {
  const badName = await runBinToEnd({}, '', { args: ['new', 'Demo_1'], cwd: WORK });
  expect(badName.stderr).toBe(
    "wasm-pipes: 'Demo_1' is not a module name: use lower-case letters, digits and dashes, starting with a letter (for example redact-ssn)\n",
  );
  expect(badName.status).toBe(2);
  const badLanguage = await runBinToEnd({}, '', { args: ['new', 'demo', '--lang', 'go'], cwd: WORK });
  expect(badLanguage.stderr).toBe("wasm-pipes: --lang 'go' is not one of assemblyscript, c, rust, wat\n");
  expect(badLanguage.status).toBe(2);
  fs.mkdirSync(path.join(WORK, 'taken'));
  fs.writeFileSync(path.join(WORK, 'taken', 'file'), 'x');
  const taken = await runBinToEnd({}, '', { args: ['new', 'taken'], cwd: WORK });
  expect(taken.stderr).toContain('already exists and is not an empty folder; choose another name or --dir');
  expect(taken.status).toBe(2);
  expect(fs.readdirSync(path.join(WORK, 'taken'))).toEqual(['file']);
});
