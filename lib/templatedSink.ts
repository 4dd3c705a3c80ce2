// Sinks whose URI names its destination per message: `nats://orders.{metadata.region}`, `kafka://events-{json.type}`,
// `http://host/hooks/{key}`. Each message's URI is resolved from the message, and written by a sink opened for that
// URI; at most `maxOpen` of them are kept, the least recently used idle one closed first, and one idle for
// `idleTimeout` closed anyway. They share one set of counters, named by the template.
import type { Message } from './message';
import { SinkRuntime, type Sink, type SinkOptions } from './sink';
import type { SchemeDefinition } from './registry';
import { parseEndpointUri, redactUri, type EndpointUri } from './registry';
import { ConfigError, PermanentError } from './errors';
import { failMessage } from './deadLetter';
import { openStage, closeStage, type StageMetrics } from './metrics';
import { rootLogger, type Logger } from './logging/logger';
import { parseDuration } from './config';

/** `{key}`, `{id}`, `{metadata.NAME}` and `{json.PATH}` (a dotted path into the JSON body). */
const PLACEHOLDER = /\{(key|id|metadata\.[^{}]+|json\.[^{}]+)\}/g;
const ANY_BRACE = /[{}]/;

export const DEFAULT_MAX_OPEN = 64;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

export interface TemplateOptions {
  /** Most sinks open at once (one per resolved URI). Default 64. */
  maxOpen?: number;
  /** A sink that wrote nothing for this long is closed (ms or `1m`). Default 1 min. */
  idleTimeout?: number | string;
}

/** Whether `uri` is a template: it names a part of the message in braces. */
export function isTemplate(uri: string): boolean {
  PLACEHOLDER.lastIndex = 0;
  return PLACEHOLDER.test(uri);
}

type Part = string | ((message: Message, json: () => unknown) => string | undefined);

function jsonField(document: unknown, path: string): string | undefined {
  let value = document;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return undefined;
}

/** The template as literal text and lookups; throws a ConfigError for a brace that is not a placeholder. */
export function compileTemplate(template: string, variable: string): { parts: Part[]; names: string[] } {
  const parts: Part[] = [];
  const names: string[] = [];
  let last = 0;
  // braces in the query may be the connector's own templates (s3://bucket/?name={date}-{unique}.jsonl): only the
  // part before it must have none but these placeholders
  const query = template.indexOf('?');
  const strayBrace = (from: number, to: number): boolean => ANY_BRACE.test(template.slice(from, query === -1 ? to : Math.min(to, query)));
  PLACEHOLDER.lastIndex = 0;
  for (let match = PLACEHOLDER.exec(template); match !== null; match = PLACEHOLDER.exec(template)) {
    const literal = template.slice(last, match.index);
    if (strayBrace(last, match.index)) break;
    parts.push(literal);
    const name = match[1];
    names.push(name);
    if (name === 'key') parts.push((message) => message.key);
    else if (name === 'id') parts.push((message) => message.id);
    else if (name.startsWith('metadata.')) {
      const field = name.slice('metadata.'.length);
      parts.push((message) => message.metadata[field]);
    } else {
      const path = name.slice('json.'.length);
      parts.push((_message, json) => jsonField(json(), path));
    }
    last = match.index + match[0].length;
  }
  const rest = template.slice(last);
  if (strayBrace(last, template.length) || names.length === 0) {
    throw new ConfigError(
      `'${template}' has a brace that is not a placeholder; use {key}, {id}, {metadata.NAME} or {json.FIELD}, for example nats://orders.{metadata.region}`,
      { variable },
    );
  }
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(template)?.[0] === undefined || template.indexOf('{') < template.indexOf('://')) {
    throw new ConfigError(
      `'${template}': the scheme of a URI template cannot be a placeholder; write it out, for example nats://orders.{json.type}`,
      {
        variable,
      },
    );
  }
  parts.push(rest);
  return { parts, names };
}

/** A sink per resolved URI, opened on demand. */
export class TemplatedSink implements Sink {
  readonly name: string;
  readonly metrics: StageMetrics;
  private readonly open = new Map<string, { runtime: SinkRuntime; usedAt: number }>();
  private readonly closing = new Set<Promise<void>>();
  private readonly maxOpen: number;
  private readonly idleTimeout: number;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly logger: Logger;
  private completed = false;
  private warnedFull = false;

  constructor(
    private readonly template: string,
    private readonly parts: readonly Part[],
    private readonly definition: SchemeDefinition,
    private readonly options: SinkOptions & TemplateOptions & { variable: string },
    scheme: string,
  ) {
    this.name = redactUri(template);
    this.maxOpen = Math.max(1, options.maxOpen ?? DEFAULT_MAX_OPEN);
    this.idleTimeout = parseDuration(options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS, 'idleTimeout');
    this.logger = (options.logger ?? rootLogger()).child({ sink: this.name });
    this.metrics = openStage('sink', this.name, scheme);
    this.metrics.gauges = () => {
      let queued = 0;
      let writing = 0;
      for (const { runtime } of this.open.values()) {
        queued += runtime.queuedCount;
        writing += runtime.writingCount;
      }
      return { queued, writing, ready: this.ready };
    };
    this.sweepTimer = setInterval(() => this.closeIdle(), Math.max(50, Math.floor(this.idleTimeout / 2)));
    this.sweepTimer.unref();
  }

