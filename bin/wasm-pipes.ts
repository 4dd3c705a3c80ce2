#!/usr/bin/env node
// The wasm-pipes bin: see bin/cli.ts, or run `wasm-pipes --help`.
import { main, secretVariableNames } from './cli';
import { Redactor, secretsFromEnv } from '../lib/security/redact';

main(process.argv.slice(2)).then(
  (code) => {
    process.exit(code);
  },
  (error: unknown) => {
    // an unexpected failure: its message may quote a secret like any log line
    const redactor = new Redactor(secretsFromEnv(process.env, secretVariableNames()));
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`wasm-pipes: ${redactor.redact(text)}\n`);
    process.exitCode = 1;
  },
);
