// loadWasm(): reads a module (path, file://, http(s)://, s3:// or gs:// URL, bytes; see supply.ts), checks it against the ABI, instruments it
// (budget, memory cap, asyncify when needed), compiles it once and proves that it instantiates. The handle it
// returns is shared by any number of operators; each operator instantiates it once and reuses the instance.
import { createHash } from 'node:crypto';
import { ConfigError, WasmAbiError } from '../errors';
import { MemoryCache } from '../cache/memory';
import type { Cache } from '../cache/types';
import { rootLogger, type Logger } from '../logging/logger';
import {
  ASSEMBLYSCRIPT_IMPORTS,
  closestName,
  FUEL_GLOBAL,
  GO_IMPORTS,
  GROW_FAILED_GLOBAL,
  type ImportSpec,
  NATIVE_EXPORTS,
  NATIVE_IMPORTS,
  NATIVE_MODULE,
  SET_FUEL,
} from './abi';
import { capMemory, formatType, isWasm, type ModuleInfo, readModuleInfo, sameType } from './binary';
import { instrument } from './instrument';
import { type CallKind, type GuestInstance, type InstanceSetup } from './instance';
import { NativeInstance } from './nativeInstance';
import { GoInstance } from './goInstance';
import { type HostServices, newStats, RateLimitedLog, type WasmModuleStats } from './host';
import { displayLocation, type SuppliedModule, supplyModule } from './supply';
import { WASI_IMPORTS, WASI_MODULE, wasiRefusal } from './wasi';

/** Fuel units per message by default: loop iterations plus function calls, about 0.1-0.5 s of work. */
export const DEFAULT_BUDGET = 100_000_000;
/** 256 pages of 64 KiB = 16 MiB of linear memory per instance. */
export const DEFAULT_MAX_MEMORY_PAGES = 256;
const MAX_FUEL = 0x7fffffff;

export interface LoadOptions {
  /** A name for logs and errors; default the file name. */
  name?: string;
  /**
   * Fuel per message (loop iterations and function calls) before the call is stopped, the message nacked or
   * dead-lettered and the instance replaced. `false` or 0 turns the budget off (no instrumentation). Default 100M.
   */
  budget?: number | false;
  /** Most 64 KiB pages of memory an instance may grow to (its memory.grow fails beyond). Default 256 (16 MiB). */
  maxMemoryPages?: number;
  /** Prepare the module for an asynchronous cache at load time (the bin does, so that start-up reports errors). */
  asyncCache?: boolean;
  /** The variable or option the module came from, for error messages (WASM_MODULE). */
  variable?: string;
  /**
   * The module's SHA-256 digest (hex): a module whose bytes do not match is refused. Pin it for modules fetched over
   * the network (WASM_SHA256 in the bin).
   */
  sha256?: string;
  /**
   * Largest module accepted, in bytes, from a file, a URL or a bucket alike: a download is refused as soon as it
   * announces or passes it. Default 16 MiB (WASM_MAX_MODULE_SIZE in the bin).
   */
  maxModuleBytes?: number;
  /** Milliseconds a download may take to connect (DNS, TCP and TLS). Default 10 s (WASM_FETCH_CONNECT_TIMEOUT). */
  connectTimeout?: number;
  /** Milliseconds a whole download may take, redirects included. Default 60 s (WASM_FETCH_TIMEOUT). */
  fetchTimeout?: number;
  /**
   * Hosts an http(s) redirect may lead to besides the module URL's own: names, `*.example.com`, or `*` for any.
   * Default none. A redirect from https:// to http:// is always refused. (WASM_FETCH_REDIRECT_HOSTS)
   */
  redirectHosts?: readonly string[];
  /** Where s3:// and gs:// modules take their region, endpoint and emulator host from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

/** What can be given where a module is expected. */
export type WasmSource = string | URL | Uint8Array | ArrayBuffer | WasmModule;

export type WasmAbi = 'native' | 'go';

/** A loaded, checked, compiled module: share it between operators; each instantiates it once. */
export class WasmModule {
  /** Counters summed over every instance of this module. */
  readonly stats: WasmModuleStats = newStats();
  /** The SHA-256 digest of the module's bytes as read (hex), for logs and /metrics. */
  sha256: string | undefined;
  private asyncVariant: WebAssembly.Module | undefined;
  private recycled = false;
  private asyncLoading: Promise<WebAssembly.Module> | undefined;

