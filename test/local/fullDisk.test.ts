// file:// and stdout:// on a disk that fills up: a message is acked only when its whole line is on the disk, a batch
// the disk took only part of fails (and file:// cuts the part back off), and the bin survives ENOSPC on its stdout.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { sink } from '../../lib/endpoints';
import { send } from '../helpers/endpoints';
import { runBinToEnd, BIN, binEnv } from '../helpers/bin';
import { mountSmallDisk, type SmallDisk } from '../helpers/smallDisk';
import { uniqueName } from '../helpers/wait';

const PADDING = 'x'.repeat(60);
const TOTAL = 1000;

/** The parsed JSON lines of a file, and the lines that are not JSON (torn by a full disk). */
function readLines(file: string): { records: { id: string; body: string }[]; fragments: string[] } {
  const records: { id: string; body: string }[] = [];
  const fragments: string[] = [];
  const text = file === '/dev/full' || !fs.existsSync(file) ? '' : fs.readFileSync(file, 'utf8');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      records.push(JSON.parse(line) as { id: string; body: string });
    } catch {
      fragments.push(line);
    }
  }
  return { records, fragments };
}

describe('a full disk', () => {
  let disk: SmallDisk;
  const cleanup: string[] = [];

  beforeEach(() => {
    disk = mountSmallDisk();
  });

  afterEach(() => {
    disk.release();
    for (const file of cleanup.splice(0)) fs.rmSync(file, { force: true });
  });

  test('file://: exactly the acked messages are on the disk, each as a whole line; the others fail with ENOSPC', async () => {
    const target = disk.file('out.jsonl');
    // batches of 50 (about 5 KiB), so that some fit before the disk is full and one is cut short
    const out = sink(`file://${target}`, { retry: { maxAttempts: 1 }, batch: { count: 50 } });
    const inits = Array.from({ length: TOTAL }, (_, i) => ({ id: `m${i}`, body: `message ${i} ${PADDING}` }));
    const outcomes = await send(out, inits);
    await out.close();

    const acked = inits.filter((_, i) => outcomes[i] === undefined).map((init) => init.id);
    const failures = outcomes.filter((outcome): outcome is Error => outcome !== undefined);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures[0].message).toMatch(/no space left on (the )?device/i);

    const { records, fragments } = readLines(target);
    expect(fragments).toEqual([]); // a batch the disk took only part of was cut back off
    expect(records.map((record) => record.id).sort()).toEqual([...acked].sort());
    if (disk.kind === 'tmpfs') expect(acked.length).toBeGreaterThan(0);
  });

  test('stdout:// redirected to the full disk: the bin does not crash, and every line is on the disk whole or in the dead letter', async () => {
    const target = disk.file('stdout.jsonl');
    const deadLetter = path.join(os.tmpdir(), `${uniqueName('full-disk-dead-letter')}.jsonl`);
    cleanup.push(deadLetter);
    const bodies = Array.from({ length: TOTAL }, (_, i) => `line ${i} ${PADDING}`);
    const fd = fs.openSync(target, 'w');
    let result;
    try {
      result = await runBinToEnd(
        {
          SOURCE_URI: 'stdin://',
          SINK_URI: 'stdout://',
          DEAD_LETTER_URI: `file://${deadLetter}`,
          MAX_DELIVERIES: '2',
          SINK_MAX_ATTEMPTS: '1',
          LOG_LEVEL: 'warn',
        },
        bodies.join('\n') + '\n',
        { stdout: fd, timeoutMs: 50_000 },
      );
    } finally {
      fs.closeSync(fd);
    }
    expect(result.stderr).not.toMatch(/Unhandled 'error' event|ENOSPC: no space left on device, write/);
    expect(result.status).not.toBeNull(); // ended on its own, not killed at the timeout

    const written = readLines(target).records.map((record) => record.body);
    const deadLettered = readLines(deadLetter).records.map((record) => record.body);
    if (disk.kind === 'tmpfs') expect(written.length).toBeGreaterThan(0);
    expect(written.length).toBeLessThan(TOTAL); // the disk really was full
    const accounted = new Set([...written, ...deadLettered]);
    expect(bodies.filter((body) => !accounted.has(body))).toEqual([]);
  }, 60_000);
});

test('stdout:// into a pipe whose reader has gone: writes fail (EPIPE) and the bin ends without a crash', async () => {
  const child = spawn(process.execPath, [BIN], {
    env: binEnv({ LOG_LEVEL: 'warn', SOURCE_URI: 'stdin://', SINK_URI: 'stdout://', MAX_DELIVERIES: '1', SINK_MAX_ATTEMPTS: '1' }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.destroy(); // the reader leaves before the first line
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdin.end(Array.from({ length: 200 }, (_, i) => `line ${i}`).join('\n') + '\n');
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const status = await exited;
  clearTimeout(killer);
  expect(stderr).not.toMatch(/Unhandled 'error' event/);
  expect(status).not.toBeNull();
}, 40_000);
