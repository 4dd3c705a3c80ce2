// wasm-pipes SDK for AssemblyScript: the native ABI v1 (../ABI.md) as a few functions.
//
//   import { inputString, emitString } from "wasm-pipes/sdk/assemblyscript/index";
//   export { alloc } from "wasm-pipes/sdk/assemblyscript/index";
//
//   export function transform(ptr: usize, len: i32): i32 {
//     emitString(inputString(ptr, len).toUpperCase());
//     return OK;
//   }
//
// Build: npx asc module.ts -o module.wasm -O3 --runtime incremental

@external("wasm_pipes_v1", "emit") declare function _emit(ptr: usize, len: i32): void;
@external("wasm_pipes_v1", "fail") declare function _fail(ptr: usize, len: i32): void;
@external("wasm_pipes_v1", "meta_get") declare function _meta_get(kptr: usize, klen: i32, out: usize, cap: i32): i32;
@external("wasm_pipes_v1", "meta_set") declare function _meta_set(kptr: usize, klen: i32, vptr: usize, vlen: i32): void;
@external("wasm_pipes_v1", "meta_delete") declare function _meta_delete(kptr: usize, klen: i32): void;
@external("wasm_pipes_v1", "key_get") declare function _key_get(out: usize, cap: i32): i32;
@external("wasm_pipes_v1", "key_set") declare function _key_set(ptr: usize, len: i32): void;
@external("wasm_pipes_v1", "key_delete") declare function _key_delete(): void;
@external("wasm_pipes_v1", "cache_get") declare function _cache_get(kptr: usize, klen: i32, out: usize, cap: i32): i32;
@external("wasm_pipes_v1", "cache_set") declare function _cache_set(kptr: usize, klen: i32, vptr: usize, vlen: i32, ttlMs: i32): i32;
@external("wasm_pipes_v1", "cache_add") declare function _cache_add(kptr: usize, klen: i32, vptr: usize, vlen: i32, ttlMs: i32): i32;
@external("wasm_pipes_v1", "cache_delete") declare function _cache_delete(kptr: usize, klen: i32): i32;
@external("wasm_pipes_v1", "config_get") declare function _config_get(kptr: usize, klen: i32, out: usize, cap: i32): i32;
@external("wasm_pipes_v1", "log") declare function _log(level: i32, ptr: usize, len: i32): void;

/** transform: success. */
export const OK: i32 = 0;
/** filter: keep the message. */
export const KEEP: i32 = 1;
/** filter: drop the message (it is acked). */
export const DROP: i32 = 0;

/** The host asks for its input buffer with this; re-export it from your module: `export { alloc } from "..."`. */
export function alloc(size: i32): usize {
  return heap.alloc(<usize>size);
}

/** The message body as a string (UTF-8). */
export function inputString(ptr: usize, len: i32): string {
  return String.UTF8.decodeUnsafe(ptr, <usize>len);
}

/** The message body as bytes (a copy you own). */
export function inputBytes(ptr: usize, len: i32): Uint8Array {
  const bytes = new Uint8Array(len);
  memory.copy(bytes.dataStart, ptr, <usize>len);
  return bytes;
}

/** Emits an output with this body (the host copies it at once), and the metadata and key set so far. */
export function emitString(body: string): void {
  const bytes = String.UTF8.encode(body);
  _emit(changetype<usize>(bytes), bytes.byteLength);
}

export function emitBytes(body: Uint8Array): void {
  _emit(body.dataStart, body.byteLength);
}

/** Emits `len` bytes at `ptr`, for example the input buffer changed in place. */
export function emitRaw(ptr: usize, len: i32): void {
  _emit(ptr, len);
}

/** Records why this message failed and returns -1: `return fail("no 'id' field")`. */
export function fail(reason: string): i32 {
  const bytes = String.UTF8.encode(reason);
  _fail(changetype<usize>(bytes), bytes.byteLength);
  return -1;
}

let scratch = new ArrayBuffer(256);

/** Reads `len` bytes left in `scratch` by a host call as a string. */
function scratchString(len: i32): string {
  return String.UTF8.decodeUnsafe(changetype<usize>(scratch), <usize>len);
}

