// The `wasm-pipes/operators` entry: pipeable, message-aware operators (one per file).
export { filterMessages } from './filterMessages';
export { mapMessages, type MapResult } from './mapMessages';
export { fanOut } from './fanOut';
export { cacheLookup, type CacheLookupOptions, type CacheLookupInto } from './cacheLookup';
export { cacheSet, type CacheSetOptions } from './cacheSet';
export { dedupe, type DedupeOptions } from './dedupe';
export { wasmTransform } from './wasmTransform';
export { wasmFilter } from './wasmFilter';
export { route, type RouteCase, type RouteOptions, type JsonScalar } from './route';
export { fallback } from './fallback';
export { batchMessages, type BatchMessagesOptions, type BatchFormat } from './batchMessages';
export { unbatch, type UnbatchOptions } from './unbatch';
export { rateLimit, type RateLimitOptions } from './rateLimit';
