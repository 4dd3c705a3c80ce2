import type { Sink } from '../lib/sink';
import type { Message } from '../lib/message';
import { asSink, CompositeSink } from '../lib/fanOut';
import { ConfigError } from '../lib/errors';
import { openStage } from '../lib/metrics';
import { failMessage } from '../lib/deadLetter';
import { rootLogger } from '../lib/logging/logger';

/** A JSON value a case can compare a field with. */
export type JsonScalar = string | number | boolean | null;

/**
 * One case of a route: the conditions a message must meet (all that are given), and where it goes then. A value
 * given as a list matches any of its elements.
 */
export interface RouteCase {
  /** Any test of the message. */
  when?: (message: Message) => boolean;
  /** The message key. */
  key?: string | readonly string[];
  /** Metadata fields and the values they must have. */
  metadata?: Readonly<Record<string, string | readonly string[]>>;
  /** Fields of the JSON body (a dotted path, `customer.region`) and the values they must have. */
  json?: Readonly<Record<string, JsonScalar | readonly JsonScalar[]>>;
  /** The sink, or sinks (a fan-out), that take the messages of this case. */
  to: Sink | readonly Sink[];
}

export interface RouteOptions {
  /** Where a message that matches no case goes. */
  default?: Sink | readonly Sink[];
  /**
   * A message that matches no case and has no default: `ack` (the default) counts it as unrouted and acks it;
   * `deadLetter` sends it to `deadLetter`.
   */
  unrouted?: 'ack' | 'deadLetter';
  deadLetter?: Sink;
  /** The name in stats and /metrics. Default `route`. */
  name?: string;
}

/** What a case looks at for one message; one object reused for every message, so routing allocates nothing. */
interface Subject {
  message: Message;
  /** The parsed body, NOT_PARSED until a case asks for it, NOT_JSON when it is not JSON. */
  parsed: unknown;
}

interface CompiledCase {
  readonly test: (subject: Subject) => boolean;
  readonly sink: Sink;
  /** Set when the case tests the key alone, against these values: routes by a map lookup when every case is so. */
  readonly keys?: readonly string[];
}

const NOT_JSON = Symbol('not json');
const NOT_PARSED = Symbol('not parsed');

function parsedBody(subject: Subject): unknown {
  if (subject.parsed === NOT_PARSED) {
    try {
      subject.parsed = subject.message.json();
    } catch {
      subject.parsed = NOT_JSON;
    }
  }
  return subject.parsed;
}

