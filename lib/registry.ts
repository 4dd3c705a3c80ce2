// The URI registry, like gocloud's URL openers: each connector registers its schemes when loaded, and the
// registry loads connectors lazily through a table, so a client library is only required when its scheme is used.
import path from 'node:path';
import { ConfigError } from './errors';
import { maskUriCredentials } from './security/redact';
import type { SourceDriver, SourceOptions } from './source';
import type { SinkDriver, SinkOptions, BatchOptions } from './sink';

/** A parsed endpoint URI. `anyHost` is true for `http://:9000/...` (listen on every interface). */
export interface EndpointUri {
  readonly raw: string;
  readonly scheme: string;
  readonly url: URL;
  readonly anyHost: boolean;
  /** The query parameters, first value of each. */
  readonly params: ReadonlyMap<string, string>;
  /** The environment variable the URI came from, for error messages. */
  readonly variable: string;
}

/** One URI parameter of a connector: it serves `wasm-pipes help <scheme>`, the unknown-parameter warning and the docs test. */
export interface ParamSpec {
  readonly name: string;
  /** What it does, and what a valid value looks like. */
  readonly description: string;
  /** The default, as the user would write it. */
  readonly default?: string;
}

/** The names of a parameter list (plain names are accepted from connectors written before ParamSpec). */
export function paramNames(params: readonly (ParamSpec | string)[] | undefined): string[] | undefined {
  return params?.map((param) => (typeof param === 'string' ? param : param.name));
}

/** What a connector supplies for one or more schemes. */
export interface SchemeDefinition {
  schemes: readonly string[];
  /** One line for --help and for error messages. */
  description: string;
  /** Example URIs. */
  sourceExample?: string;
  sinkExample?: string;
  /** Query parameters the connector understands, described; others give a start-up warning. */
  sourceParams?: readonly (ParamSpec | string)[];
  sinkParams?: readonly (ParamSpec | string)[];
  /** Validates (throwing ConfigError) and builds a driver; must not connect yet. */
  openSource?: (uri: EndpointUri, options: SourceOptions) => SourceDriver;
  openSink?: (uri: EndpointUri, options: SinkOptions) => SinkDriver;
  /** The sink defaults for this service (concurrency, batching). */
  sinkDefaults?: { concurrency?: number; batch?: BatchOptions };
}

/**
 * The connector families, one line each: the folder under lib/connectors/, the schemes it registers, and the client
 * packages it needs. A family is loaded (its index.ts required) on the first use of one of its schemes, so a NATS user
 * never loads Kafka's client. The client packages are optional peer dependencies: a user installs the ones of the
 * schemes they use, and a scheme whose package is missing stops the start with the npm command that adds it.
 */
const FAMILIES: Record<string, { schemes: readonly string[]; packages?: readonly string[] }> = {
  local: { schemes: ['mem', 'stdin', 'stdout', 'file'] },
  http: { schemes: ['http', 'https'] },
  nats: { schemes: ['nats'], packages: ['@nats-io/transport-node', '@nats-io/jetstream'] },
  kafka: { schemes: ['kafka'], packages: ['kafkajs'] },
  rabbit: { schemes: ['rabbit'], packages: ['amqplib'] },
  aws: { schemes: ['awssqs', 'awssns'], packages: ['@aws-sdk/client-sqs', '@aws-sdk/client-sns'] },
  gcp: { schemes: ['gcppubsub'], packages: ['@google-cloud/pubsub'] },
  azure: { schemes: ['azuresb'], packages: ['@azure/service-bus'] },
  mqtt: { schemes: ['mqtt', 'mqtts'], packages: ['mqtt'] },
  redisstream: { schemes: ['redis-stream'], packages: ['ioredis'] },
  postgres: { schemes: ['postgres', 'postgresql'], packages: ['pg'] },
  s3: { schemes: ['s3'], packages: ['@aws-sdk/client-s3'] },
};

/** scheme -> the module that registers it: a family folder under lib/connectors/, or an absolute path. */
const CONNECTOR_TABLE: Record<string, string> = Object.fromEntries(
  Object.entries(FAMILIES).flatMap(([family, { schemes }]) => schemes.map((scheme) => [scheme, family])),
);

/** scheme -> the client packages its family needs. */
const CLIENT_PACKAGES: Record<string, readonly string[]> = Object.fromEntries(
  Object.values(FAMILIES).flatMap(({ schemes, packages }) => schemes.map((scheme) => [scheme, packages ?? []])),
);

