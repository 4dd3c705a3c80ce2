// The `wasm-pipes/operators` entry: pipeable, message-aware operators (one per file).
export { filterMessages } from './filterMessages';
export { mapMessages, type MapResult } from './mapMessages';
export { fanOut } from './fanOut';
export { wasmTransform } from './wasmTransform';
export { wasmFilter } from './wasmFilter';
