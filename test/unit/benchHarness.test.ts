// The benchmark harness's verdict: a ratio target, or for a scenario whose target is a cost (P0: settlement under
// 0.5 µs a message), the µs a message over the baseline.
import { runScenario, targetText, type Scenario } from '../../bench/harness';

/** A scenario whose sides take `baselineMicros` and `candidateMicros` a message (their runs report the elapsed ms). */
function scenario(baselineMicros: number, candidateMicros: number, judged: Partial<Scenario>): Scenario {
  return {
    id: 'T',
    title: 'fixed costs',
    messages: 1000,
    quickMessages: 1000,
    target: 0.9,
    warmup: false,
    rounds: { quick: 1 },
    baseline: { name: 'baseline', run: async (messages) => (messages * baselineMicros) / 1000 },
    candidate: { name: 'candidate', run: async (messages) => (messages * candidateMicros) / 1000 },
    ...judged,
  };
}

describe('bench harness', () => {
  test('a cost target judges the µs a message over the baseline, whatever the ratio', async () => {
    const within = await runScenario(scenario(0.5, 0.9, { maxExtraMicros: 0.5 }), true);
    expect(within.ratio).toBeCloseTo(0.56, 2);
    expect(within.extraMicros).toBeCloseTo(0.4, 6);
    expect(within.pass).toBe(true);
    // a ratio over the 0.9 target does not save a cost over the limit
    const over = await runScenario(scenario(10, 10.6, { maxExtraMicros: 0.5 }), true);
    expect(over.ratio).toBeGreaterThan(0.9);
    expect(over.pass).toBe(false);
    expect(targetText(over)).toBe('<= +0.5 µs/msg');
  });

  test('without one, the ratio decides', async () => {
    expect((await runScenario(scenario(1, 1.05, {}), true)).pass).toBe(true);
    const slow = await runScenario(scenario(1, 1.2, {}), true);
    expect(slow.pass).toBe(false);
    expect(targetText(slow)).toBe('>= 0.9');
  });
});
