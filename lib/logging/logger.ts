// Structured logging with pino. Logs go to stderr, so that `stdout://` carries only data.
// Lifecycle events log at info; per-message events at debug or trace only. LOG_FORMAT picks JSON lines (the default
// when stderr is not a terminal) or pretty single lines (the default on a terminal). Every line, at every level, is
// scrubbed of the secrets found in the environment (lib/redact.ts) before it is written.
import pino from 'pino';
import { ConfigError } from '../errors';
import { Redactor, secretsFromEnv } from '../security/redact';

export type Logger = pino.Logger;
export type LogFormat = 'json' | 'pretty';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

/** Fields whose values are never logged, whatever they hold. */
const REDACTED_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  '*.headers.cookie',
  'connectionString',
  '*.connectionString',
];

export interface LoggerSettings {
  level?: LogLevel;
  /** Default: pretty when stderr is a terminal, JSON otherwise. */
  format?: LogFormat;
  /** Values to scrub from every line, on top of those in the environment. */
  secrets?: Iterable<string>;
  /** Where secrets are looked for. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Where lines go. Default stderr (fd 2), synchronously. */
  destination?: NodeJS.WritableStream;
}

/** Reads LOG_LEVEL and LOG_FORMAT; throws a ConfigError naming the variable and the valid values. */
export function parseLogSettings(env: NodeJS.ProcessEnv): { level: LogLevel; format: LogFormat | undefined } {
  const levelText = (env.LOG_LEVEL ?? '').trim().toLowerCase() || 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(levelText)) {
    throw new ConfigError(`'${env.LOG_LEVEL}' is not a log level; use one of ${LOG_LEVELS.join(', ')}, for example LOG_LEVEL=debug`, {
      variable: 'LOG_LEVEL',
    });
  }
  const formatText = (env.LOG_FORMAT ?? '').trim().toLowerCase();
  if (formatText !== '' && !(LOG_FORMATS as readonly string[]).includes(formatText)) {
    throw new ConfigError(`'${env.LOG_FORMAT}' is not a log format; use json or pretty, for example LOG_FORMAT=json`, {
      variable: 'LOG_FORMAT',
    });
  }
  return { level: levelText as LogLevel, format: formatText === '' ? undefined : (formatText as LogFormat) };
}

function prettyStream(destination: NodeJS.WritableStream | undefined, colorize: boolean): NodeJS.WritableStream {
  // loaded only for pretty output

  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  return pretty({
    destination: destination ?? 2,
    sync: true,
    colorize,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    // the messages of the summary and the stats lines already say what these fields hold
    ignore: 'pid,hostname,name,pipeline,stats',
  });
}

/** A logger with the given level and format that scrubs secrets from every line. */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const redactor = new Redactor(secretsFromEnv(settings.env ?? process.env));
  if (settings.secrets !== undefined) redactor.add(settings.secrets);
  const format = settings.format ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const destination =
    format === 'pretty'
      ? prettyStream(settings.destination, settings.destination === undefined && process.stderr.isTTY === true)
      : (settings.destination ?? pino.destination({ fd: 2, sync: true }));
  return pino(
    {
      name: 'wasm-pipes',
      level: settings.level ?? 'info',
      base: { pid: process.pid },
      redact: { paths: REDACTED_PATHS, censor: '***' },
      hooks: { streamWrite: (line: string) => redactor.redact(line) },
    },
    destination as pino.DestinationStream,
  );
}

let root: Logger | undefined;

/** The process-wide logger (LOG_LEVEL and LOG_FORMAT from the environment; bad values fall back to defaults), created on first use. */
export function rootLogger(): Logger {
  if (root === undefined) {
    let settings: { level: LogLevel; format: LogFormat | undefined };
    try {
      settings = parseLogSettings(process.env);
    } catch {
      settings = { level: 'info', format: undefined };
    }
    root = createLogger(settings);
  }
  return root;
}

/** Replaces the process-wide logger (the bin does this after reading its configuration). */
export function setRootLogger(logger: Logger): void {
  root = logger;
}
