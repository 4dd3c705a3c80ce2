// Modules the wasm benchmarks run, built from source (cached) by scripts/wasm-build.js.
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');

// eslint-disable-next-line @typescript-eslint/no-require-imports
const builder = require(path.join(ROOT, 'scripts', 'wasm-build.js')) as {
  build(spec: { lang: 'as'; source: string; flags?: string[] }): Promise<string>;
};

/** examples/uppercase: the native ABI, ASCII uppercase in place. */
export function uppercaseModule(): Promise<string> {
  return builder.build({ lang: 'as', source: path.join(ROOT, 'examples', 'uppercase', 'uppercase.ts') });
}

/** The Go prototype's ABI, uppercase (the test fixture). */
export function goUppercaseModule(): Promise<string> {
  return builder.build({
    lang: 'as',
    source: path.join(ROOT, 'test', 'wasm', 'fixtures', 'go', 'uppercase.ts'),
    flags: ['-O3', '--runtime', 'incremental', '--use', 'abort='],
  });
}

/** The same 200-byte JSON body as P0. */
export const BODY = Buffer.from(
  JSON.stringify({
    event_type: 'page_view',
    user: 'user-0000',
    path: '/products/widgets/blue-widget-with-a-long-name',
    referrer: 'https://www.example.com/search?q=widgets',
    ts: 1700000000000,
  }).padEnd(200, ' '),
);
