// The file:// sink appending to a file that does not end with a newline (a line torn by a crash or a full disk before
// this run): its first line starts on a line of its own, so that both stay readable.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sink } from '../../lib/endpoints';
import { send } from '../helpers/endpoints';
import { uniqueName } from '../helpers/wait';

test('a file that ends mid-line gets a newline before the first appended line', async () => {
  const file = path.join(os.tmpdir(), `${uniqueName('torn')}.jsonl`);
  fs.writeFileSync(file, '{"id":"whole","body":"a"}\n{"id":"to');
  try {
    const out = sink(`file://${file}`);
    expect(await send(out, [{ id: 'next', body: 'b' }])).toEqual([undefined]);
    await out.close();
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    expect(lines).toEqual(['{"id":"whole","body":"a"}', '{"id":"to', expect.stringContaining('"id":"next"'), '']);
  } finally {
    fs.rmSync(file, { force: true });
  }
});
