// The `wasm-pipes/driver/conformance` entry: the conformance suite, for connectors in this repository and outside it.
// Importing it needs no test framework; calling conformance() declares the tests with the running framework's globals.
import type { ConformanceTarget } from './target';
import { testRunner } from './harness';
import { declareChecks } from './checks';
import { declareCrash } from './crash';

export type { ConformanceTarget, ConformanceEndpoints, MissingEndpoint, CrashOptions } from './target';

/** Long enough for a target to start its emulator or broker in beforeAll. */
const HOOK_TIMEOUT_MS = 120_000;

/**
 * Declares the conformance tests of one connector (call it at the top level of a jest test file): the driver checks,
 * and the kill -9 crash test of the bin where the service redelivers.
 *
 * @example
 * conformance({
 *   name: 'myqueue://',
 *   redelivery: true,
 *   subscribeFirst: false,
 *   async endpoints() {
 *     const queue = await createQueue();
 *     return { sourceUri: `myqueue://${queue}`, sinkUri: `myqueue://${queue}`, cleanup: () => deleteQueue(queue) };
 *   },
 *   missing: { name: 'no-such-queue', sourceUri: 'myqueue://no-such-queue', sinkUri: 'myqueue://no-such-queue' },
 *   refused: { body: Buffer.alloc(2 * 1024 * 1024) },
 * });
 */
export function conformance(target: ConformanceTarget): void {
  const runner = testRunner();
  runner.describe(`conformance: ${target.name}`, () => {
    runner.beforeAll(async () => {
      await target.beforeAll?.();
    }, HOOK_TIMEOUT_MS);
    runner.afterAll(async () => {
      await target.afterAll?.();
    }, HOOK_TIMEOUT_MS);
    runner.describe('driver', () => declareChecks(runner, target));
    runner.describe('bin', () => declareCrash(runner, target));
  });
}
