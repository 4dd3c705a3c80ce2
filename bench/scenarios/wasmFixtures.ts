// Modules the wasm benchmarks run, built from source (cached) by scripts/wasm-build.js.
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');

const builder = require(path.join(ROOT, 'scripts', 'wasm-build.js')) as {
  build(spec: { lang: 'as' | 'wat'; source: string; flags?: string[] }): Promise<string>;
};

/** examples/uppercase: the native ABI, ASCII uppercase in place. */
export function uppercaseModule(): Promise<string> {
  return builder.build({ lang: 'as', source: path.join(ROOT, 'examples', 'uppercase', 'uppercase.ts') });
}

/** The same uppercase, eight bytes at a time (bench/modules/uppercase-words.ts). */
export function uppercaseWordsModule(): Promise<string> {
  return builder.build({ lang: 'as', source: path.join(ROOT, 'bench', 'modules', 'uppercase-words.ts') });
}

/** The Go prototype's ABI, uppercase (the test fixture). */
export function goUppercaseModule(): Promise<string> {
  return builder.build({
    lang: 'as',
    source: path.join(ROOT, 'test', 'wasm', 'fixtures', 'go', 'uppercase.ts'),
    flags: ['-O3', '--runtime', 'incremental', '--use', 'abort='],
  });
}

/** bench/modules/fanout.ts: emits each input `copies` times (config; default 2 000). */
export function fanoutModule(): Promise<string> {
  return builder.build({ lang: 'as', source: path.join(ROOT, 'bench', 'modules', 'fanout.ts') });
}

/** bench/modules/cpu-heavy.wat: tens of µs of hashing a message (P8, P8T). */
export function cpuHeavyModule(): Promise<string> {
  return builder.build({ lang: 'wat', source: path.join(ROOT, 'bench', 'modules', 'cpu-heavy.wat') });
}

/** bench/modules/identity.wat: emits its input unchanged (SIZE). */
export function identityModule(): Promise<string> {
  return builder.build({ lang: 'wat', source: path.join(ROOT, 'bench', 'modules', 'identity.wat') });
}
