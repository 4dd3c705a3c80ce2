// Hot reload of modules: on SIGHUP (and, with WASM_WATCH=true, when a module's file changes) each module is loaded
// again and checked like at start-up; the wasm stages swap to it between messages (messages already in a call finish
// on the old instance, nothing is dropped). A module that fails to load, or that would change from transform to
// filter, is logged at error and the old one keeps running. /metrics shows each module's digest and load time.
import fs from 'node:fs';
import path from 'node:path';
import { counterFamily, gaugeFamily } from '../metrics';
import { rootLogger, type Logger } from '../logging/logger';
import type { Cache } from '../cache/types';
import { loadWasm, type LoadOptions, type WasmModule } from './load';

/** What a stage asks for the module it should run now (see WasmOperatorOptions.reload). */
export interface ModuleSwitch {
  readonly module: WasmModule | undefined;
}

interface Loaded {
  sha256: string;
  loadedAt: number;
}

/** The modules loaded by name, for /metrics: the last digest and load time of each. */
const loadedModules = new Map<string, Loaded>();

gaugeFamily('wasm_pipes_wasm_module_info', 'The WebAssembly modules running, by name and SHA-256 digest (value 1)', () =>
  [...loadedModules].map(([module, loaded]) => ({ labels: { module, sha256: loaded.sha256 }, value: 1 })),
);
gaugeFamily('wasm_pipes_wasm_module_loaded_timestamp_seconds', 'When each WebAssembly module running was loaded (Unix time, seconds)', () =>
  [...loadedModules].map(([module, loaded]) => ({ labels: { module }, value: loaded.loadedAt / 1000 })),
);
const reloads = counterFamily(
  'wasm_pipes_wasm_reloads_total',
  'Reloads of WebAssembly modules (SIGHUP, WASM_WATCH), by module and result (ok, failed)',
);

/** Records a module as loaded now, for /metrics. */
export function recordModuleLoaded(module: WasmModule): void {
  if (module.sha256 !== undefined) loadedModules.set(module.name, { sha256: module.sha256, loadedAt: Date.now() });
}

export interface ReloadableOptions extends LoadOptions {
  /** The cache the stages use: the new module is prepared for it (asyncify) before the swap. */
  cache?: Cache;
}

/** One module of the bin, loaded from `location` at start-up and again on each reload. */
export class ReloadableModule implements ModuleSwitch {
  module: WasmModule | undefined;
  private running: Promise<boolean> | undefined;
  private again = false;

  constructor(
    readonly location: string,
    private readonly options: ReloadableOptions,
  ) {}

  /** The first load: errors go to the caller (start-up exits 2). */
  async load(): Promise<WasmModule> {
    const module = await loadWasm(this.location, this.options);
    this.module = module;
    recordModuleLoaded(module);
    return module;
  }

  /** The local file of the module, when it is one (what WASM_WATCH watches). */
  get file(): string | undefined {
    if (/^file:\/\//i.test(this.location)) return path.resolve(decodeURIComponent(new URL(this.location).pathname));
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(this.location) ? undefined : path.resolve(this.location);
  }

  /**
   * Loads the module again and, when it loads and fits, makes it the one the stages run. Resolves to whether it was
   * swapped; never rejects (a failure is logged at error and the old module keeps running). Reloads asked for while
   * one runs are folded into one more.
   */
  reload(logger: Logger = this.options.logger ?? rootLogger()): Promise<boolean> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = this.reloadOnce(logger).finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        void this.reload(logger);
      }
    });
    return this.running;
  }

  private async reloadOnce(logger: Logger): Promise<boolean> {
    const old = this.module;
    const began = Date.now();
    try {
      const module = await loadWasm(this.location, this.options);
      if (old !== undefined && module.defaultKind !== old.defaultKind) {
        throw new Error(
          `it now runs '${module.defaultKind}' where the running module runs '${old.defaultKind}'; restart wasm-pipes to change what a stage does`,
        );
      }
      if (this.options.cache !== undefined) await module.prepare(this.options.cache);
      this.module = module;
      recordModuleLoaded(module);
      reloads.labels({ module: module.name, result: 'ok' }).inc();
      logger.info(
        { module: module.name, sha256: module.sha256, previousSha256: old?.sha256, ms: Date.now() - began },
        `reloaded ${module.name}${module.sha256 === old?.sha256 ? ' (unchanged)' : ` (sha256 ${module.sha256?.slice(0, 12)})`}: messages from now on run on it`,
      );
      return true;
    } catch (error) {
      const name = old?.name ?? path.basename(this.location);
      reloads.labels({ module: name, result: 'failed' }).inc();
      logger.error(
        { module: name, err: error },
        `reloading ${name} failed: ${(error as Error).message}; the module loaded before keeps running`,
      );
      return false;
    }
  }
}

/**
 * Reloads `modules` on SIGHUP and, with `watch`, when one of their files changes (a compiler writes in steps: changes
 * are gathered for `settleMs` first). Returns the function that stops both.
 */
export function reloadOnSignal(
  modules: readonly ReloadableModule[],
  options: { watch?: boolean; logger?: Logger; settleMs?: number } = {},
): () => void {
  const logger = options.logger ?? rootLogger();
  const reloadAll = (why: string): void => {
    logger.info({ modules: modules.map((module) => module.module?.name ?? module.location) }, `${why}: reloading the WebAssembly modules`);
    for (const module of modules) void module.reload(logger);
  };
  const onHangup = (): void => reloadAll('SIGHUP');
  process.on('SIGHUP', onHangup);
  const watchers: fs.FSWatcher[] = [];
  const timers = new Map<ReloadableModule, NodeJS.Timeout>();
  if (options.watch) {
    for (const module of modules) {
      const file = module.file;
      if (file === undefined) {
        logger.warn({ module: module.location }, `WASM_WATCH: ${module.location} is not a local file; it is reloaded on SIGHUP only`);
        continue;
      }
      // the folder, not the file: editors and compilers replace a file (a new inode) rather than write into it
      const watcher = fs.watch(path.dirname(file), (_event, changed) => {
        if (changed !== null && changed.toString() !== path.basename(file)) return;
        clearTimeout(timers.get(module));
        const timer = setTimeout(() => {
          timers.delete(module);
          logger.info({ module: module.module?.name }, `${path.basename(file)} changed: reloading it`);
          void module.reload(logger);
        }, options.settleMs ?? 200);
        timer.unref();
        timers.set(module, timer);
      });
      watcher.unref();
      watchers.push(watcher);
    }
  }
  return () => {
    process.removeListener('SIGHUP', onHangup);
    for (const watcher of watchers) watcher.close();
    for (const timer of timers.values()) clearTimeout(timer);
  };
}
