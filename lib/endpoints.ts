// The portable entry points: source(uri) and sink(uri) find the connector for the URI's scheme and wrap its
// driver in the generic runtimes.
import type { Observable } from 'rxjs';
import { ConfigError } from './errors';
import type { Message } from './message';
import { createSource, type SourceOptions } from './source';
import { compileTemplate, isTemplate, TemplatedSink, type TemplateOptions } from './templatedSink';
import { SinkRuntime, type Sink, type SinkOptions } from './sink';
import { lookupScheme, parseEndpointUri, redactUri, supportedSchemes, unknownParams, paramNames, type EndpointUri } from './registry';
import { rootLogger, type Logger } from './logging/logger';

export interface EndpointOptions {
  /** The variable the URI came from, named in error messages (the bin passes SOURCE_URI, SINK_URI...). */
  variable?: string;
}

function schemesWith(role: 'openSource' | 'openSink'): string {
  return supportedSchemes()
    .filter((scheme) => {
      try {
        return lookupScheme(scheme, 'scheme')[role] !== undefined;
      } catch {
        return false;
      }
    })
    .map((scheme) => `${scheme}://`)
    .join(', ');
}

function warnUnknownParams(uri: EndpointUri, known: readonly string[] | undefined, logger: Logger | undefined): void {
  const unknown = unknownParams(uri, known);
  if (unknown.length === 0) return;
  (logger ?? rootLogger()).warn(
    { variable: uri.variable, unknown, known },
    `${uri.variable}: ignoring unknown parameter(s) ${unknown.join(', ')} for ${uri.scheme}://; ` +
      `known: ${(known ?? []).join(', ') || 'none'}`,
  );
}

/**
 * A cold Observable of the messages at `uri`. Subscribing connects and starts intake; unsubscribing stops it.
 *
 * @example
 * source('http://:9000/events').pipe(filterMessages((m) => m.json<{ ok: boolean }>().ok))
 */
export function source(uri: string, options: SourceOptions & EndpointOptions = {}): Observable<Message> {
  const variable = options.variable ?? 'source URI';
  const parsed = parseEndpointUri(uri, variable);
  const definition = lookupScheme(parsed.scheme, variable);
  const open = definition.openSource;
  if (open === undefined) {
    throw new ConfigError(`${parsed.scheme}:// can only be a sink. Sources: ${schemesWith('openSource')}`, { variable });
  }
  warnUnknownParams(parsed, paramNames(definition.sourceParams), options.logger);
  const first = open.call(definition, parsed, options);
  return createSource(redactUri(parsed.raw), () => open.call(definition, parsed, options), options, first);
}

/**
 * An Observer that writes each message to `uri` and acks it once the service confirmed the write.
 * `close()` flushes and disconnects.
 *
 * @example
 * await run(source('stdin://'), sink('file:///tmp/out.jsonl'));
 */
export function sink(uri: string, options: SinkOptions & EndpointOptions & TemplateOptions = {}): Sink {
  const variable = options.variable ?? 'sink URI';
  // a brace is only ever a placeholder: compileTemplate() explains the ones that are not
  if (isTemplate(uri) || /[{}]/.test(uri.split('?')[0])) return templatedSink(uri, variable, options);
  const parsed = parseEndpointUri(uri, variable);
  const definition = lookupScheme(parsed.scheme, variable);
  if (definition.openSink === undefined) {
    throw new ConfigError(`${parsed.scheme}:// can only be a source. Sinks: ${schemesWith('openSink')}`, { variable });
  }
  warnUnknownParams(parsed, paramNames(definition.sinkParams), options.logger);
  const driver = definition.openSink(parsed, options);
  return new SinkRuntime(redactUri(parsed.raw), driver, options, definition.sinkDefaults);
}

/** A sink whose URI is resolved per message; checked now with a sample value in each placeholder. */
function templatedSink(template: string, variable: string, options: SinkOptions & EndpointOptions & TemplateOptions): Sink {
  const { parts } = compileTemplate(template.trim(), variable);
  const sample = parts.map((part) => (typeof part === 'string' ? part : 'x')).join('');
  const parsed = parseEndpointUri(sample, variable);
  const definition = lookupScheme(parsed.scheme, variable);
  if (definition.openSink === undefined) {
    throw new ConfigError(`${parsed.scheme}:// can only be a source. Sinks: ${schemesWith('openSink')}`, { variable });
  }
  warnUnknownParams(parsed, paramNames(definition.sinkParams), options.logger);
  // opening a driver connects nothing: this only checks the URI's shape and parameters
  definition.openSink(parsed, options);
  return new TemplatedSink(template.trim(), parts, definition, { ...options, variable }, parsed.scheme);
}
