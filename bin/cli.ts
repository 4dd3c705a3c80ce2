// The wasm-pipes CLI: environment -> pipeline -> run. Configuration errors print one line and exit 2.
import fs from 'node:fs';
import path from 'node:path';
import { merge, type MonoTypeOperatorFunction, type Observable } from 'rxjs';
import { source, sink } from '../lib/endpoints';
import { start, pipelineParts, type RunningPipeline, type PipelineStats } from '../lib/run';
import type { Message } from '../lib/message';
import type { Sink } from '../lib/sink';
import { ConfigError, MissingResourceError, WasmAbiError } from '../lib/errors';
import { MAX_TIMER_MS, parseBoolean, parseDuration, parseInteger } from '../lib/config';
import { allSchemeDefinitions, lookupScheme, redactUri, type ParamSpec } from '../lib/registry';
import { rootLogger, createLogger, parseLogSettings, setRootLogger, type Logger } from '../lib/logging/logger';
import { ENV_GROUPS, ENV_VARIABLES } from './env';
import { openCache, parseCacheUri } from '../lib/cache';
import type { Cache } from '../lib/cache/types';
import { wasmFromEnv } from './wasmEnv';
import { keyTemplate } from '../lib/keyTemplate';
import { fallback, rateLimit } from '../operators';
import { parseRate } from '../lib/tokenBucket';
import { hopLimit } from './hops';
import { Redactor, secretsFromEnv } from '../lib/security/redact';
import { readTlsFiles, type TlsFiles } from '../lib/security/tls';
import {
  startAdminServer,
  pipelineReadiness,
  isLoopbackHost,
  type AdminServer,
  DEFAULT_ADMIN_PORT,
  type ReadinessReport,
} from '../lib/admin/server';
import { commandsHelp, loadCommand, parseInvocation, USAGE_EXIT_CODE } from './dispatch';
import { tracingSettingsFromEnv } from '../lib/tracing/config';
import { runFromEnv } from './workers';

