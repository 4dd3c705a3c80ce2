// Structured logging with pino. Logs go to stderr, so that `stdout://` carries only data.
// Lifecycle events log at info; per-message events at debug or trace only.
import pino from 'pino';

export type Logger = pino.Logger;

let root: Logger | undefined;

/** The process-wide logger (LOG_LEVEL, default info), created on first use. */
export function rootLogger(): Logger {
  if (root === undefined) {
    root = pino(
      { name: 'wasm-pipes', level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid } },
      pino.destination({ fd: 2, sync: true }),
    );
  }
  return root;
}

/** Replaces the process-wide logger (the bin does this after reading its configuration). */
export function setRootLogger(logger: Logger): void {
  root = logger;
}
