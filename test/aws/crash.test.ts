// At least once across a crash: the bin relays 10 000 messages SQS -> SQS, is killed with SIGKILL mid-way and
// restarted; every message arrives (duplicates allowed, losses not), and the input queue ends empty.
import os from 'node:os';
import { uniqueName, waitFor } from '../helpers/wait';
import { BinProcess } from '../helpers/bin';
import { missingIds } from '../helpers/crash';
import { AWS_TEST_ENV, Fauxqs, QueueInfo } from './fauxqs';

const TOTAL = 10_000;

/** Polls the emulator every 200 ms until `condition` resolves true. */
function until(condition: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  return waitFor(condition, what, timeoutMs, 200);
}

describe('crash: the bin relaying SQS -> SQS', () => {
  let fauxqs: Fauxqs;
  const bins: BinProcess[] = [];
  let input: QueueInfo;
  let output: QueueInfo;

  beforeAll(async () => {
    fauxqs = await Fauxqs.start();
  });
  afterAll(async () => {
    for (const bin of bins) await bin.kill();
    await fauxqs.deleteQueue(input);
    await fauxqs.deleteQueue(output);
    await fauxqs.stop();
  });

  test(`${TOTAL} messages, kill -9 mid-way, restart: every message arrives`, async () => {
    input = await fauxqs.createQueue(uniqueName('crash-in'));
    output = await fauxqs.createQueue(uniqueName('crash-out'));
    await fauxqs.fill(input, Array.from({ length: TOTAL }, (_, i) => ({ MessageBody: `m-${i}` })));
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: os.tmpdir(),
      ...AWS_TEST_ENV,
      // a short visibility timeout, so that what the killed process held comes back quickly
      SOURCE_URI: fauxqs.sqsUri(input.name, { visibility: '2s' }),
      SINK_URI: fauxqs.sqsUri(output.name),
      LOG_LEVEL: 'warn',
    };

    const first = new BinProcess(env);
    bins.push(first);
    await until(async () => (await fauxqs.counts(output)).waiting >= 3000, '3000 messages relayed', 60_000);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBeNull();
    const atCrash = await fauxqs.counts(input);
    expect(atCrash.waiting + atCrash.inFlight).toBeGreaterThan(0); // really mid-way: work was left

    const second = new BinProcess(env);
    bins.push(second);
    let bodies = new Set<string>();
    await until(
      async () => {
        if ((await fauxqs.counts(output)).waiting < TOTAL) return false;
        bodies = new Set((await fauxqs.inspect(output)).ready);
        return bodies.size >= TOTAL;
      },
      'every message in the output queue',
      90_000,
    );
    expect(missingIds(bodies, 'm-', TOTAL)).toEqual([]);

    // the input queue empties: every relayed message was deleted once the output confirmed it
    await until(async () => {
      const left = await fauxqs.counts(input);
      return left.waiting + left.inFlight === 0;
    }, 'the input queue to empty', 30_000);

    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(second.stderr).not.toMatch(/"level":50/);
  });
});