  /** @internal use loadWasm() */
  constructor(
    readonly name: string,
    readonly abi: WasmAbi,
    readonly info: ModuleInfo,
    /** The module as the engine runs it when host calls answer at once. */
    private readonly compiled: WebAssembly.Module,
    /** The checked bytes before instrumentation, for the asyncified variant. */
    private readonly source: Uint8Array,
    readonly budget: number | undefined,
    readonly maxMemoryPages: number,
  ) {}

  /** @internal true the first time an instance of this module is replaced for its memory growth (warned once) */
  firstRecycle(): boolean {
    if (this.recycled) return false;
    this.recycled = true;
    return true;
  }

  /** Whether the module exports `transform`, `filter` (native ABI) or `run` (Go prototype). */
  exports(name: 'transform' | 'filter' | 'run'): boolean {
    return this.info.exports.some((entry) => entry.name === name && entry.kind === 'function');
  }

  /** transform when exported, else filter; `run` for Go-prototype modules. What WASM_MODULE uses. */
  get defaultKind(): CallKind {
    if (this.abi === 'go') return 'run';
    return this.exports('transform') ? 'transform' : 'filter';
  }

  /** The host imports that may have to wait for a backend (cache calls), as asyncify names them. */
  get asyncImports(): string[] {
    if (this.abi !== 'native') return [];
    return this.info.imports
      .filter((entry) => entry.module === NATIVE_MODULE && NATIVE_IMPORTS[entry.name]?.async === true)
      .map((entry) => `${entry.module}.${entry.name}`);
  }

  /** Whether instances need the asyncified variant for `cache` (an asynchronous backend and cache imports). */
  needsAsync(cache: Cache): boolean {
    return cache.sync === undefined && this.asyncImports.length > 0;
  }

  /** The compiled module for `cache`, when it is ready now (the asyncified variant may still be in preparation). */
  compiledFor(cache: Cache): WebAssembly.Module | undefined {
    return this.needsAsync(cache) ? this.asyncVariant : this.compiled;
  }

  /** Prepares (once) the variant that `cache` needs. */
  prepare(cache: Cache | 'async'): Promise<WebAssembly.Module> {
    const needsAsync = cache === 'async' ? this.asyncImports.length > 0 : this.needsAsync(cache);
    if (!needsAsync) return Promise.resolve(this.compiled);
    this.asyncLoading ??= (async () => {
      const bytes = await instrument(this.source, { budget: this.budget, asyncImports: this.asyncImports });
      const compiled = await compile(capMemory(bytes, this.maxMemoryPages), this.name);
      this.asyncVariant = compiled;
      return compiled;
    })();
    return this.asyncLoading;
  }

  /** @internal a new instance for an operator */
  instantiate(
    kind: CallKind,
    services: HostServices,
    compiled: WebAssembly.Module,
    goBuffers: { message: number; cache: number },
  ): GuestInstance {
    const setup: InstanceSetup = {
      compiled,
      name: this.name,
      kind,
      services,
      stats: this.stats,
      budget: this.budget,
      maxMemoryPages: this.maxMemoryPages,
      asyncified: compiled !== this.compiled,
      wasi: this.info.imports.some((entry) => entry.module === WASI_MODULE),
      goMessageBuffer: goBuffers.message,
      goCacheBuffer: goBuffers.cache,
    };
    return this.abi === 'go' ? new GoInstance(setup) : new NativeInstance(setup);
  }
}

async function readSource(source: Exclude<WasmSource, WasmModule>, options: LoadOptions, variable: string): Promise<SuppliedModule> {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
    const bytes = source instanceof Uint8Array ? source : new Uint8Array(source);
    return { bytes, name: 'module', sha256: createHash('sha256').update(bytes).digest('hex') };
  }
  return supplyModule(source instanceof URL ? source.href : source, {
    maxModuleBytes: options.maxModuleBytes,
    connectTimeout: options.connectTimeout,
    fetchTimeout: options.fetchTimeout,
    redirectHosts: options.redirectHosts,
    env: options.env,
    variable,
  });
}

