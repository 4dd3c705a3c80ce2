// Load-time rewriting of modules with Binaryen: the per-message fuel budget (so that a loop that never ends is
// stopped), a record of failed memory.grow (so that an out-of-memory trap can say that the cap was reached), and asyncify (so that a synchronous module can wait for an asynchronous cache). Binaryen is an ES module
// with top-level await, loaded on first use only: a module with no budget and no async host call never needs it.
import type BinaryenDefault from 'binaryen' with { 'resolution-mode': 'import' };
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FUEL_GLOBAL, GROW_FAILED_GLOBAL, SET_FUEL } from './abi';

type Binaryen = typeof BinaryenDefault;

let loading: Promise<Binaryen> | undefined;

function loadBinaryen(): Promise<Binaryen> {
  loading ??= import('binaryen').then((loaded) => loaded.default);
  return loading;
}

export interface InstrumentOptions {
  /** Fuel units per call (loop iterations plus function entries); undefined = no budget. */
  budget?: number;
  /** `module.name` imports that may suspend: the asyncify pass lets the module wait at these calls. */
  asyncImports?: readonly string[];
}

/** Binaryen's pass-arguments and inlining limits are process-wide: rewrite one module at a time. */
let queue: Promise<unknown> = Promise.resolve();

/** Bump when the rewriting changes, so that results cached on disk by an older version are not reused. */
const REWRITE_VERSION = 2;

/**
 * Where rewritten modules are kept between runs (WASM_PIPES_CACHE_DIR, default ~/.cache/wasm-pipes; `off` disables
 * it): loading Binaryen and rewriting costs about a second at start-up, reading the result back a millisecond. The
 * folder is the user's own (not a shared temporary folder), since what is read from it is run as the module.
 */
function cacheFile(bytes: Uint8Array, options: InstrumentOptions): string | undefined {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const dir = process.env.WASM_PIPES_CACHE_DIR ?? path.join(base, 'wasm-pipes');
  if (dir === '' || dir === 'off') return undefined;
  const hash = crypto
    .createHash('sha256')
    .update(JSON.stringify({ v: REWRITE_VERSION, budget: options.budget, asyncImports: options.asyncImports ?? [] }))
    .update(bytes)
    .digest('hex');
  return path.join(dir, `${hash.slice(0, 32)}.wasm`);
}

function readCached(file: string | undefined): Uint8Array | undefined {
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

function writeCached(file: string | undefined, bytes: Uint8Array): void {
  if (file === undefined) return;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, bytes);
    fs.renameSync(temporary, file);
  } catch {
    // a read-only or full disk only costs the rewrite at the next start
  }
}

export function instrument(bytes: Uint8Array, options: InstrumentOptions): Promise<Uint8Array> {
  const file = cacheFile(bytes, options);
  const cached = readCached(file);
  if (cached !== undefined) return Promise.resolve(cached);
  const run = queue.then(async () => {
    const rewritten = rewrite(await loadBinaryen(), bytes, options);
    writeCached(file, rewritten);
    return rewritten;
  });
  queue = run.catch(() => undefined);
  return run;
}

function rewrite(binaryen: Binaryen, bytes: Uint8Array, options: InstrumentOptions): Uint8Array {
  // the features Node 20's engine runs by default: binaryen must not emit encodings of later proposals
  const F = binaryen.Features;
  const node20 =
    F.MutableGlobals |
    F.NontrappingFPToInt |
    F.SIMD128 |
    F.BulkMemory |
    F.BulkMemoryOpt |
    F.SignExt |
    F.TailCall |
    F.ReferenceTypes |
    F.Multivalue |
    F.CallIndirectOverlong;
  const module = binaryen.readBinary(bytes);
  try {
    module.setFeatures(node20);
    const tracksGrowth = trackGrowth(binaryen, module);
    if (options.budget !== undefined) addFuel(binaryen, module, options.budget, tracksGrowth);
    if (options.asyncImports !== undefined && options.asyncImports.length > 0) {
      binaryen.setPassArgument('asyncify-imports', options.asyncImports.join(','));
      try {
        module.runPasses(['asyncify']);
      } finally {
        binaryen.setPassArgument('asyncify-imports', null);
      }
    }
    if (!module.validate()) throw new Error('binaryen produced an invalid module');
    return module.emitBinary();
  } finally {
    module.dispose();
  }
}

/** The hooks Binaryen's `instrument-memory` pass imports (all of them, though only memory.grow is instrumented here). */
const MEMORY_HOOKS = new Set([
  'load_ptr',
  'load_val_i32',
  'load_val_i64',
  'load_val_f32',
  'load_val_f64',
  'store_ptr',
  'store_val_i32',
  'store_val_i64',
  'store_val_f32',
  'store_val_f64',
  'memory_grow_pre',
  'memory_grow_post',
  'array_get_val_i32',
  'array_get_val_i64',
  'array_get_val_f32',
  'array_get_val_f64',
  'array_set_val_i32',
  'array_set_val_i64',
  'array_set_val_f32',
  'array_set_val_f64',
  'array_get_index',
  'array_set_index',
  'struct_get_val_i32',
  'struct_get_val_i64',
  'struct_get_val_f32',
  'struct_get_val_f64',
  'struct_set_val_i32',
  'struct_set_val_i64',
  'struct_set_val_f32',
  'struct_set_val_f64',
]);

