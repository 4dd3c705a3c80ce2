// The bin's WebAssembly stages from the environment: WASM_MODULE (a chain; each module's exports decide transform
// or filter), or the Go prototype's WASM_ENABLED + WASM_BLOB_URI + WASM_FILENAME, with the limits and options.
import path from 'node:path';
import type { OperatorFunction } from 'rxjs';
import type { Message } from '../lib/message';
import type { Sink } from '../lib/sink';
import type { Cache } from '../lib/cache/types';
import { ConfigError } from '../lib/errors';
import { parseBoolean, parseDuration, parseInteger, parseSize } from '../lib/config';
import type { WasmModule } from '../lib/wasm/load';
import { ReloadableModule, reloadOnSignal } from '../lib/wasm/reload';
import type { Logger } from '../lib/logging/logger';
import { wasmOperator, type WasmOperatorOptions } from '../lib/wasm/stage';
import { keyTemplate } from '../lib/keyTemplate';

export interface WasmChain {
  operators: OperatorFunction<Message, Message>[];
  /** Resolves once every module is loaded and checked; rejects with a WasmAbiError or ConfigError (exit 2). */
  ready: Promise<void>;
  description: string;
  /** Starts reloading the modules on SIGHUP (and file changes with WASM_WATCH); returns the function that stops it. */
  reload: (logger: Logger) => () => void;
}

/** `a=1,b=2` or a JSON object, as configuration for config_get. */
export function parseWasmConfig(text: string): Record<string, string> {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      throw new ConfigError(`not valid JSON (${(error as Error).message}); write {"threshold":"30"} or threshold=30,field=temp`, {
        variable: 'WASM_CONFIG',
        cause: error,
      });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigError('must be a JSON object such as {"threshold":"30"}, or threshold=30,field=temp', { variable: 'WASM_CONFIG' });
    }
    return Object.fromEntries(
      Object.entries(parsed).map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value)]),
    );
  }
  const config: Record<string, string> = {};
  for (const pair of trimmed.split(',')) {
    if (pair.trim() === '') continue;
    const equals = pair.indexOf('=');
    if (equals <= 0)
      throw new ConfigError(`'${pair.trim()}' is not name=value; for example WASM_CONFIG=threshold=30,field=temperature`, {
        variable: 'WASM_CONFIG',
      });
    config[pair.slice(0, equals).trim()] = pair.slice(equals + 1).trim();
  }
  return config;
}

