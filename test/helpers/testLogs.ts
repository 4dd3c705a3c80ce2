// The log buffer of the current test file, when the suite runs in test/helpers/quietLogsEnvironment.js: what is
// written there is printed only if the test fails.

export interface TestLogBuffer {
  write(chunk: string): void;
}

/** The buffer, or undefined outside that environment (a test file run with another one). */
export function testLogs(): TestLogBuffer | undefined {
  return (globalThis as { __wasmPipesTestLogs?: TestLogBuffer }).__wasmPipesTestLogs;
}
