// Helpers of the module author's kit tests: fixtures built from source with scripts/wasm-build.js (cached by a hash
// of their sources), and case files written to a temporary folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type Lang = 'as' | 'wat' | 'c' | 'rust' | 'c-wasi' | 'rust-wasi' | 'rust-crate';

 
const builder = require('../../scripts/wasm-build.js') as {
  build(spec: { lang: Lang; source: string; out?: string; target?: string }): Promise<string>;
  buildExamples(): Promise<string[]>;
  RUSTC: string;
  CARGO: string;
};

export const ROOT = path.resolve(__dirname, '..', '..');
export const FIXTURES = path.join(__dirname, 'fixtures');
export const RUSTC = builder.RUSTC;
export const CARGO = builder.CARGO;

/** Builds a fixture of test/sdk/fixtures; resolves to the cached .wasm. */
export function buildFixture(lang: Lang, source: string, target?: string): Promise<string> {
  return builder.build({ lang, source: path.join(FIXTURES, source), ...(target === undefined ? {} : { target }) });
}

/** Builds the examples (examples/<name>/<name>.wasm). */
export function buildExamples(): Promise<string[]> {
  return builder.buildExamples();
}

/** A fresh temporary folder, removed by the returned function. */
export function temporaryFolder(prefix: string): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `wasm-pipes-${prefix}-`));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function writeJson(file: string, value: unknown): string {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  return file;
}