async function compile(bytes: Uint8Array, name: string): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(bytes);
  } catch (error) {
    throw new WasmAbiError(`${name} is not a valid WebAssembly module: ${(error as Error).message}`, { cause: error });
  }
}

/** ` (did you mean 'x'?)` when `name` looks like a misspelling of one of `candidates`, else nothing. */
function didYouMean(name: string, candidates: Iterable<string>, prefix = '', suffix = ''): string {
  const closest = closestName(name, candidates);
  return closest === undefined ? '' : ` (did you mean '${prefix}${closest}${suffix}'?)`;
}

function checkImport(table: Readonly<Record<string, ImportSpec>> | undefined, entry: ModuleInfo['imports'][number]): string | undefined {
  const spec = table?.[entry.name];
  if (spec === undefined) {
    return `unknown import '${entry.module}.${entry.name}'${table === undefined ? '' : didYouMean(entry.name, Object.keys(table), `${entry.module}.`)}`;
  }
  if (entry.kind !== 'function') return `import '${entry.module}.${entry.name}' must be a function, not a ${entry.kind}`;
  if (!sameType(entry.type, spec.params, spec.results)) {
    return `import '${entry.module}.${entry.name}' has the signature ${formatType(entry.type)}; the host provides ${formatType({ params: [...spec.params], results: [...spec.results] })}`;
  }
  return undefined;
}

