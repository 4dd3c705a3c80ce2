// The benchmark harness: each scenario runs its baseline and its candidate in the same process run, alternating,
// for several rounds, and reports medians and the candidate/baseline ratio (shared, noisy machines make absolute
// numbers meaningless; a ratio measured side by side is not).

export interface Contender {
  name: string;
  /** Processes `messages` messages once; resolves to the measured value (see Scenario.unit). */
  run(messages: number): Promise<number>;
}

export interface Scenario {
  id: string;
  title: string;
  /** Messages per round, and in BENCH_QUICK mode. */
  messages: number;
  quickMessages: number;
  /** Minimum candidate/baseline ratio of throughput (higher is better). */
  target: number;
  /**
   * For a scenario whose target is a cost, not a ratio: the most µs a message the candidate may take over the
   * baseline. When set, it decides the verdict instead of `target` (the ratio is still reported): the ratio a cost
   * amounts to moves with the baseline's speed on the machine of the day.
   */
  maxExtraMicros?: number;
  /** Measured rounds per contender (default: 2 quick, 5 full), for scenarios too long to repeat. */
  rounds?: { quick?: number; full?: number };
  /** Run the unmeasured warm-up round (default true). */
  warmup?: boolean;
  /** What `run` resolves to: elapsed milliseconds (throughput = messages / ms), or a custom value where higher is better. */
  unit?: 'ms' | 'higher-is-better';
  baseline: Contender;
  candidate: Contender;
  /** Prepare and clean up shared resources (servers, topics). */
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  /** Checks that must hold after the candidate's rounds (nothing lost, memory bounds): a failure fails the run. */
  verify?(): Promise<string[]>;
}

export interface ScenarioResult {
  id: string;
  title: string;
  messages: number;
  rounds: number;
  baseline: { name: string; median: number; unit: string };
  candidate: { name: string; median: number; unit: string };
  ratio: number;
  target: number;
  /** Set for a scenario judged by its cost a message over the baseline (Scenario.maxExtraMicros). */
  maxExtraMicros?: number;
  /** What the candidate took a message over the baseline, in µs (throughput scenarios). */
  extraMicros?: number;
  pass: boolean;
  notes: string[];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Whether a scenario's result meets its target: its cost over the baseline when it has one, else its ratio. */
function meetsTarget(scenario: Scenario, ratio: number, extraMicros: number | undefined): boolean {
  if (scenario.maxExtraMicros === undefined) return ratio >= scenario.target;
  return extraMicros !== undefined && extraMicros <= scenario.maxExtraMicros;
}

/** The target as the results table shows it. */
export function targetText(result: Pick<ScenarioResult, 'target' | 'maxExtraMicros'>): string {
  return result.maxExtraMicros === undefined ? `>= ${result.target}` : `<= +${result.maxExtraMicros} µs/msg`;
}

export async function runScenario(scenario: Scenario, quick: boolean): Promise<ScenarioResult> {
  const messages = quick ? scenario.quickMessages : scenario.messages;
  const rounds = (quick ? scenario.rounds?.quick : scenario.rounds?.full) ?? (quick ? 2 : 5);
  const throughput = scenario.unit !== 'higher-is-better';
  const baseline: number[] = [];
  const candidate: number[] = [];
  await scenario.setup?.();
  try {
    // one warm-up round each, not counted: JIT, connection set-up
    if (scenario.warmup !== false) {
      await scenario.baseline.run(Math.max(1, Math.floor(messages / 10)));
      await scenario.candidate.run(Math.max(1, Math.floor(messages / 10)));
    }
    for (let round = 0; round < rounds; round++) {
      const measure = async (contender: Contender, into: number[]): Promise<void> => {
        // each side starts with the heap the other left collected (npm run bench exposes gc): otherwise one side's
        // garbage is collected in the other's time
        (globalThis as { gc?: () => void }).gc?.();
        const value = await contender.run(messages);
        into.push(throughput ? (messages / value) * 1000 : value);
      };
      // alternate the order so that neither side always runs on a warmer or cooler machine
      if (round % 2 === 0) {
        await measure(scenario.baseline, baseline);
        await measure(scenario.candidate, candidate);
      } else {
        await measure(scenario.candidate, candidate);
        await measure(scenario.baseline, baseline);
      }
    }
    const notes = (await scenario.verify?.()) ?? [];
    const baselineMedian = median(baseline);
    const candidateMedian = median(candidate);
    const ratio = candidateMedian / baselineMedian;
    const unit = throughput ? 'msg/s' : 'value';
    const extraMicros = throughput ? 1e6 / candidateMedian - 1e6 / baselineMedian : undefined;
    if (extraMicros !== undefined) {
      notes.push(
        `per-message cost: candidate ${(1e6 / candidateMedian).toFixed(2)} µs, baseline ${(1e6 / baselineMedian).toFixed(2)} µs, difference ${extraMicros.toFixed(2)} µs`,
      );
    }
    return {
      id: scenario.id,
      title: scenario.title,
      messages,
      rounds,
      baseline: { name: scenario.baseline.name, median: baselineMedian, unit },
      candidate: { name: scenario.candidate.name, median: candidateMedian, unit },
      ratio,
      target: scenario.target,
      maxExtraMicros: scenario.maxExtraMicros,
      extraMicros,
      pass: meetsTarget(scenario, ratio, extraMicros) && notes.every((note) => !note.startsWith('FAIL')),
      notes,
    };
  } finally {
    await scenario.teardown?.();
  }
}
