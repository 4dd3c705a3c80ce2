// docs/connectors/local.md: its commands run as written (with the built bin for `./wasm-pipes`, and a file of this
// run for the /tmp file it names), and print what the page shows.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { binEnv } from '../helpers/bin';
import { pageScriptArgs } from '../helpers/docExamples';
import { uniqueName } from '../helpers/wait';

const page = fs.readFileSync(path.resolve(__dirname, '../../docs/connectors/local.md'), 'utf8');

test('the first commands of the page store two lines in a file and print them back as shown', () => {
  const shown = /```text\n([\s\S]*?)```/.exec(page)?.[1] ?? '';
  const file = path.join(os.tmpdir(), `${uniqueName('local-docs')}.jsonl`);
  try {
    const result = spawnSync('bash', pageScriptArgs(page, { '/tmp/wasm-pipes-local.jsonl': file }), {
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