  get ready(): boolean {
    for (const { runtime } of this.open.values()) if (!runtime.ready) return false;
    return true;
  }

  readonly mayFail = true;

  /** The sinks open now (run() stops them writing at the end of a drain). */
  runtimes(): SinkRuntime[] {
    return [...this.open.values()].map((entry) => entry.runtime);
  }

  next(message: Message): void {
    if (message.settled) return;
    let uri: string;
    try {
      uri = this.resolve(message);
    } catch (error) {
      this.metrics.received++;
      failMessage(message, error as Error, {
        origin: this.name,
        stats: this.metrics,
        logger: this.logger,
        deadLetter: this.options.deadLetter,
      });
      return;
    }
    let runtime: SinkRuntime;
    try {
      runtime = this.sinkFor(uri);
    } catch (error) {
      // the resolved URI is not one the connector takes (a value that makes an invalid subject or topic)
      this.metrics.received++;
      failMessage(
        message,
        new PermanentError(`the URI '${redactUri(uri)}' made from '${this.name}' is refused: ${(error as Error).message}`),
        {
          origin: this.name,
          stats: this.metrics,
          logger: this.logger,
          deadLetter: this.options.deadLetter,
        },
      );
      return;
    }
    runtime.next(message);
  }

  error(error: unknown): void {
    for (const { runtime } of this.open.values()) runtime.error(error);
  }

  complete(): void {
    this.completed = true;
    for (const { runtime } of this.open.values()) runtime.complete();
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.completed = true;
    const runtimes = this.runtimes();
    this.open.clear();
    await Promise.all([...runtimes.map((runtime) => runtime.close()), ...this.closing]);
    closeStage(this.metrics);
  }

  private resolve(message: Message): string {
    let parsed: unknown;
    let parsedOnce = false;
    const json = (): unknown => {
      if (!parsedOnce) {
        parsedOnce = true;
        try {
          parsed = message.json();
        } catch {
          parsed = undefined;
        }
      }
      return parsed;
    };
    let uri = '';
    for (let i = 0; i < this.parts.length; i++) {
      const part = this.parts[i];
      if (typeof part === 'string') {
        uri += part;
        continue;
      }
      const value = part(message, json);
      if (value === undefined || value === '') {
        const names = [...this.template.matchAll(PLACEHOLDER)].map((match) => match[1]);
        throw new PermanentError(`message ${message.id} has no value for {${names[(i - 1) / 2]}} of the sink URI template '${this.name}'`);
      }
      uri += encodeURIComponent(value);
    }
    return uri;
  }

  private sinkFor(uri: string): SinkRuntime {
    const entry = this.open.get(uri);
    const now = Date.now();
    if (entry !== undefined) {
      entry.usedAt = now;
      // most recently used last: Map keeps insertion order
      this.open.delete(uri);
      this.open.set(uri, entry);
      return entry.runtime;
    }
    if (this.open.size >= this.maxOpen) this.evictOne();
    const parsed: EndpointUri = parseEndpointUri(uri, this.options.variable);
    const driver = (this.definition.openSink as NonNullable<SchemeDefinition['openSink']>)(parsed, this.options);
    const runtime = new SinkRuntime(redactUri(uri), driver, this.options, this.definition.sinkDefaults, this.metrics);
    void runtime
      .start()
      .catch((error: unknown) => this.logger.warn({ err: error, uri: redactUri(uri) }, `the sink for ${redactUri(uri)} could not start`));
    if (this.completed) runtime.complete();
    this.open.set(uri, { runtime, usedAt: now });
    return runtime;
  }

  /** Closes the least recently used sink with nothing queued or being written. */
  private evictOne(): void {
    for (const [uri, { runtime }] of this.open) {
      if (runtime.queuedCount === 0 && runtime.writingCount === 0) {
        this.retire(uri, runtime);
        return;
      }
    }
    // every open sink is busy: one more stays open, and the limit is reached again when they settle
    if (!this.warnedFull) {
      this.warnedFull = true;
      this.logger.warn(
        { maxOpen: this.maxOpen },
        `more than ${this.maxOpen} destinations of '${this.name}' are busy at once; opening more than maxOpen`,
      );
    }
  }

  private closeIdle(): void {
    const before = Date.now() - this.idleTimeout;
    for (const [uri, { runtime, usedAt }] of this.open) {
      if (usedAt <= before && runtime.queuedCount === 0 && runtime.writingCount === 0) this.retire(uri, runtime);
    }
  }

  private retire(uri: string, runtime: SinkRuntime): void {
    this.open.delete(uri);
    const closing = runtime
      .close()
      .catch((error: unknown) => this.logger.warn({ err: error }, `closing the sink for ${redactUri(uri)} failed`));
    this.closing.add(closing);
    void closing.finally(() => this.closing.delete(closing));
  }
}
