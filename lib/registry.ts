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

/** What a connector supplies for one or more schemes. */
export interface SchemeDefinition {
  schemes: readonly string[];
  /** One line for --help and for error messages. */
  description: string;
  /** Example URIs. */
  sourceExample?: string;
  sinkExample?: string;
  /** Query parameters the connector understands; others give a start-up warning. */
  sourceParams?: readonly string[];
  sinkParams?: readonly string[];
  /** Validates (throwing ConfigError) and builds a driver; must not connect yet. */
  openSource?(uri: EndpointUri, options: SourceOptions): SourceDriver;
  openSink?(uri: EndpointUri, options: SinkOptions): SinkDriver;
  /** The sink defaults for this service (concurrency, batching). */
  sinkDefaults?: { concurrency?: number; batch?: BatchOptions };
}

/**
 * The connector families, one line each: the folder under lib/connectors/ and the schemes it registers. A family is
 * loaded (its index.ts required) on the first use of one of its schemes, so a NATS user never loads Kafka's client.
 */
const FAMILIES: Record<string, readonly string[]> = {
  local: ['mem', 'stdin', 'stdout', 'file'],
  http: ['http', 'https'],
  nats: ['nats'],
  kafka: ['kafka'],
  rabbit: ['rabbit'],
  aws: ['awssqs', 'awssns'],
  gcp: ['gcppubsub'],
  azure: ['azuresb'],
};

/** scheme -> the module that registers it: a family folder under lib/connectors/, or an absolute path. */
const CONNECTOR_TABLE: Record<string, string> = Object.fromEntries(
  Object.entries(FAMILIES).flatMap(([family, schemes]) => schemes.map((scheme) => [scheme, family])),
);

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

/** Every definition, loading each connector in the table (for --help). */
export function allSchemeDefinitions(): SchemeDefinition[] {
  for (const scheme of Object.keys(CONNECTOR_TABLE)) lookupScheme(scheme, 'scheme');
  return [...new Set(registered.values())];
}

function loadConnector(scheme: string): void {
  const file = CONNECTOR_TABLE[scheme];
  if (file === undefined || registered.has(scheme)) return;
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
  loadConnector(scheme);
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