/** Splits a comma-separated list of URIs; a comma inside a URI's query stays (it is not followed by `scheme://`). */
export function splitUris(value: string): string[] {
  return value
    .split(/,(?=\s*[a-zA-Z][a-zA-Z0-9+.-]*:\/\/)/)
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

/** `wasm-pipes help <scheme>`: what a connector is, its examples, and its URI parameters, from its ParamSpec tables. */
export function schemeHelp(topic: string): string {
  const scheme = topic.replace(/:\/\/$/, '').toLowerCase();
  const definition = lookupScheme(scheme, 'help');
  const lines = [`${definition.schemes.map((name) => `${name}://`).join(', ')}: ${definition.description}`, ''];
  if (definition.sourceExample) lines.push(`  as a source: ${definition.sourceExample}`);
  if (definition.sinkExample) lines.push(`  as a sink:   ${definition.sinkExample}`);
  const table = (title: string, params: readonly (ParamSpec | string)[] | undefined): void => {
    if (params === undefined || params.length === 0) return;
    lines.push('', title);
    for (const param of params) {
      if (typeof param === 'string') lines.push(`  ${param}`);
      else lines.push(`  ${param.name.padEnd(18)} ${param.description}${param.default === undefined ? '' : ` (default ${param.default})`}`);
    }
  };
  table('Source parameters:', definition.openSource ? definition.sourceParams : undefined);
  table('Sink parameters:', definition.openSink ? definition.sinkParams : undefined);
  lines.push('', `More: docs/connectors/ (${definition.schemes[0]}).`, '');
  return lines.join('\n');
}

function helpText(commandsDir?: string): string {
  const lines = [
    'wasm-pipes: relay messages from a source to sinks, through WebAssembly transforms and filters.',
    '',
    'Usage: [VARIABLE=value ...] wasm-pipes [command]   (variables may also come from a .env file in the working directory)',
    '',
    ...commandsHelp(commandsDir),
    '',
  ];
  const width = Math.max(...ENV_VARIABLES.map((variable) => variable.name.length)) + 2;
  for (const [group, title] of Object.entries(ENV_GROUPS)) {
    lines.push(`${title}:`);
    for (const variable of ENV_VARIABLES.filter((entry) => entry.group === group)) {
      const fallback = variable.default === undefined ? '' : ` (default ${variable.default})`;
      lines.push(`  ${variable.name.padEnd(width)}${variable.description}${fallback}`);
    }
    lines.push('');
  }
  lines.push('Schemes:');
  for (const definition of allSchemeDefinitions()) {
    const roles = [definition.openSource ? 'source' : '', definition.openSink ? 'sink' : ''].filter(Boolean).join('+');
    lines.push(
      `  ${definition.schemes
        .map((scheme) => `${scheme}://`)
        .join(', ')
        .padEnd(24)} ${roles.padEnd(12)} ${definition.description}`,
    );
  }
  lines.push('', 'Example:', '  SOURCE_URI=http://:9000/events SINK_URI=nats://sink NATS_SERVER_URL=127.0.0.1:4222 wasm-pipes', '');
  return lines.join('\n');
}

/** Loads .env from the working directory (for the commands too: they read the same configuration). */
export function loadDotEnv(): void {
  const file = path.resolve('.env');
  if (!fs.existsSync(file)) return;
  // process.loadEnvFile keeps variables that are already set, so the real environment wins over the file
  process.loadEnvFile(file);
}

/** ADMIN_PORT, ADMIN_HOST, ADMIN_TLS_*, ADMIN_TOKEN: where the admin server listens; absent with ADMIN_PORT=0. */
export interface AdminSettings {
  port: number;
  host: string;
  tls?: TlsFiles;
  /** ADMIN_TOKEN: /metrics and the details of /ready need it. */
  token?: string;
  /** ADMIN_PORT was set: a port in use is then a start-up failure, not a warning. */
  explicit: boolean;
}

/** Shorter tokens could be guessed: the admin server does not slow down wrong guesses. */
const MIN_ADMIN_TOKEN_LENGTH = 16;

export interface BinPipeline {
  pipeline: Observable<Message>;
  sinks: Sink[];
  deadLetter?: Sink;
  description: string;
  /** The start-up summary as fields, secrets redacted. */
  summary: Record<string, unknown>;
  shutdownTimeout: number;
  /** STATS_INTERVAL in ms (0 = off). */
  statsInterval: number;
  admin?: AdminSettings;
  /** The cache of CACHE_URI (memory:// by default), for the cache operators and wasm modules; closed by main(). */
  cache: Cache;
  /** Resolves once everything loaded at start-up (wasm modules) is ready; rejects with a ConfigError/WasmAbiError. */
  ready?: Promise<void>;
  /** Starts hot reload of the wasm modules (SIGHUP, WASM_WATCH); returns the function that stops it. */
  reload?: (logger: Logger) => () => void;
}

/** The names of the variables flagged secret in bin/env.ts, for the redaction. */
export function secretVariableNames(): string[] {
  return ENV_VARIABLES.filter((variable) => variable.secret).map((variable) => variable.name);
}

function parseAdmin(read: (name: string) => string | undefined, env: NodeJS.ProcessEnv): AdminSettings | undefined {
  const port = parseInteger(read('ADMIN_PORT') ?? String(DEFAULT_ADMIN_PORT), 'ADMIN_PORT', 0, 65535);
  const tls = readTlsFiles(env, 'ADMIN_TLS_CERT', 'ADMIN_TLS_KEY');
  const token = read('ADMIN_TOKEN');
  const anonymous = parseBoolean(read('ADMIN_ANONYMOUS') ?? 'false', 'ADMIN_ANONYMOUS');
  if (token !== undefined && token.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new ConfigError(
      `is ${token.length} characters long; use ${MIN_ADMIN_TOKEN_LENGTH} or more random ones, for example ADMIN_TOKEN=$(openssl rand -hex 24)`,
      {
        variable: 'ADMIN_TOKEN',
      },
    );
  }
  if (port === 0) return undefined;
  const host = (read('ADMIN_HOST') ?? '127.0.0.1').replace(/^\[|\]$/g, '');
  if (!/^[0-9a-zA-Z.:_-]+$/.test(host)) {
    throw new ConfigError(`'${host}' is not a host name or address; for example ADMIN_HOST=127.0.0.1 or ADMIN_HOST=0.0.0.0`, {
      variable: 'ADMIN_HOST',
    });
  }
  // beyond this machine, /metrics and /ready name every endpoint and count every message: say who may read them
  if (!isLoopbackHost(host) && token === undefined && !anonymous) {
    throw new ConfigError(
      `${host} serves /metrics and /ready beyond this machine; set ADMIN_TOKEN to a long random value (Prometheus sends ` +
        'it as a bearer token; /ping and the status of /ready stay open for probes), or ADMIN_ANONYMOUS=true to serve ' +
        'them to anyone who can reach the port',
      { variable: 'ADMIN_HOST' },
    );
  }
  return { port, host, ...(tls ? { tls } : {}), ...(token === undefined ? {} : { token }), explicit: (env.ADMIN_PORT ?? '').trim() !== '' };
}

/**
 * Groups whose variables keep their SDK's rule that an empty value means unset (the AWS, Google and Azure SDKs read
 * them too, and CI images often export them empty).
 */
const EMPTY_MEANS_UNSET_GROUPS: readonly string[] = ['aws', 'gcp', 'azure', 'tracing'];
/** Comma-separated lists, where an empty item is a typo (a trailing or doubled comma), not a value. */
const LIST_VARIABLES = ['SOURCE_URI', 'SINK_URI', 'WASM_MODULE', 'WASM_SHA256', 'KAFKA_BROKERS', 'NATS_SERVER_URL'];

/**
 * Refuses values that would silently mean something else: a variable of the table set to an empty value (usually an
 * unset shell variable, as in SINK_URI=$SINKS: falling back to the default, or turning HTTP_SOURCE_TOKEN off, is not
 * what was meant) and a list with an empty item.
 */
export function checkLenientValues(env: NodeJS.ProcessEnv): void {
  for (const variable of ENV_VARIABLES) {
    const value = env[variable.name];
    if (value === undefined || EMPTY_MEANS_UNSET_GROUPS.includes(variable.group)) continue;
    if (value.trim() === '') {
      const fallback = variable.default === undefined ? '' : ` for the default (${variable.default})`;
      throw new ConfigError(`is set but empty; give it a value, or unset it${fallback}`, { variable: variable.name });
    }
  }
  for (const name of LIST_VARIABLES) {
    const value = env[name]?.trim();
    if (value === undefined) continue;
    if (value.startsWith(',') || value.endsWith(',') || /,\s*,/.test(value)) {
      throw new ConfigError(`'${value}' has an empty item (a comma at the start or end, or two in a row); remove the extra comma`, {
        variable: name,
      });
    }
  }
}

/** One item of SINK_URI split at `|` (a fallback: each is tried when the one before failed), scheme by scheme. */
export function splitFallbacks(value: string): string[] {
  const parts = value.split(/\|(?=\s*[a-zA-Z][a-zA-Z0-9+.-]*:\/\/)/).map((part) => part.trim());
  if (parts.some((part) => part.length === 0) || /^\s*\||\|\s*$|\|\s*\|/.test(value)) {
    throw new ConfigError(`'${value}' has an empty fallback (a '|' at the start or end, or two in a row)`, { variable: 'SINK_URI' });
  }
  return parts;
}

/** RATE_LIMIT and its companions as an operator, or undefined when RATE_LIMIT is not set. */
function rateLimitFromEnv(
  read: (name: string) => string | undefined,
  cache: Cache,
): { operator: MonoTypeOperatorFunction<Message>; description: string } | undefined {
  const rateText = read('RATE_LIMIT');
  const sharedText = read('RATE_LIMIT_SHARED') ?? 'false';
  const shared = parseBoolean(sharedText, 'RATE_LIMIT_SHARED');
  const burstText = read('RATE_LIMIT_BURST');
  const keyText = read('RATE_LIMIT_KEY');
  if (rateText === undefined) {
    const stray =
      burstText !== undefined ? 'RATE_LIMIT_BURST' : keyText !== undefined ? 'RATE_LIMIT_KEY' : shared ? 'RATE_LIMIT_SHARED' : undefined;
    if (stray !== undefined)
      throw new ConfigError('has no effect without RATE_LIMIT; set RATE_LIMIT=1000/s (for example) too', { variable: stray });
    return undefined;
  }
  const rate = parseRate(rateText, 'RATE_LIMIT');
  const burst = burstText === undefined ? undefined : parseInteger(burstText, 'RATE_LIMIT_BURST', 1);
  if (shared && cache.takeTokens === undefined) {
    throw new ConfigError(
      `needs a cache that every copy of the pipeline shares: CACHE_URI=redis://host:6379/0 (CACHE_URI is ${cache.name})`,
      {
        variable: 'RATE_LIMIT_SHARED',
      },
    );
  }
  let key: ((message: Message) => string | undefined) | undefined;
  if (keyText !== undefined) {
    // a message whose template has no value (a body that is not JSON, a field that is absent) takes the shared rate
    const keysOf = keyTemplate(keyText, 'RATE_LIMIT_KEY');
    key = (message) => keysOf(message)[0];
  }
  const operator = rateLimit({ rate: rate.perSecond, burst, key, shared: shared ? cache : undefined, sharedName: 'bin' });
  const description = `${rateText}${burst === undefined ? '' : `, burst ${burst}`}${keyText === undefined ? '' : ` per ${keyText}`}${shared ? ', shared' : ''}`;
  return { operator, description };
}

/** Sinks that no source reads back: the hop count is not added for them alone (see bin/hops.ts). */
const LOCAL_OUTPUT_SCHEMES = /^(?:stdout|file):\/\//i;

/** Builds the pipeline from `env`; throws ConfigError (or WasmAbiError) for a bad configuration. */
export function buildFromEnv(env: NodeJS.ProcessEnv): BinPipeline {
  checkLenientValues(env);
  // run() reads the OTEL_* variables when it starts: a bad one is reported here, with the other configuration errors
  tracingSettingsFromEnv(env);
  const read = (name: string): string | undefined => {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return value.trim();
    return ENV_VARIABLES.find((variable) => variable.name === name)?.default;
  };
  const maxInFlight = parseInteger(read('MAX_IN_FLIGHT') as string, 'MAX_IN_FLIGHT', 1);
  const ackTimeout = parseDuration(read('ACK_TIMEOUT') as string, 'ACK_TIMEOUT', MAX_TIMER_MS);
  const maxDeliveries = parseInteger(read('MAX_DELIVERIES') as string, 'MAX_DELIVERIES', 1);
  const shutdownTimeout = parseDuration(read('SHUTDOWN_TIMEOUT') as string, 'SHUTDOWN_TIMEOUT', MAX_TIMER_MS);
  const maxAttempts = parseInteger(read('SINK_MAX_ATTEMPTS') as string, 'SINK_MAX_ATTEMPTS', 1);
  const concurrencyText = read('SINK_CONCURRENCY');
  const concurrency = concurrencyText === undefined ? undefined : parseInteger(concurrencyText, 'SINK_CONCURRENCY', 1);

  // opening connects nothing yet (Redis and NATS KV connect on first use, or when main() calls connect())
  const cacheUri = read('CACHE_URI') as string;
  const cache = openCache(parseCacheUri(cacheUri, { variable: 'CACHE_URI', env }), { env });

  const deadLetterUri = read('DEAD_LETTER_URI');
  const deadLetter =
    deadLetterUri === undefined ? undefined : sink(deadLetterUri, { variable: 'DEAD_LETTER_URI', env, retry: { maxAttempts } });
  const sinkGroups = splitUris(read('SINK_URI') as string).map(splitFallbacks);
  const sinkUris = sinkGroups.flat();
  if (sinkUris.length === 0) throw new ConfigError('no sink given; for example SINK_URI=stdout://', { variable: 'SINK_URI' });
  const sinks = sinkGroups.map((group) =>
    fallback(
      group.map((uri, index) =>
        // only the last of a fallback has the dead letter: a sink that dead-letters a message has handled it, and the
        // next one would never get its turn
        sink(uri, {
          variable: 'SINK_URI',
          env,
          deadLetter: index === group.length - 1 ? deadLetter : undefined,
          concurrency,
          retry: { maxAttempts },
        }),
      ),
    ),
  );
  const sourceUris = splitUris(read('SOURCE_URI') as string);
  const sourceUri = sourceUris.join(',');
  // the wasm modules' cache_get/cache_set (and the Go prototype's cache.get/cache.set) use the CACHE_URI cache
  const wasm = wasmFromEnv(read, { cache, deadLetter });
  // several sources are merged: each keeps its own window and settles with its own service
  const sources = sourceUris.map((uri) => source(uri, { variable: 'SOURCE_URI', env, maxInFlight, ackTimeout, maxDeliveries, deadLetter }));
  const sourced = sources.length === 1 ? sources[0] : merge(...sources);
  const limit = rateLimitFromEnv(read, cache);
  // the hop count first: a looping message is stopped before a module spends time on it
  const maxHops = parseInteger(read('MAX_HOPS') as string, 'MAX_HOPS', 0);
  const hops =
    maxHops === 0
      ? []
      : [hopLimit({ maxHops, deadLetter, addCount: sinkUris.some((uri) => !LOCAL_OUTPUT_SCHEMES.test(uri)), logger: rootLogger() })];
  const pipeline = [...hops, ...(limit ? [limit.operator] : []), ...(wasm?.operators ?? [])].reduce(
    (stream, operator) => stream.pipe(operator),
    sourced,
  );

  const statsInterval = parseDuration(read('STATS_INTERVAL') as string, 'STATS_INTERVAL', MAX_TIMER_MS);
  const admin = parseAdmin(read, env);

  const auth = [env.HTTP_SOURCE_TOKEN ? 'bearer token' : '', env.HTTP_SOURCE_HMAC_SECRET ? 'HMAC signature' : ''].filter(Boolean);
  const limits = {
    maxInFlight,
    ackTimeout: read('ACK_TIMEOUT') as string,
    maxDeliveries,
    maxHops,
    sinkMaxAttempts: maxAttempts,
    ...(concurrency === undefined ? {} : { sinkConcurrency: concurrency }),
    shutdownTimeout: read('SHUTDOWN_TIMEOUT') as string,
  };
  const summary: Record<string, unknown> = {
    source: sourceUris.map(redactUri).join(', '),
    ...(limit ? { rateLimit: limit.description } : {}),
    operators: wasm ? [wasm.description] : [],
    sinks: sinkUris.map(redactUri),
    deadLetter: deadLetterUri === undefined ? null : redactUri(deadLetterUri),
    cache: cache.name,
    limits,
    ...(/^https?:/i.test(sourceUri) ? { httpSourceAuth: auth.length > 0 ? auth.join(' + ') : 'none' } : {}),
    admin:
      admin === undefined
        ? 'off'
        : `${admin.tls ? 'https' : 'http'}://${admin.host.includes(':') ? `[${admin.host}]` : admin.host}:${admin.port}` +
          (admin.token === undefined ? '' : ' (token)'),
    statsInterval: statsInterval === 0 ? 'off' : read('STATS_INTERVAL'),
  };
  const description =
    `${sourceUris.map(redactUri).join(' + ')}${limit ? ` -> rateLimit(${limit.description})` : ''}${wasm ? ` -> ${wasm.description}` : ''} -> ` +
    `${sinkGroups.map((group) => group.map(redactUri).join(' | ')).join(' + ')}` +
    (deadLetterUri ? ` (dead letter: ${redactUri(deadLetterUri)})` : '') +
    ` [maxInFlight ${maxInFlight}, ackTimeout ${limits.ackTimeout}, maxDeliveries ${maxDeliveries}, maxHops ${maxHops === 0 ? 'off' : maxHops}, sink attempts ${maxAttempts}, ` +
    `shutdownTimeout ${limits.shutdownTimeout}; cache ${cache.name}` +
    (summary.httpSourceAuth === undefined ? '' : `; HTTP auth ${summary.httpSourceAuth as string}`) +
    `; admin ${summary.admin as string}; stats ${summary.statsInterval as string}]`;
  return {
    pipeline,
    sinks,
    deadLetter,
    description,
    summary,
    shutdownTimeout,
    statsInterval,
    admin,
    cache,
    ready: wasm?.ready,
    reload: wasm?.reload,
  };
}

async function closeCache(cache: Cache): Promise<void> {
  try {
    await cache.close();
  } catch (error) {
    rootLogger().warn({ err: error }, `closing the cache ${cache.name} failed`);
  }
}

/** Starts the admin server; a default port in use is a warning (another wasm-pipes on this machine), not a failure. */
export async function startAdmin(
  settings: AdminSettings,
  readiness: () => ReadinessReport | Promise<ReadinessReport>,
  logger: Logger,
  /** What /metrics serves instead of this process's registry (the primary of WORKERS: every worker's, aggregated). */
  metrics?: () => Promise<string>,
): Promise<AdminServer | undefined> {
  try {
    return await startAdminServer({
      port: settings.port,
      host: settings.host,
      tls: settings.tls,
      token: settings.token,
      readiness,
      metrics,
      logger,
    });
  } catch (error) {
    const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (!settings.explicit && code === 'EADDRINUSE') {
      logger.warn(
        { port: settings.port },
        `admin server not started: port ${settings.port} is in use (another wasm-pipes on this machine?); ` +
          'set ADMIN_PORT to a free port for /ping, /ready and /metrics, or ADMIN_PORT=0 to silence this',
      );
      return undefined;
    }
    throw error;
  }
}

/** Prints a configuration error as the bin's one start-up line (secrets scrubbed); true when `error` was one. */
export function reportConfigError(error: unknown): boolean {
  // a queue, table or bucket that does not exist is fixed in the configuration, like a bad URI: exit 2
  if (!(error instanceof ConfigError || error instanceof WasmAbiError || error instanceof MissingResourceError)) return false;
  // the message may quote a value with a password in it
  const redactor = new Redactor(secretsFromEnv(process.env, secretVariableNames()));
  process.stderr.write(`wasm-pipes: ${redactor.redact(error.message)}\n`);
  return true;
}

/**
 * Runs the CLI; resolves to the exit code. No argument runs the pipeline; `help`/`--help`, `--version` and the
 * commands of bin/commands/ are dispatched (see bin/dispatch.ts); any other argument exits 2.
 */
export async function main(argv: readonly string[], options: { commandsDir?: string } = {}): Promise<number> {
  const invocation = parseInvocation(argv, options.commandsDir);
  switch (invocation.kind) {
    case 'help':
      if (invocation.topic === undefined) {
        process.stdout.write(helpText(options.commandsDir));
        return 0;
      }
      try {
        process.stdout.write(schemeHelp(invocation.topic));
        return 0;
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        process.stderr.write(`wasm-pipes: ${error.message}\n`);
        return USAGE_EXIT_CODE;
      }
    case 'version':
      process.stdout.write(`${(require('../../package.json') as { version: string }).version}\n`);
      return 0;
    case 'usage-error':
      process.stderr.write(`wasm-pipes: ${invocation.message}\n`);
      return USAGE_EXIT_CODE;
    case 'command':
      try {
        return await loadCommand(invocation.name, options.commandsDir).main(invocation.args);
      } catch (error) {
        if (reportConfigError(error)) return USAGE_EXIT_CODE;
        throw error;
      }
    case 'pipeline':
      // WORKERS=N: a primary that runs N workers, or one of them; otherwise runPipeline() in this process
      return runFromEnv();
  }
}

/** How a worker of WORKERS=N runs the pipeline (bin/workers.ts); absent in a single process. */
export interface WorkerRole {
  /** Fields on every log line (the worker's number). */
  bindings: Record<string, unknown>;
  /** Called once the pipeline is subscribed, to answer the primary's questions about it. */
  attached(running: RunningPipeline, built: BinPipeline): void;
  /** Called once the pipeline started: the primary counts its workers in. */
  started(): void;
  /** Awaited before the exit code is returned: the worker's last counts go to the primary. */
  exiting(running: RunningPipeline, code: number): Promise<void>;
}

/**
 * The root logger as LOG_LEVEL and LOG_FORMAT say (with `bindings` on every line), then the pipeline the environment
 * describes, built and checked (modules loaded). Throws what is wrong with the environment, for reportConfigError().
 */
export async function loggerAndPipelineFromEnv(bindings?: Record<string, unknown>): Promise<{ logger: Logger; built: BinPipeline }> {
  // the logger first, so that every connector logs with the chosen level and format, secrets scrubbed
  let logger = createLogger({ ...parseLogSettings(process.env), secrets: secretsFromEnv(process.env, secretVariableNames()) });
  if (bindings !== undefined) logger = logger.child(bindings);
  setRootLogger(logger);
  const built = buildFromEnv(process.env);
  await built.ready;
  return { logger, built };
}

/** Runs the pipeline the environment (and .env) describes until it ends or is stopped; resolves to the exit code. */
export async function runPipeline(worker?: WorkerRole): Promise<number> {
  let built: BinPipeline;
  let logger: Logger;
  try {
    loadDotEnv();
    ({ logger, built } = await loggerAndPipelineFromEnv(worker?.bindings));
  } catch (error) {
    if (reportConfigError(error)) return USAGE_EXIT_CODE;
    throw error;
  }
  // a worker's primary has logged the pipeline once for all of them
  if (worker === undefined) logger.info({ pipeline: built.summary }, `pipeline: ${built.description}`);
  else logger.debug({ pipeline: built.summary }, `pipeline: ${built.description}`);
  const running = start(built.pipeline, built.sinks, {
    shutdownTimeout: built.shutdownTimeout,
    deadLetter: built.deadLetter,
    statsInterval: built.statsInterval,
    logger,
  });
  // connect the cache now, so that a cache that is down is reported at start-up (and retried), not at the first message
  built.cache.connect?.().catch(() => undefined);
  worker?.attached(running, built);
  let admin: AdminServer | undefined;
  const stopReload = built.reload?.(logger);
  const closeAll = async (): Promise<void> => {
    stopReload?.();
    await admin?.close();
    await closeCache(built.cache);
  };
  try {
    // the admin server comes up before the pipeline is started, so that /ping answers and /ready says 'starting'
    // while a broker is slow to connect
    if (built.admin !== undefined) admin = await startAdmin(built.admin, () => pipelineReadiness(running, { cache: built.cache }), logger);
    await running.started;
  } catch (error) {
    logger.fatal({ err: error }, `could not start: ${(error as Error).message}`);
    await running.stop().catch(() => undefined);
    await closeAll();
    // a configuration that only the service can find wrong (refused credentials, a missing stream) is a usage error
    const code = reportConfigError(error) ? USAGE_EXIT_CODE : 1;
    await worker?.exiting(running, code);
    return code;
  }
  if (worker === undefined) logger.info('wasm-pipes started');
  else {
    logger.info('worker started');
    worker.started();
  }
  let failure: Error | undefined;
  try {
    await running.done;
  } catch (error) {
    failure = error as Error;
  }
  await closeAll();
  const code = exitSummary(running, logger, failure, worker === undefined ? 'wasm-pipes' : 'worker');
  await worker?.exiting(running, code);
  return code;
}

/** The counts of the exit summary, as its text says them (shared with the primary of WORKERS, which sums them). */
export function summaryText(stats: PipelineStats, notDelivered: number): string {
  return (
    `received ${stats.received}, acked ${stats.acked}, nacked ${stats.nacked}, dead-lettered ${stats.deadLettered}, ` +
    `written ${stats.written}` +
    (stats.dropped > 0 ? `, dropped ${stats.dropped}` : '') +
    (notDelivered > 0 ? `, NOT DELIVERED ${notDelivered}` : '')
  );
}

/**
 * The last line: what happened to every message, and the exit code. 0 when the pipeline stopped cleanly and every
 * message it took was delivered (or dead-lettered, or dropped on purpose); 1 when it failed, overran the shutdown
 * timeout, or could not deliver messages that nothing will deliver later (an in-process input: stdin://, file://).
 */
function exitSummary(running: RunningPipeline, logger: Logger, failure: Error | undefined, who: string): number {
  const stats = running.stats();
  const lost = pipelineParts(running).sources.reduce((sum, source) => sum + (source.driver.undelivered ?? 0), 0);
  const notDelivered = stats.givenUp + lost;
  const text = summaryText(stats, notDelivered);
  if (failure !== undefined) {
    logger.fatal({ err: failure, stats }, `${who} stopped: ${failure.message}; ${text}`);
    return 1;
  }
  if (notDelivered > 0) {
    logger.error(
      { stats, notDelivered },
      `${who} stopped: ${text}. ${notDelivered} message(s) of an in-process input were not delivered ` +
        '(given up after MAX_DELIVERIES, or still queued at the stop); set DEAD_LETTER_URI to keep failed ones',
    );
    return 1;
  }
  logger.info({ stats }, `${who} stopped: ${text}`);
  return 0;
}