/** Of `packages`, those that cannot be found from this package (not installed). */
export function missingPackages(packages: readonly string[]): string[] {
  return packages.filter((name) => {
    try {
      require.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
}

/**
 * Throws a ConfigError naming the npm command to run when one of `packages` is not installed. For clients that only
 * some uses need (a cache backend, a sign-in library): `what` says who needs them, as in `redis:// caches`.
 */
export function requireClientPackages(packages: readonly string[], what: string, variable?: string): void {
  const missing = missingPackages(packages);
  if (missing.length === 0) return;
  throw new ConfigError(
    `${what} ${missing.length === 1 ? 'needs the package' : 'need the packages'} ${missing.join(' and ')}, ` +
      `which ${missing.length === 1 ? 'is' : 'are'} not installed: run \`npm install ${missing.join(' ')}\``,
    { variable },
  );
}

const registered = new Map<string, SchemeDefinition>();

/** Called by each connector module when it is loaded. */
export function registerScheme(definition: SchemeDefinition): void {
  for (const scheme of definition.schemes) registered.set(scheme, definition);
}

/** Adds a connector module to the table (for connectors outside this package). */
export function registerConnectorModule(scheme: string, modulePath: string): void {
  CONNECTOR_TABLE[scheme] = modulePath;
}

export function supportedSchemes(): string[] {
  return [...new Set([...Object.keys(CONNECTOR_TABLE), ...registered.keys()])].sort();
}

/**
 * Every definition, loading each connector in the table (for --help). A family whose client is not installed is
 * listed with the command that installs it.
 */
export function allSchemeDefinitions(): SchemeDefinition[] {
  const notInstalled = new Map<string, SchemeDefinition>();
  for (const scheme of Object.keys(CONNECTOR_TABLE)) {
    const missing = registered.has(scheme) ? [] : missingPackages(CLIENT_PACKAGES[scheme] ?? []);
    if (missing.length === 0) {
      lookupScheme(scheme, 'scheme');
      continue;
    }
    const key = missing.join(' ');
    const known = notInstalled.get(key);
    if (known !== undefined) (known.schemes as string[]).push(scheme);
    else notInstalled.set(key, { schemes: [scheme], description: `not installed: run \`npm install ${key}\` to use it` });
  }
  return [...new Set(registered.values()), ...notInstalled.values()];
}

function loadConnector(scheme: string, variable: string): void {
  const file = CONNECTOR_TABLE[scheme];
  if (file === undefined || registered.has(scheme)) return;
  requireClientPackages(CLIENT_PACKAGES[scheme] ?? [], `${scheme}://`, variable);
  const target = path.isAbsolute(file) ? file : path.join(__dirname, 'connectors', file);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(target);
}

/** The closest known scheme to a mistyped one: one that it contains or is contained in, else the nearest by edits. */
export function closestScheme(scheme: string, known: readonly string[] = supportedSchemes()): string | undefined {
  const lower = scheme.toLowerCase();
  const containing = known
    .filter((candidate) => candidate.length >= 3 && (lower.includes(candidate) || candidate.includes(lower)))
    .sort((a, b) => b.length - a.length);
  if (containing.length > 0) return containing[0];
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const distance = editDistance(lower, candidate);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = candidate;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(lower.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

export function lookupScheme(scheme: string, variable: string): SchemeDefinition {
  loadConnector(scheme, variable);
  const definition = registered.get(scheme);
  if (definition !== undefined) return definition;
  const suggestion = closestScheme(scheme);
  throw new ConfigError(
    `unknown scheme '${scheme}://'.${suggestion ? ` Did you mean '${suggestion}://'?` : ''} ` +
      `Supported schemes: ${supportedSchemes()
        .map((known) => `${known}://`)
        .join(', ')}`,
    { variable },
  );
}

/**
 * Parses a source or sink URI. Accepts `http://:9000/events` (no host = every interface), which WHATWG URLs
 * refuse, and non-special schemes such as `mem://topic`, `stdin://` or `awssns:///arn:...`.
 */
export function parseEndpointUri(raw: string, variable: string): EndpointUri {
  const trimmed = raw.trim();
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(trimmed);
  if (match === null) {
    throw new ConfigError(`'${raw}' is not a URI; write it as scheme://..., for example http://:9000/events or nats://subject`, {
      variable,
    });
  }
  const scheme = match[1].toLowerCase();
  let text = trimmed;
  let anyHost = false;
  if ((scheme === 'http' || scheme === 'https') && /^https?:\/\/:/i.test(trimmed)) {
    anyHost = true;
    text = trimmed.replace(/^(https?:\/\/):/i, '$10.0.0.0:');
  }
  if (scheme !== 'http' && scheme !== 'https') {
    // a NATS wildcard (nats://orders.>) is not allowed in a URL's host: carry it percent-encoded
    text = text.replace(/^[^?#]*/, (head) => head.replace(/>/g, '%3E'));
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch (error) {
    throw new ConfigError(`'${raw}' is not a valid URI (${(error as Error).message})`, { variable, cause: error });
  }
  if (url.hostname === '0.0.0.0' && (scheme === 'http' || scheme === 'https')) anyHost = true;
  const params = new Map<string, string>();
  for (const [name, value] of url.searchParams) if (!params.has(name)) params.set(name, value);
  return { raw: trimmed, scheme, url, anyHost, params, variable };
}

/** Names the query parameters a connector does not know (a start-up warning, not an error). */
export function unknownParams(uri: EndpointUri, known: readonly string[] | undefined): string[] {
  if (known === undefined) return [];
  return [...uri.params.keys()].filter((name) => !known.includes(name));
}

/** The URI with its password (or NATS token) and secret-looking query parameters replaced by ***, for logs. */
export function redactUri(raw: string): string {
  return maskUriCredentials(raw);
}