/** Which ABI the module is written to; throws a WasmAbiError naming everything that does not fit. */
export function checkAbi(info: ModuleInfo, name: string): WasmAbi {
  const problems: string[] = [];
  const exported = new Map(info.exports.map((entry) => [entry.name, entry]));
  const isFunction = (exportName: string): boolean => exported.get(exportName)?.kind === 'function';
  const native = isFunction('transform') || isFunction('filter');
  const go = !native && isFunction('run');
  if (!native && !go) {
    const names = info.exports.map((entry) => entry.name).join(', ') || 'nothing';
    let hint = '';
    for (const entry of info.exports) {
      const meant = entry.kind === 'function' ? closestName(entry.name, ['transform', 'filter', 'run']) : undefined;
      if (meant !== undefined) {
        hint = `; did you mean '${meant}' (it exports '${entry.name}')?`;
        break;
      }
    }
    throw new WasmAbiError(
      `${name} exports neither 'transform' nor 'filter' (nor 'run', for modules written for the Go prototype); it exports ${names}${hint}`,
    );
  }
  if (exported.get('memory')?.kind !== 'memory') {
    const otherName = info.exports.find((entry) => entry.kind === 'memory')?.name;
    problems.push(
      info.imports.some((entry) => entry.kind === 'memory')
        ? 'it imports its memory; export it as "memory" instead (AssemblyScript: drop --importMemory)'
        : otherName !== undefined
          ? `it exports its memory as '${otherName}'; export it as 'memory'`
          : "it does not export its memory as 'memory'",
    );
  }
  if (native) {
    if (!isFunction('alloc')) {
      const meant = info.exports.find((entry) => entry.kind === 'function' && closestName(entry.name, ['alloc']) !== undefined);
      problems.push(
        `it does not export 'alloc(size: i32) -> i32' (the host asks it for the input buffer)${meant === undefined ? '' : `; did you mean 'alloc' (it exports '${meant.name}')?`}`,
      );
    }
    for (const exportName of ['alloc', 'transform', 'filter'] as const) {
      const entry = exported.get(exportName);
      if (entry?.kind !== 'function') continue;
      const expected = NATIVE_EXPORTS[exportName];
      if (!sameType(entry.type, expected.params, expected.results)) {
        problems.push(
          `'${exportName}' has the signature ${formatType(entry.type)}; the ABI needs ${formatType({ params: [...expected.params], results: [...expected.results] })}`,
        );
      }
    }
  } else if (!sameType(exported.get('run')?.type, [], [])) {
    problems.push(`'run' has the signature ${formatType(exported.get('run')?.type)}; the Go prototype's ABI needs () -> nothing`);
  }
  if (isFunction('_start')) {
    problems.push(
      "it exports '_start': it was built as a WASI command, which runs main() once and exits; build it as a library " +
        '(clang -mexec-model=reactor, Rust --crate-type cdylib) so that the host can call it once per message',
    );
  }
  for (const exportName of [FUEL_GLOBAL, SET_FUEL, GROW_FAILED_GLOBAL]) {
    if (exported.has(exportName)) problems.push(`it exports '${exportName}', a name the host reserves`);
  }
  for (const entry of info.imports) {
    if (entry.kind === 'memory') continue; // reported above
    let problem: string | undefined;
    if (entry.module === WASI_MODULE) {
      problem = WASI_IMPORTS[entry.name] === undefined ? wasiRefusal(entry.name) : checkImport(WASI_IMPORTS, entry);
    } else if (entry.module === 'env') {
      problem = checkImport(ASSEMBLYSCRIPT_IMPORTS, entry);
    } else if (native) {
      problem =
        entry.module === NATIVE_MODULE
          ? checkImport(NATIVE_IMPORTS, entry)
          : `unknown import '${entry.module}.${entry.name}' (native modules import from '${NATIVE_MODULE}')` +
            didYouMean(entry.module, [NATIVE_MODULE], '', `.${entry.name}`);
    } else {
      const table = GO_IMPORTS[entry.module];
      problem =
        table === undefined
          ? `unknown import '${entry.module}.${entry.name}'${didYouMean(entry.module, Object.keys(GO_IMPORTS), '', `.${entry.name}`)}`
          : checkImport(table, entry);
    }
    if (problem !== undefined && entry.module.startsWith('wasi') && entry.module !== WASI_MODULE) {
      problem += `: the host speaks WASI preview 1 ('${WASI_MODULE}') only; build for wasm32-wasi (preview 1) or a freestanding target`;
    }
    if (problem !== undefined) problems.push(problem);
  }
  if (problems.length > 0)
    throw new WasmAbiError(
      `${name} does not fit the ${native ? `native ABI (${NATIVE_MODULE})` : "Go prototype's ABI"}: ${problems.join('; ')}`,
    );
  return native ? 'native' : 'go';
}

/** A throwaway host for the trial instantiation at load time. */
function trialServices(logger: Logger): HostServices {
  return { cache: new MemoryCache({ max: 16 }), config: new Map(), logger, moduleLog: new RateLimitedLog(logger) };
}

/**
 * Loads a module once: reads it, checks that it fits the ABI (sdk/ABI.md), adds the budget and the memory cap,
 * compiles it and instantiates it once to prove that it links and starts. Throws a WasmAbiError (the bin exits 2)
 * for a module that does not fit, a ConfigError for one that cannot be read.
 *
 * @example
 * const upper = await loadWasm('./examples/uppercase/uppercase.wasm');
 * source('mem://in').pipe(wasmTransform(upper));
 */
