#!/usr/bin/env node
// The wasm-pipes bin: see bin/cli.ts, or run `wasm-pipes --help`.
import { main } from './cli';

main(process.argv.slice(2)).then(
  (code) => {
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`wasm-pipes: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
