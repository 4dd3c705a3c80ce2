// The at-least-once crash tests: the bin killed with SIGKILL in the middle of a relay and started again, and the
// check that nothing was lost.
import { BinProcess } from './bin';
import { sleep } from './wait';

/**
 * Starts the bin with `env`, waits (up to 30 s) until `relayed()` reaches a third of `total`, kills it with SIGKILL,
 * checks that it died mid-way (fewer than `total` relayed), and starts a second one with the same environment,
 * returned once started. Both go into `bins`, for the file's clean-up.
 */
export async function killMidwayAndRestart(
  env: Record<string, string>,
  bins: BinProcess[],
  total: number,
  relayed: () => Promise<number>,
  where: string,
): Promise<BinProcess> {
  const first = new BinProcess(env);
  bins.push(first);
  await first.started();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && (await relayed()) < total / 3) await sleep(5);
  await first.kill();
  const afterKill = await relayed();
  expect(afterKill).toBeLessThan(total); // really mid-way
  console.log(`crash test: ${afterKill} of ${total} in ${where} when the bin was killed`);

  const second = new BinProcess(env);
  bins.push(second);
  await second.started();
  return second;
}

/** Of the ids `${prefix}0` .. `${prefix}${total - 1}`, those not in `seen`. */
export function missingIds(seen: ReadonlySet<string>, prefix: string, total: number): string[] {
  return Array.from({ length: total }, (_, i) => `${prefix}${i}`).filter((id) => !seen.has(id));
}
