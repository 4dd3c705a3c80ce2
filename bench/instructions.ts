// `npm run bench:instructions`: what a message costs in CPU instructions rather than seconds, for the in-process
// scenarios (P0 by default; BENCH_ONLY=P0,OPS1 to pick). Seconds on these shared 2-core machines swing by half from
// one run to the next; instructions counted by valgrind (callgrind) do not depend on what else runs. Each contender
// runs in a process of its own under `valgrind --tool=callgrind`, with `node --predictable` (no background compiler
// or garbage-collector threads, whose share would depend on timing), once with SMALL and once with LARGE messages:
// the difference over LARGE - SMALL messages is the cost of one message, start-up and compilation left out.
// BENCH_INSTRUCTIONS_MESSAGES=SMALL,LARGE sets the two counts (default 100000,300000: about a minute a run).
import { spawnSync } from 'node:child_process';
import { scenarios } from './scenarios';

type Side = 'baseline' | 'candidate';

/** In a child: runs one contender of one scenario over `messages` messages, then exits. */
async function child(id: string, side: Side, messages: number): Promise<void> {
  const scenario = scenarios.find((candidate) => candidate.id.toUpperCase() === id);
  if (scenario === undefined) throw new Error(`no scenario ${id}`);
  await scenario.setup?.();
  await scenario[side].run(messages);
  await scenario.teardown?.();
}

/** The instructions a run of `messages` messages executes, all of the process's threads. */
function count(id: string, side: Side, messages: number): number {
  const run = spawnSync(
    'valgrind',
    [
      '--tool=callgrind',
      '--callgrind-out-file=/dev/null',
      process.execPath,
      '--predictable',
      __filename,
      '--child',
      id,
      side,
      String(messages),
    ],
    { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'warn' }, maxBuffer: 64 * 1024 * 1024 },
  );
  if (run.error !== undefined) throw new Error(`valgrind did not run (${run.error.message}); install it: apt-get install valgrind`);
  const collected = /Collected : (\d+)/.exec(run.stderr);
  if (run.status !== 0 || collected === null) throw new Error(`${id} ${side} failed under valgrind:\n${run.stderr.slice(-2000)}`);
  return Number(collected[1]);
}

function perMessage(id: string, side: Side, small: number, large: number): number {
  return (count(id, side, large) - count(id, side, small)) / (large - small);
}

function main(): void {
  const [small, large] = (process.env.BENCH_INSTRUCTIONS_MESSAGES ?? '100000,300000').split(',').map(Number);
  if (!(small > 0 && large > small)) throw new Error('BENCH_INSTRUCTIONS_MESSAGES must be SMALL,LARGE with 0 < SMALL < LARGE');
  const ids = (process.env.BENCH_ONLY ?? 'P0').split(',').map((id) => id.trim().toUpperCase());
  console.log('id  baseline (instructions a message)  candidate  ratio  candidate - baseline');
  for (const id of ids) {
    const baseline = perMessage(id, 'baseline', small, large);
    const candidate = perMessage(id, 'candidate', small, large);
    console.log(
      `${id}  ${Math.round(baseline)}  ${Math.round(candidate)}  ${(baseline / candidate).toFixed(2)}  ${Math.round(candidate - baseline)}`,
    );
  }
}

if (process.argv[2] === '--child') {
  child(process.argv[3], process.argv[4] as Side, Number(process.argv[5])).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  main();
}