export async function loadWasm(source: WasmSource, options: LoadOptions = {}): Promise<WasmModule> {
  if (source instanceof WasmModule) {
    if (options.asyncCache) await source.prepare('async');
    return source;
  }
  const variable = options.variable ?? 'module';
  const location = source instanceof URL ? source.href : typeof source === 'string' ? source : undefined;
  const sha256Variable = variable === 'WASM_MODULE' ? 'WASM_SHA256' : 'sha256';
  const expected = options.sha256?.trim().toLowerCase();
  if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected)) {
    // checked before anything is fetched
    throw new ConfigError(`'${options.sha256}' is not a SHA-256 digest; give 64 hex digits, as \`sha256sum module.wasm\` prints`, {
      variable: sha256Variable,
    });
  }
  const { bytes, name: fileName, sha256: actual } = await readSource(source, options, variable);
  const name = options.name ?? fileName;
  if (location !== undefined && /^http:\/\//i.test(location) && options.sha256 === undefined) {
    (options.logger ?? rootLogger()).warn(
      { module: displayLocation(location) },
      `the module ${displayLocation(location)} was fetched over plain http://: anyone on the way can change the code that runs on your messages; ` +
        'serve it over https://, or pin its digest (WASM_SHA256, the sha256 option)',
    );
  }
  // the digest was computed while the bytes came in: a module that does not match is refused before it is parsed
  if (expected !== undefined && actual !== expected) {
    throw new ConfigError(
      `${location === undefined ? name : displayLocation(location)} has the SHA-256 digest ${actual}, not the pinned ${expected}; refusing to run it (check where the module came from, then update the pin)`,
      { variable: sha256Variable },
    );
  }
  if (!isWasm(bytes)) {
    const start = Buffer.from(bytes.subarray(0, 16)).toString('latin1');
    const hint = /^\s*\(module/.test(start)
      ? '; it looks like WebAssembly text: compile it first (npx wat2wasm module.wat)'
      : '; compile your module to a .wasm binary';
    throw new WasmAbiError(`${name} is not a WebAssembly module (it does not start with \\0asm)${hint}`);
  }
  let info: ModuleInfo;
  try {
    info = readModuleInfo(bytes);
  } catch (error) {
    throw new WasmAbiError(`${name} is not a valid WebAssembly module: ${(error as Error).message}`, { cause: error });
  }
  const abi = checkAbi(info, name);
  await compile(bytes, name); // the engine's full validation, before binaryen reads it
  const budgetOption = options.budget ?? DEFAULT_BUDGET;
  const budget = budgetOption === false || budgetOption === 0 ? undefined : budgetOption;
  if (budget !== undefined && (!Number.isInteger(budget) || budget < 1 || budget > MAX_FUEL)) {
    throw new ConfigError(
      `budget must be a whole number of fuel units between 1 and ${MAX_FUEL} (or false), not ${budget}; for example 100000000`,
      {
        variable: 'budget',
      },
    );
  }
  const maxMemoryPages = options.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES;
  if (!Number.isInteger(maxMemoryPages) || maxMemoryPages < 1 || maxMemoryPages > 65536) {
    throw new ConfigError(
      `maxMemoryPages must be a whole number of 64 KiB pages between 1 and 65536, not ${maxMemoryPages}; for example 256 (16 MiB)`,
      {
        variable: 'maxMemoryPages',
      },
    );
  }
  const instrumented = budget === undefined ? bytes : await instrument(bytes, { budget });
  let capped: Uint8Array;
  try {
    capped = capMemory(instrumented, maxMemoryPages);
  } catch (error) {
    throw new WasmAbiError(`${name}: ${(error as Error).message}; raise maxMemoryPages (WASM_MAX_MEMORY_PAGES)`, { cause: error });
  }
  const compiled = await compile(capped, name);
  const module = new WasmModule(name, abi, info, compiled, bytes, budget, maxMemoryPages);
  module.sha256 = actual;
  const logger = (options.logger ?? rootLogger()).child({ module: name });
  try {
    module.instantiate(module.defaultKind, trialServices(logger), compiled, { message: 1024, cache: 128 });
  } catch (error) {
    const reason = error instanceof WebAssembly.LinkError ? 'does not link' : 'failed while starting';
    throw new WasmAbiError(`${name} ${reason}: ${(error as Error).message}`, { cause: error });
  }
  module.stats.instantiations = 0;
  if (options.asyncCache) await module.prepare('async');
  logger.debug({ abi, budget, maxMemoryPages, imports: info.imports.length }, 'module loaded');
  return module;
}
