// The wasm-pipes CLI: environment -> pipeline -> run. Configuration errors print one line and exit 2.
import fs from 'node:fs';
import path from 'node:path';
import type { Observable } from 'rxjs';
import { source, sink } from '../lib/endpoints';
import { start } from '../lib/run';
import type { Message } from '../lib/message';
import type { Sink } from '../lib/sink';
import { ConfigError, WasmAbiError } from '../lib/errors';
import { parseDuration, parseInteger } from '../lib/config';
import { allSchemeDefinitions, redactUri } from '../lib/registry';
import { rootLogger } from '../lib/logger';
import { ENV_VARIABLES } from './env';

/** Splits a comma-separated list of URIs; a comma inside a URI's query stays (it is not followed by `scheme://`). */
export function splitUris(value: string): string[] {
  return value
    .split(/,(?=\s*[a-zA-Z][a-zA-Z0-9+.-]*:\/\/)/)
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

function helpText(): string {
  const lines = [
    'wasm-pipes: relay messages from a source to sinks, through WebAssembly transforms and filters.',
    '',
    'Usage: [VARIABLE=value ...] wasm-pipes        (variables may also come from a .env file in the working directory)',
    '',
  ];
  const groups: Record<string, string> = { pipeline: 'Pipeline', limits: 'Limits and delivery', http: 'HTTP', azure: 'Azure Service Bus', logging: 'Logging' };
  for (const [group, title] of Object.entries(groups)) {
    lines.push(`${title}:`);
    for (const variable of ENV_VARIABLES.filter((entry) => entry.group === group)) {
      const fallback = variable.default === undefined ? '' : ` (default ${variable.default})`;
      lines.push(`  ${variable.name.padEnd(24)} ${variable.description}${fallback}`);
    }
    lines.push('');
  }
  lines.push('Schemes:');
  for (const definition of allSchemeDefinitions()) {
    const roles = [definition.openSource ? 'source' : '', definition.openSink ? 'sink' : ''].filter(Boolean).join('+');
    lines.push(`  ${definition.schemes.map((scheme) => `${scheme}://`).join(', ').padEnd(24)} ${roles.padEnd(12)} ${definition.description}`);
  }
  lines.push('', 'Example:', '  SOURCE_URI=http://:9000/events SINK_URI=nats://sink NATS_SERVER_URL=127.0.0.1:4222 wasm-pipes', '');
  return lines.join('\n');
}

function loadDotEnv(): void {
  const file = path.resolve('.env');
  if (!fs.existsSync(file)) return;
  // process.loadEnvFile keeps variables that are already set, so the real environment wins over the file
  process.loadEnvFile(file);
}

export interface BinPipeline {
  pipeline: Observable<Message>;
  sinks: Sink[];
  deadLetter?: Sink;
  description: string;
  shutdownTimeout: number;
}

/** Builds the pipeline from `env`; throws ConfigError (or WasmAbiError) for a bad configuration. */
export function buildFromEnv(env: NodeJS.ProcessEnv): BinPipeline {
  const read = (name: string): string | undefined => {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return value.trim();
    return ENV_VARIABLES.find((variable) => variable.name === name)?.default;
  };
  const maxInFlight = parseInteger(read('MAX_IN_FLIGHT') as string, 'MAX_IN_FLIGHT', 1);
  const ackTimeout = parseDuration(read('ACK_TIMEOUT') as string, 'ACK_TIMEOUT');
  const maxDeliveries = parseInteger(read('MAX_DELIVERIES') as string, 'MAX_DELIVERIES', 1);
  const shutdownTimeout = parseDuration(read('SHUTDOWN_TIMEOUT') as string, 'SHUTDOWN_TIMEOUT');
  const maxAttempts = parseInteger(read('SINK_MAX_ATTEMPTS') as string, 'SINK_MAX_ATTEMPTS', 1);
  const concurrencyText = read('SINK_CONCURRENCY');
  const concurrency = concurrencyText === undefined ? undefined : parseInteger(concurrencyText, 'SINK_CONCURRENCY', 1);

  const deadLetterUri = read('DEAD_LETTER_URI');
  const deadLetter =
    deadLetterUri === undefined ? undefined : sink(deadLetterUri, { variable: 'DEAD_LETTER_URI', env, retry: { maxAttempts } });
  const sinkUris = splitUris(read('SINK_URI') as string);
  if (sinkUris.length === 0) throw new ConfigError('no sink given; for example SINK_URI=stdout://', { variable: 'SINK_URI' });
  const sinks = sinkUris.map((uri) =>
    sink(uri, { variable: 'SINK_URI', env, deadLetter, concurrency, retry: { maxAttempts } }),
  );
  const sourceUri = read('SOURCE_URI') as string;
  const pipeline = source(sourceUri, { variable: 'SOURCE_URI', env, maxInFlight, ackTimeout, maxDeliveries, deadLetter });

  const description =
    `${redactUri(sourceUri)} -> ${sinkUris.map(redactUri).join(' + ')}` +
    (deadLetterUri ? ` (dead letter: ${redactUri(deadLetterUri)})` : '') +
    ` [maxInFlight ${maxInFlight}]`;
  return { pipeline, sinks, deadLetter, description, shutdownTimeout };
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText());
    return 0;
  }
  if (argv.includes('--version')) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    process.stdout.write(`${(require('../../package.json') as { version: string }).version}\n`);
    return 0;
  }
  let built: BinPipeline;
  try {
    loadDotEnv();
    built = buildFromEnv(process.env);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof WasmAbiError) {
      process.stderr.write(`wasm-pipes: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const logger = rootLogger();
  logger.info({ pipeline: built.description }, `pipeline: ${built.description}`);
  const running = start(built.pipeline, built.sinks, {
    shutdownTimeout: built.shutdownTimeout,
    deadLetter: built.deadLetter,
    logger,
  });
  try {
    await running.started;
  } catch (error) {
    logger.fatal({ err: error }, `could not start: ${(error as Error).message}`);
    await running.stop().catch(() => undefined);
    return 1;
  }
  logger.info('wasm-pipes started');
  try {
    await running.done;
  } catch (error) {
    logger.fatal({ err: error }, `the pipeline failed: ${(error as Error).message}`);
    return 1;
  }
  logger.info(running.stats(), 'wasm-pipes stopped');
  return 0;
}
