// docs/connectors/local.md: its commands run as written (with the built bin for `./wasm-pipes`, and a file of this
// run for the /tmp file it names), and print what the page shows.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, binEnv } from '../helpers/bin';
import { uniqueName } from '../helpers/wait';

const page = fs.readFileSync(path.resolve(__dirname, '../../docs/connectors/local.md'), 'utf8');

test('the first commands of the page store two lines in a file and print them back as shown', () => {
  const commands = /```sh\n([\s\S]*?)```/.exec(page)?.[1] ?? '';
  const shown = /```text\n([\s\S]*?)```/.exec(page)?.[1] ?? '';
  expect(commands).toContain('./wasm-pipes');
  const file = path.join(os.tmpdir(), `${uniqueName('local-docs')}.jsonl`);
  const script = commands
    .replaceAll('./wasm-pipes', `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)}`)
    .replaceAll('/tmp/wasm-pipes-local.jsonl', file);
  try {
    const result = spawnSync('bash', ['--norc', '--noprofile', '-c', `set -euo pipefail\n${script}`], {
      env: binEnv({ LOG_LEVEL: 'warn' }),
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    expect(result.stdout).toBe(shown);
  } finally {
    fs.rmSync(file, { force: true });
  }
});
