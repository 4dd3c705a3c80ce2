// `wasm-pipes check`: will this configuration work, before it is deployed? Reads the environment and .env as the
// pipeline would, validates every variable, loads and checks every module, then opens each source and sink just far
// enough to prove that it exists and that the credentials work (lib/connectors/<family>/probe.ts), taking and sending no
// message. Exits 0 with one line per endpoint, or 2 with one line per problem and its fix; --offline skips connecting.
import path from 'node:path';
import { Writable } from 'node:stream';
import { buildFromEnv, checkLenientValues, loadDotEnv, secretVariableNames, splitUris } from '../cli';
import { ENV_VARIABLES } from '../env';
import { wasmFromEnv } from '../wasmEnv';
import { USAGE_EXIT_CODE } from '../dispatch';
import { source, sink } from '../../lib/endpoints';
import type { Sink } from '../../lib/sink';
import { parseEndpointUri, redactUri, type EndpointUri } from '../../lib/registry';
import { MemoryCache } from '../../lib/cache/memory';
import { createLogger, setRootLogger } from '../../lib/logging/logger';
import { Redactor, secretsFromEnv } from '../../lib/security/redact';
import { tracingSettingsFromEnv } from '../../lib/tracing/config';
import type { ConfigError } from '../../lib/errors';

export const description =
  'check the configuration: variables, modules, and that each source and sink exists and lets us in (--offline: no connection)';

/** How long one endpoint may take to answer before check gives up on it. */
export const PROBE_TIMEOUT_MS = 15_000;

/** What lib/connectors/<family>/probe.ts exports: each resolves with what it found, or throws the problem and its fix. */
export interface ProbeModule {
  probeSource?: (uri: EndpointUri, env: NodeJS.ProcessEnv) => Promise<string>;
  probeSink?: (uri: EndpointUri, env: NodeJS.ProcessEnv) => Promise<string>;
}

/** scheme -> the family folder whose probe.ts checks it (the families of lib/registry.ts). */
const PROBE_FAMILIES: Readonly<Record<string, string>> = {
  mem: 'local',
  stdin: 'local',
  stdout: 'local',
  file: 'local',
  http: 'http',
  https: 'http',
  nats: 'nats',
  kafka: 'kafka',
  rabbit: 'rabbit',
  awssqs: 'aws',
  awssns: 'aws',
  gcppubsub: 'gcp',
  azuresb: 'azure',
  mqtt: 'mqtt',
  mqtts: 'mqtt',
  'redis-stream': 'redisstream',
  postgres: 'postgres',
  postgresql: 'postgres',
  s3: 's3',
};

interface Endpoint {
  variable: string;
  role: 'source' | 'sink';
  uri: string;
  /** Set once the URI and its parameters were accepted: the probe may run. */
  parsed?: EndpointUri;
}

