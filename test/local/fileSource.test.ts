// file:// closes what it opened and nothing else: a process that reads a file never opens its own stdin (reading
// process.stdin in a close would create the stream and its pipe handle). Run in a child of the built library, with
// a pipe as stdin, and read from its libuv report.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repositoryRoot } from '../fixtures/root';

const CHILD = `
const fs = require('node:fs');
const { source, start } = require(process.argv[1]);
const file = process.argv[2];
(async () => {
  const got = [];
  const into = { name: 'held', ready: true, next: (m) => { got.push(m.text()); m.ack(); }, error() {}, complete() {}, close: async () => {} };
  const running = start(source('file://' + file), into, { handleSignals: false });
  while (got.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  await running.stop();
  const stdin = process.report.getReport().libuv.filter((handle) => handle.fd === 0).map((handle) => handle.type);
  process.stdout.write(JSON.stringify({ got, stdin }));
})();
`;

test('a file:// source, started and stopped, leaves stdin unopened', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'file-source-'));
  try {
    const file = path.join(dir, 'lines.txt');
    fs.writeFileSync(file, 'a\nb\n');
    const child = spawnSync(process.execPath, ['-e', CHILD, path.join(repositoryRoot(), 'dist', 'lib'), file], {
      input: '',
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual({ got: ['a', 'b'], stdin: [] });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
