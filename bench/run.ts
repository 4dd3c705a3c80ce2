// `npm run bench`: runs every scenario (BENCH_QUICK=1 for a short smoke run; BENCH_ONLY=P0,P1 to pick), prints a
// table of medians and ratios, and writes bench/results.json.
import fs from 'node:fs';
import path from 'node:path';
import { runScenario, targetText, type ScenarioResult } from './harness';
import { scenarios } from './scenarios';

function format(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  const only = process.env.BENCH_ONLY?.split(',').map((id) => id.trim().toUpperCase());
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    if (only && !only.includes(scenario.id.toUpperCase())) continue;
    process.stderr.write(`running ${scenario.id}: ${scenario.title}${quick ? ' (quick)' : ''}\n`);
    try {
      results.push(await runScenario(scenario, quick));
    } catch (error) {
      process.stderr.write(`${scenario.id} failed: ${(error as Error).stack}\n`);
      results.push({
        id: scenario.id,
        title: scenario.title,
        messages: 0,
        rounds: 0,
        baseline: { name: scenario.baseline.name, median: 0, unit: '' },
        candidate: { name: scenario.candidate.name, median: 0, unit: '' },
        ratio: 0,
        target: scenario.target,
        maxExtraMicros: scenario.maxExtraMicros,
        pass: false,
        notes: [`FAIL: ${(error as Error).message}`],
      });
    }
  }
  const rows = results.map((result) => [
    result.id,
    `${format(result.baseline.median)} ${result.baseline.unit}`,
    `${format(result.candidate.median)} ${result.candidate.unit}`,
    result.ratio.toFixed(2),
    targetText(result),
    result.pass ? 'ok' : 'BELOW TARGET',
  ]);
  const header = ['id', 'baseline (median)', 'candidate (median)', 'ratio', 'target', ''];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]): string => cells.map((cell, column) => cell.padEnd(widths[column])).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  for (const result of results) {
    console.log(
      `${result.id}: ${result.title}; baseline ${result.baseline.name}; candidate ${result.candidate.name}; ${result.messages} messages x ${result.rounds} rounds`,
    );
    for (const note of result.notes) console.log(`  ${note}`);
  }
  const file = path.join(__dirname, '..', '..', 'bench', 'results.json');
  fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), quick, node: process.version, results }, null, 2));
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