function loadProbe(scheme: string): ProbeModule | undefined {
  const family = PROBE_FAMILIES[scheme];
  if (family === undefined) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(__dirname, '..', '..', 'lib', 'connectors', family, 'probe')) as ProbeModule;
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${ms / 1000} s from ${what}; is it reachable from here (address, port, firewall)?`)),
      ms,
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export async function main(args: string[]): Promise<number> {
  const unknown = args.filter((arg) => arg !== '--offline');
  if (unknown.length > 0) {
    process.stderr.write(`wasm-pipes check: unknown argument '${unknown[0]}'; usage: wasm-pipes check [--offline]\n`);
    return USAGE_EXIT_CODE;
  }
  const offline = args.includes('--offline');
  loadDotEnv();
  const env = process.env;
  const redactor = new Redactor(secretsFromEnv(env, secretVariableNames()));
  // what the connectors warn about while opening (an unknown URI parameter) is part of the report, not a log line
  const warnings: string[] = [];
  setRootLogger(
    createLogger({
      level: 'warn',
      format: 'json',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString('utf8').split('\n')) {
            if (line.trim() === '') continue;
            try {
              warnings.push((JSON.parse(line) as { msg: string }).msg);
            } catch {
              warnings.push(line);
            }
          }
          done();
        },
      }),
    }),
  );

  const problems: string[] = [];
  const problem = (text: string): void => {
    const line = redactor.redact(text);
    if (!problems.includes(line)) problems.push(line);
  };
  const oks: string[] = [];
  const ok = (what: string, uri: string, found: string): void => {
    oks.push(redactor.redact(`ok  ${what.padEnd(15)} ${uri}  ${found}`));
  };

  // the whole configuration as the pipeline reads it. It stops at the first bad variable: that one is reported and
  // left out (its default then applies), and the rest is read again, so that every bad variable gets its line
  let built: ReturnType<typeof buildFromEnv> | undefined;
  const trial: NodeJS.ProcessEnv = { ...env };
  const leftOut = new Set<string>();
  for (;;) {
    try {
      built = buildFromEnv(trial);
      break;
    } catch (error) {
      problem((error as Error).message);
      const variable = (error as ConfigError).variable;
      if (variable === undefined || trial[variable] === undefined || leftOut.has(variable)) break;
      leftOut.add(variable);
      delete trial[variable];
    }
  }

  // then each part on its own, so that several problems are reported at once
  const read = (name: string): string | undefined => {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return value.trim();
    return ENV_VARIABLES.find((variable) => variable.name === name)?.default;
  };
  try {
    checkLenientValues(env);
  } catch (error) {
    problem((error as Error).message);
  }
  const endpoints: Endpoint[] = [{ variable: 'SOURCE_URI', role: 'source', uri: read('SOURCE_URI') as string }];
  for (const uri of splitUris(read('SINK_URI') as string)) endpoints.push({ variable: 'SINK_URI', role: 'sink', uri });
  const deadLetterUri = read('DEAD_LETTER_URI');
  if (deadLetterUri !== undefined) endpoints.push({ variable: 'DEAD_LETTER_URI', role: 'sink', uri: deadLetterUri });
  let deadLetter: Sink | undefined;
  for (const endpoint of endpoints) {
    try {
      // building validates the URI, its parameters and the connector's variables, and connects nothing
      if (endpoint.role === 'source') source(endpoint.uri, { variable: endpoint.variable, env });
      else {
        const opened = sink(endpoint.uri, { variable: endpoint.variable, env });
        if (endpoint.variable === 'DEAD_LETTER_URI') deadLetter = opened;
      }
      endpoint.parsed = parseEndpointUri(endpoint.uri, endpoint.variable);
    } catch (error) {
      problem((error as Error).message);
    }
  }
  try {
    tracingSettingsFromEnv(env);
  } catch (error) {
    problem((error as Error).message);
  }

  // every module: fetched, its SHA-256 pin, its ABI, and the budget instrumentation (loaded once: the pipeline's own
  // when the rest of the configuration built, else on their own)
  try {
    const operators = built?.summary.operators as string[] | undefined;
    const wasm =
      built !== undefined
        ? operators?.length
          ? { ready: built.ready, description: operators.join(' -> ') }
          : undefined
        : wasmFromEnv(read, { cache: new MemoryCache(), deadLetter, env });
    if (wasm !== undefined) {
      await wasm.ready;
      ok('WASM_MODULE', wasm.description, 'loaded: exports and imports fit the ABI, pins match, budget instrumented');
    }
  } catch (error) {
    problem((error as Error).message);
  }

  const tracing = (() => {
    try {
      return tracingSettingsFromEnv(env);
    } catch {
      return undefined;
    }
  })();
  if (tracing !== undefined)
    ok(
      'OTEL_*',
      tracing.endpoint,
      `tracing on: sampler ${tracing.sampler}${tracing.sampler.endsWith('traceidratio') ? ` ${tracing.ratio}` : ''}, service ${tracing.serviceName}`,
    );

  const valid = endpoints.filter((endpoint) => endpoint.parsed !== undefined);
  if (offline) {
    for (const endpoint of valid) ok(endpoint.variable, redactUri(endpoint.uri), `valid (not connected: --offline)`);
  } else {
    const results = await Promise.all(
      valid.map(async (endpoint) => {
        const parsed = endpoint.parsed as EndpointUri;
        const shown = redactUri(endpoint.uri);
        const probe = loadProbe(parsed.scheme);
        const run = endpoint.role === 'source' ? probe?.probeSource : probe?.probeSink;
        if (run === undefined) return { endpoint, shown, found: `valid (${parsed.scheme}:// has no probe: not connected)` };
        try {
          return { endpoint, shown, found: await withTimeout(run.call(probe, parsed, env), PROBE_TIMEOUT_MS, shown) };
        } catch (error) {
          return { endpoint, shown, error: (error as Error).message };
        }
      }),
    );
    for (const result of results) {
      if (result.error !== undefined) problem(`${result.endpoint.variable} ${result.shown}: ${result.error}`);
      else ok(result.endpoint.variable, result.shown, result.found);
    }
  }

  for (const line of oks) process.stdout.write(`${line}\n`);
  for (const warning of new Set(warnings)) process.stdout.write(`warning: ${redactor.redact(warning)}\n`);
  if (problems.length > 0) {
    for (const line of problems) process.stderr.write(`wasm-pipes check: ${line}\n`);
    return USAGE_EXIT_CODE;
  }
  return 0;
}
