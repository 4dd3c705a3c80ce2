// The subcommand dispatcher: a command file in the commands folder is run with its arguments and its exit code is
// the bin's; the help lists exactly the command files there are; anything else is a usage error (exit 2).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main, schemeHelp } from '../../bin/cli';
import { commandNames } from '../../bin/dispatch';

/** Runs main() with stdout and stderr captured. */
async function runMain(argv: string[], commandsDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    const code = await main(argv, { commandsDir });
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('the subcommand dispatcher', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-commands-'));
    // a command that records its arguments and answers with an exit code of its choosing
    fs.writeFileSync(
      path.join(dir, 'echo-args.js'),
      `exports.description = 'prints its arguments';
       exports.main = async (args) => { process.stdout.write('args:' + JSON.stringify(args) + '\\n'); return args.includes('--fail') ? 3 : 0; };`,
    );
    fs.writeFileSync(
      path.join(dir, 'bad-config.js'),
      `const { ConfigError } = require(${JSON.stringify(path.resolve(__dirname, '../../lib/errors'))});
       exports.main = async () => { throw new ConfigError("'x' is not a y; for example Z=1", { variable: 'Z' }); };`,
    );
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a command');
    fs.writeFileSync(path.join(dir, 'types.d.ts'), 'export {};');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the commands are the files of the folder (declarations, other files and the built-in help excluded)', () => {
    expect(commandNames(dir)).toEqual(['bad-config', 'echo-args']);
    expect(commandNames(path.join(dir, 'missing'))).toEqual([]);
  });

  test('a known command gets the arguments after its name, and its exit code is the exit code', async () => {
    const ok = await runMain(['echo-args', 'a', '--flag'], dir);
    expect(ok).toMatchObject({ code: 0, stdout: 'args:["a","--flag"]\n' });
    const failed = await runMain(['echo-args', '--fail'], dir);
    expect(failed.code).toBe(3);
  });

  test('a ConfigError from a command is the usual one line and exit 2', async () => {
    const result = await runMain(['bad-config'], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("wasm-pipes: Z: 'x' is not a y; for example Z=1\n");
  });

  test('help lists the commands that exist, with their descriptions', async () => {
    for (const argv of [['help'], ['--help'], ['-h']]) {
      const result = await runMain(argv, dir);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/Commands:\n {2}\(none\) +run the pipeline/);
      expect(result.stdout).toMatch(/\n {2}echo-args +prints its arguments\n/);
      expect(result.stdout).toMatch(/\n {2}bad-config\n/);
    }
  });

  test('an unknown command or option exits 2 with the list of commands, and never runs the pipeline', async () => {
    for (const argv of [['frobnicate'], ['check'], ['new', 'x'], ['--bogus'], ['--help', 'extra']]) {
      const result = await runMain(argv, dir);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(`'${argv[argv.length === 2 && argv[0] === '--help' ? 1 : 0]}'`);
      expect(result.stderr).toContain('the commands are: help, bad-config, echo-args');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('help SCHEME', () => {
  test("prints a connector's URI parameters from its described table, and refuses an unknown scheme with exit 2", () => {
    const text = schemeHelp('kafka://');
    expect(text).toContain('Source parameters:');
    for (const name of ['topic', 'offset', 'key_name']) expect(text).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    expect(text).toContain('(default oldest)');
    expect(() => schemeHelp('bogus')).toThrow("unknown scheme 'bogus://'");
  });
});
