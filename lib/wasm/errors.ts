// Per-message failures of a WebAssembly module. Each nacks (or dead-letters) its message only; the pipeline goes on.
// (A module that does not fit the ABI at start-up is a WasmAbiError, in lib/errors.ts.)

/** The module trapped on a message: `unreachable`, an out-of-bounds access, an AssemblyScript abort, a stack overflow. */
export class WasmTrapError extends Error {
  override readonly name: string = 'WasmTrapError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
  }
}

/** The module ran past its per-message budget (a loop that does not end); its instance was replaced. */
export class WasmBudgetError extends WasmTrapError {
  override readonly name: string = 'WasmBudgetError';
}

/** The module reported an error for a message: a negative status, with the text it passed to `fail()` if any. */
export class WasmModuleError extends Error {
  override readonly name: string = 'WasmModuleError';
  /** The status the module returned. */
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}