/** The modules named by the environment, in chain order. */
export function wasmModulePaths(read: (name: string) => string | undefined): string[] {
  const modules = (read('WASM_MODULE') ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  const enabled = parseBoolean(read('WASM_ENABLED') ?? 'false', 'WASM_ENABLED');
  if (!enabled) return modules;
  if (modules.length > 0) {
    throw new ConfigError("set WASM_MODULE, or the Go prototype's WASM_ENABLED=true with WASM_BLOB_URI and WASM_FILENAME, not both", {
      variable: 'WASM_ENABLED',
    });
  }
  const blob = read('WASM_BLOB_URI');
  if (blob === undefined) {
    throw new ConfigError('WASM_ENABLED=true needs the folder of the module, for example WASM_BLOB_URI=file:///opt/modules', {
      variable: 'WASM_BLOB_URI',
    });
  }
  const filename = read('WASM_FILENAME') ?? 'main.wasm';
  const bucket = /^(s3|gs):\/\/([^/?#]+)(\/[^?#]*)?(\?[^#]*)?$/i.exec(blob);
  if (bucket !== null) {
    // the Go prototype's bucket URLs: s3://bucket?region=..., gs://bucket, with an optional folder; the query (region,
    // endpoint) stays on the object's URI
    const [, scheme, name, folder = '', query = ''] = bucket;
    const prefix = folder.replace(/^\/+|\/+$/g, '');
    return [`${scheme.toLowerCase()}://${name}/${prefix === '' ? '' : `${prefix}/`}${filename}${query}`];
  }
  if (!/^file:\/\//i.test(blob)) {
    throw new ConfigError(
      `must be a file://, s3:// or gs:// folder, not '${blob}'; for a module on a web server use WASM_MODULE=https://...`,
      {
        variable: 'WASM_BLOB_URI',
      },
    );
  }
  // file:///abs/dir, or file://./dir relative to the working directory, as the Go prototype's fileblob took them
  const folder = path.resolve(decodeURIComponent(blob.replace(/^file:\/\//i, '')));
  return [path.join(folder, filename)];
}

/** The wasm stages of the bin, or undefined when no module is configured. */
export function wasmFromEnv(
  read: (name: string) => string | undefined,
  services: { cache: Cache; deadLetter?: Sink; env?: NodeJS.ProcessEnv },
): WasmChain | undefined {
  const modules = wasmModulePaths(read);
  if (modules.length === 0) return undefined;
  const budgetText = read('WASM_BUDGET') as string;
  const budget = ['0', 'off', 'false'].includes(budgetText.toLowerCase()) ? false : parseInteger(budgetText, 'WASM_BUDGET', 1, 0x7fffffff);
  const maxMemoryPages = parseInteger(read('WASM_MAX_MEMORY_PAGES') as string, 'WASM_MAX_MEMORY_PAGES', 1, 65536);
  const poolText = read('WASM_POOL_SIZE') as string;
  // auto: sized by the instances' memory, 32 to 128 (DEFAULT_POOL_SIZE in lib/wasm/stage.ts)
  const poolSize = poolText === 'auto' ? undefined : parseInteger(poolText, 'WASM_POOL_SIZE', 1, 1024);
  const onError = read('WASM_ON_ERROR') as string;
  if (onError !== 'nack' && onError !== 'deadLetter') {
    throw new ConfigError(`must be nack or deadLetter, not '${onError}'`, { variable: 'WASM_ON_ERROR' });
  }
  if (onError === 'deadLetter' && services.deadLetter === undefined) {
    throw new ConfigError('WASM_ON_ERROR=deadLetter needs DEAD_LETTER_URI, for example DEAD_LETTER_URI=file:///var/spool/dead.jsonl', {
      variable: 'WASM_ON_ERROR',
    });
  }
  const redirectHosts = (read('WASM_FETCH_REDIRECT_HOSTS') ?? '')
    .split(',')
    .map((host) => host.trim())
    .filter((host) => host.length > 0);
  for (const host of redirectHosts) {
    if (!/^(\*|(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])$/i.test(host)) {
      throw new ConfigError(
        `'${host}' is not a host name; write names like cdn.example.com or *.example.com, comma-separated (* allows any host)`,
        {
          variable: 'WASM_FETCH_REDIRECT_HOSTS',
        },
      );
    }
  }
  const configText = read('WASM_CONFIG');
  const prefetchText = read('WASM_PREFETCH');
  const options: WasmOperatorOptions = {
    cache: services.cache,
    config: configText === undefined ? undefined : parseWasmConfig(configText),
    budget,
    maxMemoryPages,
    ...(poolSize === undefined ? {} : { poolSize }),
    onError,
    deadLetter: onError === 'deadLetter' ? services.deadLetter : undefined,
    variable: 'WASM_MODULE',
    asyncCache: services.cache.sync === undefined,
    maxModuleBytes: positive(parseSize(read('WASM_MAX_MODULE_SIZE') as string, 'WASM_MAX_MODULE_SIZE'), 'WASM_MAX_MODULE_SIZE', '16mb'),
    connectTimeout: positive(
      parseDuration(read('WASM_FETCH_CONNECT_TIMEOUT') as string, 'WASM_FETCH_CONNECT_TIMEOUT'),
      'WASM_FETCH_CONNECT_TIMEOUT',
      '10s',
    ),
    fetchTimeout: positive(parseDuration(read('WASM_FETCH_TIMEOUT') as string, 'WASM_FETCH_TIMEOUT'), 'WASM_FETCH_TIMEOUT', '60s'),
    redirectHosts,
    env: services.env,
    ...(prefetchText === undefined ? {} : { prefetch: prefetchTemplate(prefetchText) }),
  };
  const digests = read('WASM_SHA256')
    ?.split(',')
    .map((digest) => digest.trim())
    .filter((digest) => digest.length > 0);
  if (digests !== undefined && digests.length !== modules.length) {
    throw new ConfigError(
      `gives ${digests.length} digest(s) for ${modules.length} module(s); give one SHA-256 per module of WASM_MODULE, in the same order (sha256sum prints them)`,
      { variable: 'WASM_SHA256' },
    );
  }
  // each module can be loaded again while the pipeline runs (SIGHUP, WASM_WATCH): see lib/wasm/reload.ts
  const reloadables = modules.map((module, index) => new ReloadableModule(module, { ...options, sha256: digests?.[index] }));
  const loads: Promise<WasmModule>[] = reloadables.map((module) => module.load());
  const ready = Promise.all(loads).then(() => undefined);
  ready.catch(() => undefined); // the caller awaits it; this only keeps an early failure from being "unhandled"
  const watch = parseBoolean(read('WASM_WATCH') ?? 'false', 'WASM_WATCH');
  return {
    operators: loads.map((loaded, index) => wasmOperator('auto', loaded, { ...options, reload: reloadables[index] })),
    ready,
    description: modules.map((module) => path.basename(module)).join(' -> '),
    reload: (logger) => reloadOnSignal(reloadables, { watch, logger }),
  };
}

/** Zero would mean "refuse everything" or "give up at once": refused with an example instead. */
function positive(value: number, variable: string, example: string): number {
  if (value <= 0) throw new ConfigError(`must be more than 0; for example ${variable}=${example}`, { variable });
  return value;
}

/**
 * WASM_PREFETCH: the cache keys a module reads for a message, as templates (comma-separated) with `{key}` (the
 * message key), `{metadata.NAME}` and `{json.FIELD}` (a top-level field of a JSON body), for example
 * `profile:{json.user}` (lib/keyTemplate.ts). A placeholder with no value leaves that key out; the hint never changes
 * results.
 */
export function prefetchTemplate(text: string): (message: Message) => string[] {
  return keyTemplate(text, 'WASM_PREFETCH', 'hint');
}
