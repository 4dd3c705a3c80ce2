// The ABIs a module may be written to, as data: the native ABI v1 (sdk/ABI.md) and the Go prototype's, with every
// import the host provides and the signature it must have. The loader checks a module against these tables, so
// that a module that does not fit fails at start-up with an error naming the import or export at fault.
import type { ValueType } from './binary';

/** The import module of the native ABI. A later, incompatible ABI gets a new name (wasm_pipes_v2). */
export const NATIVE_MODULE = 'wasm_pipes_v1';

export interface ImportSpec {
  params: readonly ValueType[];
  results: readonly ValueType[];
  /** The host may have to wait for the answer (a cache on a network): asyncify suspends the module there. */
  async?: boolean;
}

const I32 = 'i32' as const;

/** wasm_pipes_v1: every host function. Pointers and lengths are i32; no i64 anywhere (no BigInt on the hot path). */
export const NATIVE_IMPORTS: Readonly<Record<string, ImportSpec>> = {
  emit: { params: [I32, I32], results: [] },
  fail: { params: [I32, I32], results: [] },
  meta_get: { params: [I32, I32, I32, I32], results: [I32] },
  meta_set: { params: [I32, I32, I32, I32], results: [] },
  meta_delete: { params: [I32, I32], results: [] },
  key_get: { params: [I32, I32], results: [I32] },
  key_set: { params: [I32, I32], results: [] },
  key_delete: { params: [], results: [] },
  cache_get: { params: [I32, I32, I32, I32], results: [I32], async: true },
  cache_set: { params: [I32, I32, I32, I32, I32], results: [I32], async: true },
  cache_add: { params: [I32, I32, I32, I32, I32], results: [I32], async: true },
  cache_delete: { params: [I32, I32], results: [I32], async: true },
  config_get: { params: [I32, I32, I32, I32], results: [I32] },
  log: { params: [I32, I32, I32], results: [] },
};

/** What AssemblyScript modules import unless built with `--use abort=`. */
export const ASSEMBLYSCRIPT_IMPORTS: Readonly<Record<string, ImportSpec>> = {
  abort: { params: [I32, I32, I32, I32], results: [] },
  trace: { params: [I32, I32, 'f64', 'f64', 'f64', 'f64', 'f64'], results: [] },
  seed: { params: [], results: ['f64'] },
};

/** The Go prototype's host functions, by import module. */
export const GO_IMPORTS: Readonly<Record<string, Readonly<Record<string, ImportSpec>>>> = {
  pubsub: {
    getMessage: { params: [I32], results: [] },
    send: { params: [I32, I32], results: [] },
  },
  cache: {
    get: { params: [I32, I32, I32], results: [], async: true },
    set: { params: [I32, I32, I32, I32], results: [], async: true },
  },
  log: {
    println: { params: [I32, I32], results: [] },
  },
};

/** Native exports and their signatures. */
export const NATIVE_EXPORTS = {
  alloc: { params: [I32], results: [I32] },
  transform: { params: [I32, I32], results: [I32] },
  filter: { params: [I32, I32], results: [I32] },
} as const;

/** Log levels of `log(level, ptr, len)`. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

/** Exports the host adds when it instruments a module; a module must not define them itself. */
export const FUEL_GLOBAL = '__wasm_pipes_fuel';
export const SET_FUEL = '__wasm_pipes_set_fuel';
/** Pages the module's last failed `memory.grow` asked for (0: none failed since the last refuel), to name out-of-memory traps. */
export const GROW_FAILED_GLOBAL = '__wasm_pipes_grow_failed';

/** Edit distance (insertions, deletions, substitutions, swaps of neighbours), for did-you-mean suggestions. */
function distance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[rows - 1][cols - 1];
}

/**
 * The candidate `name` was most likely meant to be: the same name in another case, or one within a typo or two
 * (a third of the name's length at most, so that short names are not "corrected" into unrelated ones).
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length > 64) return undefined; // no one misspells a 65-character name; and the table stays small
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate === name) return undefined;
    const score = candidate.toLowerCase() === name.toLowerCase() ? 0.5 : distance(name.toLowerCase(), candidate.toLowerCase());
    if (score < bestDistance) {
      best = candidate;
      bestDistance = score;
    }
  }
  const allowed = Math.max(1, Math.min(2, Math.floor((best?.length ?? 0) / 3)));
  return bestDistance <= allowed ? best : undefined;
}
