import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { envelopeBodies } from '../helpers/bin';

test('examples/typescript/uppercase-relay.ts runs as the README shows: stdin -> filter -> uppercase -> stdout + file', () => {
  const file = '/tmp/wasm-pipes-example.jsonl';
  fs.rmSync(file, { force: true });
  const result = spawnSync(process.execPath, [path.resolve(__dirname, '../../dist/examples/typescript/uppercase-relay.js')], {
    input: 'hello\n{}\nworld\n',
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(result.status).toBe(0);
  expect(envelopeBodies(result.stdout)).toEqual(['HELLO', 'WORLD']);
  const written = fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { body: string; metadata: Record<string, string> });
  expect(written.map((line) => line.body)).toEqual(['HELLO', 'WORLD']);
  expect(written[0].metadata.relayed).toBe('yes');
  fs.rmSync(file, { force: true });
});