/**
 * Wraps every `memory.grow` of the module (Binaryen's `instrument-memory` pass, restricted to memory.grow) so that a
 * failed growth records how many pages it asked for in an exported global. A module that cannot grow usually traps
 * (`unreachable` in AssemblyScript's and Rust's allocators); the host reads the global then, and the error says that
 * the memory cap was reached instead of only "unreachable". The hooks become functions of the module: no host call.
 * Returns false when the module has no memory.grow at all.
 */
function trackGrowth(binaryen: Binaryen, module: BinaryenDefault.Module): boolean {
  const before = new Set<string>();
  for (let i = 0; i < module.getNumFunctions(); i++) before.add(binaryen.getFunctionInfo(module.getFunctionByIndex(i)).name);
  binaryen.setPassArgument('instrument-memory', 'memory.grow');
  try {
    module.runPasses(['instrument-memory']);
  } finally {
    binaryen.setPassArgument('instrument-memory', null);
  }
  const hooks = new Map<string, string>();
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i));
    if (!before.has(info.name) && info.module === 'env' && info.base !== null && MEMORY_HOOKS.has(info.base))
      hooks.set(info.base, info.name);
  }
  for (const name of hooks.values()) module.removeFunction(name);
  const pre = hooks.get('memory_grow_pre');
  const post = hooks.get('memory_grow_post');
  if (pre === undefined || post === undefined) return false;
  const asked = '__wasm_pipes_grow_asked';
  module.addGlobal(asked, binaryen.i32, true, module.i32.const(0));
  module.addGlobal(GROW_FAILED_GLOBAL, binaryen.i32, true, module.i32.const(0));
  module.addGlobalExport(GROW_FAILED_GLOBAL, GROW_FAILED_GLOBAL);
  const i32 = binaryen.i32;
  // memory_grow_pre(id, delta) -> delta: remember the delta
  module.addFunction(
    pre,
    binaryen.createType([i32, i32]),
    i32,
    [],
    module.block(null, [module.global.set(asked, module.local.get(1, i32)), module.local.get(1, i32)], i32),
  );
  // memory_grow_post(id, result) -> result: a result of -1 is a failed growth
  module.addFunction(
    post,
    binaryen.createType([i32, i32]),
    i32,
    [],
    module.block(
      null,
      [
        module.if(
          module.i32.eq(module.local.get(1, i32), module.i32.const(-1)),
          module.global.set(GROW_FAILED_GLOBAL, module.global.get(asked, i32)),
        ),
        module.local.get(1, i32),
      ],
      i32,
    ),
  );
  return true;
}

/**
 * Binaryen's `log-execution` pass puts a call to an imported `env.log_execution(i32)` at every function entry and
 * loop header (and return). We turn that import into a function of the module that decrements a fuel global and
 * traps (`unreachable`) when it is exhausted, then inline it so that a loop iteration costs a global load, a compare,
 * a subtract and a store. The host refills the fuel before each message through an exported setter, and reads the
 * global after a trap to tell "out of fuel" from the module's own traps.
 */
function addFuel(binaryen: Binaryen, module: BinaryenDefault.Module, budget: number, tracksGrowth: boolean): void {
  module.runPasses(['log-execution']);
  let hook: string | undefined;
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const info = binaryen.getFunctionInfo(module.getFunctionByIndex(i));
    // the pass names its import after the module's other imports (env, pubsub...); no ABI imports this name
    if (info.module !== null && info.module !== '' && info.base === 'log_execution') hook = info.name;
  }
  if (hook === undefined) return; // a module with no functions
  module.removeFunction(hook);
  const fuel = FUEL_GLOBAL;
  module.addGlobal(fuel, binaryen.i32, true, module.i32.const(budget | 0));
  module.addFunction(
    hook,
    binaryen.i32,
    binaryen.none,
    [],
    module.block(null, [
      module.if(module.i32.eqz(module.global.get(fuel, binaryen.i32)), module.unreachable()),
      module.global.set(fuel, module.i32.sub(module.global.get(fuel, binaryen.i32), module.i32.const(1))),
    ]),
  );
  const refuel = module.global.set(fuel, module.local.get(0, binaryen.i32));
  // each message starts with no failed growth on record: a trap is blamed on the cap only if this call hit it
  const body = tracksGrowth ? module.block(null, [refuel, module.global.set(GROW_FAILED_GLOBAL, module.i32.const(0))]) : refuel;
  module.addFunction(SET_FUEL, binaryen.i32, binaryen.none, [], body);
  module.addFunctionExport(SET_FUEL, SET_FUEL);
  module.addGlobalExport(fuel, fuel);
  const previousAlways = binaryen.getAlwaysInlineMaxSize();
  const previousFlexible = binaryen.getFlexibleInlineMaxSize();
  const previousOneCaller = binaryen.getOneCallerInlineMaxSize();
  try {
    // inline the fuel check everywhere, and (as far as these limits allow) nothing else of the module
    binaryen.setAlwaysInlineMaxSize(16);
    binaryen.setFlexibleInlineMaxSize(0);
    binaryen.setOneCallerInlineMaxSize(0);
    module.runPasses(['inlining']);
  } finally {
    binaryen.setAlwaysInlineMaxSize(previousAlways);
    binaryen.setFlexibleInlineMaxSize(previousFlexible);
    binaryen.setOneCallerInlineMaxSize(previousOneCaller);
  }
}
