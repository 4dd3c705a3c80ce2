// WebAssembly transforms and filters: loading, the ABIs' host side, limits. The operators are in operators/.
export { loadWasm, WasmModule, checkAbi, DEFAULT_BUDGET, DEFAULT_MAX_MEMORY_PAGES } from './load';
export type { LoadOptions, WasmSource, WasmAbi } from './load';
export { wasmOperator, WasmStage, defaultWasmCache } from './stage';
export type { WasmOperatorOptions } from './stage';
export { WasmTrapError, WasmBudgetError, WasmModuleError } from './errors';
export type { WasmModuleStats } from './host';
export { NATIVE_MODULE } from './abi';