function field(document: unknown, path: string): unknown {
  let value = document;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function oneOf<T>(wanted: T | readonly T[], value: unknown): boolean {
  return Array.isArray(wanted) ? (wanted as readonly T[]).includes(value as T) : wanted === value;
}

function compile(routeCase: RouteCase, index: number): CompiledCase {
  if (routeCase === null || typeof routeCase !== 'object' || routeCase.to === undefined) {
    throw new ConfigError(
      `route case ${index} has no 'to': give each case the sink it sends to, for example { key: 'eu', to: sink('nats://orders.eu') }`,
      {
        variable: 'route',
      },
    );
  }
  const tests: ((subject: Subject) => boolean)[] = [];
  const { when, key, metadata, json } = routeCase;
  if (when !== undefined) tests.push((subject) => when(subject.message));
  if (key !== undefined) tests.push((subject) => oneOf(key, subject.message.key));
  if (metadata !== undefined) {
    const entries = Object.entries(metadata);
    // loops, not every() with an arrow: a closure over the subject would be made for every message
    tests.push((subject) => {
      const values = subject.message.metadata;
      for (const [name, wanted] of entries) if (!oneOf(wanted, values[name])) return false;
      return true;
    });
  }
  if (json !== undefined) {
    const entries = Object.entries(json);
    tests.push((subject) => {
      const parsed = parsedBody(subject);
      if (parsed === NOT_JSON) return false;
      for (const [path, wanted] of entries) if (!oneOf(wanted, field(parsed, path))) return false;
      return true;
    });
  }
  if (tests.length === 0) {
    throw new ConfigError(`route case ${index} has no condition: give it when, key, metadata or json (or use the default option)`, {
      variable: 'route',
    });
  }
  const only = tests.length === 1 ? tests[0] : undefined;
  const keysOnly = key !== undefined && when === undefined && metadata === undefined && json === undefined;
  return {
    test:
      only ??
      ((subject) => {
        for (const test of tests) if (!test(subject)) return false;
        return true;
      }),
    sink: asSink(routeCase.to),
    ...(keysOnly ? { keys: typeof key === 'string' ? [key] : [...key] } : {}),
  };
}

/** A sink that sends each message to the sinks of the first case it matches; see route(). */
class RouteSink extends CompositeSink {
  readonly name: string;
  override readonly metrics;
  private readonly logger = rootLogger();
  /** Every case tests the key alone: the sink for each key, first case first. */
  private readonly byKey: Map<string, Sink> | undefined;
  private readonly subject: Subject = { message: undefined as unknown as Message, parsed: NOT_PARSED };

  constructor(
    private readonly cases: readonly CompiledCase[],
    private readonly fallbackSink: Sink | undefined,
    private readonly options: RouteOptions,
    sinks: readonly Sink[],
  ) {
    super(sinks, 'route');
    this.name = options.name ?? 'route';
    this.metrics = openStage('operator', this.name);
    if (cases.every((each) => each.keys !== undefined)) {
      this.byKey = new Map();
      for (const each of cases) for (const key of each.keys as readonly string[]) if (!this.byKey.has(key)) this.byKey.set(key, each.sink);
    }
  }

  /** The first matching case's sink, undefined for none, null when a `when` threw (the message is nacked). */
  private match(message: Message): Sink | undefined | null {
    const subject = this.subject;
    subject.message = message;
    subject.parsed = NOT_PARSED;
    try {
      for (let i = 0; i < this.cases.length; i++) if (this.cases[i].test(subject)) return this.cases[i].sink;
      return undefined;
    } catch (error) {
      // a `when` that throws fails that message only
      this.metrics.nacked++;
      this.metrics.error('handler');
      message.nack(error as Error);
      return null;
    } finally {
      subject.message = undefined as unknown as Message;
      subject.parsed = NOT_PARSED;
    }
  }

  next(message: Message): void {
    if (message.settled) return;
    const stats = this.metrics;
    stats.received++;
    const byKey = this.byKey;
    let target: Sink | undefined;
    if (byKey !== undefined) {
      const key = message.key;
      target = key === undefined ? undefined : byKey.get(key);
    } else {
      const matched = this.match(message);
      if (matched === null) return;
      target = matched;
    }
    target ??= this.fallbackSink;
    if (target !== undefined) {
      stats.emitted++;
      target.next(message);
      return;
    }
    stats.unrouted++;
    if (this.options.unrouted === 'deadLetter') {
      failMessage(message, new Error(`matched no route of '${this.name}'`), {
        origin: this.name,
        stats,
        logger: this.logger,
        deadLetter: this.options.deadLetter,
      });
      return;
    }
    message.ack();
  }
}

/**
 * A sink that sends each message to the sink (or sinks) of the first case it matches: by a predicate, the key,
 * metadata values or JSON field values. The message is settled by the sinks it went to. One that matches nothing goes
 * to `default`; without one it is acked and counted as `unrouted` (stats and `wasm_pipes_messages_unrouted_total`),
 * or dead-lettered with `unrouted: 'deadLetter'`. For destinations named by the message itself, a sink URI with a
 * template (`sink('nats://orders.{json.region}')`) may be simpler.
 *
 * @example
 * import { source, sink, run } from 'wasm-pipes';
 * import { route } from 'wasm-pipes/operators';
 *
 * await run(
 *   source('http://:9000/events'),
 *   route(
 *     [
 *       { json: { type: 'order' }, to: sink('nats://orders') },
 *       { json: { type: ['refund', 'chargeback'] }, to: [sink('nats://refunds'), sink('file:///tmp/refunds.jsonl')] },
 *     ],
 *     { default: sink('nats://other') },
 *   ),
 * );
 *
 * @see fanOut
 * @see fallback
 */
export function route(cases: readonly RouteCase[], options: RouteOptions = {}): Sink {
  if (!Array.isArray(cases) || cases.length === 0) {
    throw new ConfigError(
      'route needs at least one case, for example route([{ key: "eu", to: sink("nats://orders.eu") }], { default: sink("nats://orders.other") })',
      {
        variable: 'route',
      },
    );
  }
  if (options.unrouted === 'deadLetter' && options.deadLetter === undefined) {
    throw new ConfigError(
      "unrouted: 'deadLetter' needs a deadLetter sink, for example { unrouted: 'deadLetter', deadLetter: sink('file:///tmp/unrouted.jsonl') }",
      {
        variable: 'route',
      },
    );
  }
  const compiled = cases.map(compile);
  const fallbackSink = options.default === undefined ? undefined : asSink(options.default);
  const sinks = [...compiled.map((each) => each.sink), ...(fallbackSink ? [fallbackSink] : [])];
  // a sink named in two cases is one sink: close it once
  const distinct = [...new Set(sinks)];
  return new RouteSink(compiled, fallbackSink, options, distinct);
}