function ensureScratch(len: i32): bool {
  if (len <= scratch.byteLength) return false;
  scratch = new ArrayBuffer(len);
  return true;
}

/** A metadata value of the message being built (it starts as the input's), or null. */
export function getMetadata(name: string): string | null {
  const key = String.UTF8.encode(name);
  let len = _meta_get(changetype<usize>(key), key.byteLength, changetype<usize>(scratch), scratch.byteLength);
  if (len < 0) return null;
  if (ensureScratch(len)) len = _meta_get(changetype<usize>(key), key.byteLength, changetype<usize>(scratch), scratch.byteLength);
  return scratchString(len);
}

/** Sets a metadata value for the outputs emitted after this call. */
export function setMetadata(name: string, value: string): void {
  const key = String.UTF8.encode(name);
  const bytes = String.UTF8.encode(value);
  _meta_set(changetype<usize>(key), key.byteLength, changetype<usize>(bytes), bytes.byteLength);
}

export function deleteMetadata(name: string): void {
  const key = String.UTF8.encode(name);
  _meta_delete(changetype<usize>(key), key.byteLength);
}

/** The message key (partition / routing / ordering key), or null. */
export function getKey(): string | null {
  let len = _key_get(changetype<usize>(scratch), scratch.byteLength);
  if (len < 0) return null;
  if (ensureScratch(len)) len = _key_get(changetype<usize>(scratch), scratch.byteLength);
  return scratchString(len);
}

/** Sets the key of the outputs emitted after this call. */
export function setKey(key: string): void {
  const bytes = String.UTF8.encode(key);
  _key_set(changetype<usize>(bytes), bytes.byteLength);
}

export function deleteKey(): void {
  _key_delete();
}

/** A cached value as a string, or null when missing. */
export function cacheGet(name: string): string | null {
  const key = String.UTF8.encode(name);
  let len = _cache_get(changetype<usize>(key), key.byteLength, changetype<usize>(scratch), scratch.byteLength);
  if (len < 0) return null;
  if (ensureScratch(len)) len = _cache_get(changetype<usize>(key), key.byteLength, changetype<usize>(scratch), scratch.byteLength);
  return scratchString(len);
}

/** Caches `value` under `name`; `ttlMs` 0 keeps it until the cache evicts it. */
export function cacheSet(name: string, value: string, ttlMs: i32 = 0): void {
  const key = String.UTF8.encode(name);
  const bytes = String.UTF8.encode(value);
  _cache_set(changetype<usize>(key), key.byteLength, changetype<usize>(bytes), bytes.byteLength, ttlMs);
}

/** Caches `value` only when `name` is absent; true when it was added (the primitive for deduplication). */
export function cacheAdd(name: string, value: string, ttlMs: i32 = 0): bool {
  const key = String.UTF8.encode(name);
  const bytes = String.UTF8.encode(value);
  return _cache_add(changetype<usize>(key), key.byteLength, changetype<usize>(bytes), bytes.byteLength, ttlMs) == 1;
}

export function cacheDelete(name: string): void {
  const key = String.UTF8.encode(name);
  _cache_delete(changetype<usize>(key), key.byteLength);
}

/** A configuration value (the operator's `config` option, WASM_CONFIG for the bin), or null. */
export function config(name: string): string | null {
  const key = String.UTF8.encode(name);
  let len = _config_get(changetype<usize>(key), key.byteLength, changetype<usize>(scratch), scratch.byteLength);
  if (len < 0) return null;
  if (ensureScratch(len)) len = _config_get(changetype<usize>(key), key.byteLength, changetype<usize>(scratch), scratch.byteLength);
  return scratchString(len);
}

function logAt(level: i32, text: string): void {
  const bytes = String.UTF8.encode(text);
  _log(level, changetype<usize>(bytes), bytes.byteLength);
}

/** Per-message logs belong at debug; info and above are rate-limited by the host. */
export function logDebug(text: string): void {
  logAt(1, text);
}
export function logInfo(text: string): void {
  logAt(2, text);
}
export function logWarn(text: string): void {
  logAt(3, text);
}
export function logError(text: string): void {
  logAt(4, text);
}
