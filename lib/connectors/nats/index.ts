// nats://: core NATS (at most once) and JetStream (at least once), as the seed README spells them. This file reads
// the URI and the environment and picks the driver: a source with ?stream=, ?consumer= or ?jetstream=true is a
// JetStream durable consumer, otherwise a core subscription; a sink with ?jetstream=true waits for PubAcks.
import { registerScheme, type EndpointUri, type ParamSpec } from '../../registry';
import type { SourceOptions } from '../../source';
import { DEFAULT_MAX_IN_FLIGHT } from '../../source';
import type { SinkOptions } from '../../sink';
import { ConfigError } from '../../errors';
import { parseBoolean, parseDuration, parseInteger } from '../../config';
import { rootLogger } from '../../logging/logger';
import { redactUri } from '../../registry';
import { natsConnectionOptions } from './servers';
import { NatsLink } from './link';
import { NatsCoreSink, NatsCoreSource } from './core';
import { JetStreamSink, JetStreamSource } from './jetstream';

export const DEFAULT_CONNECT_TIMEOUT = '30s';
export const DEFAULT_MAX_PENDING = 65_536;
export const DEFAULT_NAK_DELAY = '1s';
export const DEFAULT_PUBLISH_TIMEOUT = '10s';
/**
 * The consumer's ack wait: NATS's own default. A relay that dies holding messages leaves them to the server for this
 * long, so a restarted relay moves again after at most this; a live relay keeps the messages it still holds with
 * in-progress acks, so a slow sink does not cause redeliveries. A redelivery thus comes well inside the default
 * duplicate window (2 min) of the sink's stream.
 */
export const DEFAULT_ACK_WAIT = '30s';
/** How long a consumer with work waiting may deliver nothing before the source reports not ready. */
export const DEFAULT_STALL_AFTER = '10s';

/** The source's URI parameters: `wasm-pipes help nats`, the unknown-parameter warning and docs/connectors/nats.md. */
export const SOURCE_PARAMS: readonly ParamSpec[] = [
  {
    name: 'queue',
    description: 'core NATS: join this queue group, so that copies of the pipeline share the messages (empty: no group)',
  },
  {
    name: 'max_pending',
    description:
      'core NATS: messages held while the credit window is full; beyond them messages are dropped, counted and logged (0 or more)',
    default: String(DEFAULT_MAX_PENDING),
  },
  {
    name: 'stream',
    description: 'JetStream: the stream to read (a name without spaces, dots or wildcards); found from the subject when left out',
  },
  {
    name: 'consumer',
    description: 'JetStream: the durable pull consumer, created if missing; copies sharing the name split the messages',
  },
  {
    name: 'jetstream',
    description: 'true: read JetStream (needs ?consumer=) rather than core NATS; implied by ?stream= or ?consumer=',
    default: 'false',
  },
  {
    name: 'ack_wait',
    description: 'JetStream: how long the server waits for an ack before it redelivers (at least 1s)',
    default: DEFAULT_ACK_WAIT,
  },
  {
    name: 'max_deliver',
    description:
      "JetStream: the consumer's own delivery limit (-1: none; the dead letter is MAX_DELIVERIES' job); left out, an existing consumer keeps its own",
    default: '-1',
  },
  {
    name: 'nak_delay',
    description: "JetStream: delay of a nacked message's redelivery, doubled per delivery up to 1 min (at once on shutdown)",
    default: DEFAULT_NAK_DELAY,
  },
  {
    name: 'deliver',
    description: 'JetStream: where a new consumer starts: all, new or last',
    default: 'all',
  },
  {
    name: 'stall_after',
    description:
      'JetStream: how long the consumer may have work for this source while nothing moves before /ready says not ready (at least 500ms)',
    default: DEFAULT_STALL_AFTER,
  },
];
/** The sink's URI parameters. */
export const SINK_PARAMS: readonly ParamSpec[] = [
  {
    name: 'jetstream',
    description: 'true: publish into JetStream and ack each message on its PubAck; false: core NATS, a batch confirmed by a flush',
    default: 'false',
  },
  {
    name: 'timeout',
    description: 'how long to wait for a flush (core) or a PubAck (JetStream) before the write fails and is retried',
    default: DEFAULT_PUBLISH_TIMEOUT,
  },
];
const JETSTREAM_ONLY = ['stream', 'consumer', 'ack_wait', 'max_deliver', 'nak_delay', 'deliver', 'stall_after'];
const NAME = /^[^\s.*>/\\]+$/;

/** The subject of `nats://subject`: host and path, percent-decoded (`>` arrives as %3E, see parseEndpointUri). */
export function subjectOf(uri: EndpointUri, wildcards: boolean): string {
  let subject: string;
  try {
    subject = decodeURIComponent(uri.url.host + uri.url.pathname);
  } catch (error) {
    throw new ConfigError(`'${uri.raw}' has a badly encoded subject`, { variable: uri.variable, cause: error });
  }
  const example = wildcards ? 'for example nats://orders.created or nats://orders.>' : 'for example nats://orders.created';
  if (subject === '') throw new ConfigError(`a NATS URI needs a subject, ${example}`, { variable: uri.variable });
  const tokens = subject.split('.');
  tokens.forEach((token, index) => {
    if (token === '' || /\s/.test(token)) {
      throw new ConfigError(`'${subject}' is not a valid subject (empty token or whitespace); ${example}`, { variable: uri.variable });
    }
    const wildcard = token === '*' || (token === '>' && index === tokens.length - 1);
    if ((token.includes('*') || token.includes('>')) && !wildcard) {
      throw new ConfigError(`'${subject}' is not a valid subject: '*' and '>' must be whole tokens, '>' the last; ${example}`, {
        variable: uri.variable,
      });
    }
    if (wildcard && !wildcards) {
      throw new ConfigError(`a sink cannot publish to the wildcard subject '${subject}'; ${example}`, { variable: uri.variable });
    }
  });
  return subject;
}

function param(uri: EndpointUri, name: string): string | undefined {
  const value = uri.params.get(name);
  return value === undefined ? undefined : value.trim();
}

function nameParam(uri: EndpointUri, name: string, example: string): string | undefined {
  const value = param(uri, name);
  if (value === undefined) return undefined;
  if (!NAME.test(value)) {
    throw new ConfigError(`?${name}='${value}' is not a valid name (no spaces, '.', '*', '>', '/'); for example ?${name}=${example}`, {
      variable: uri.variable,
    });
  }
  return value;
}

function linkFor(uri: EndpointUri, env: NodeJS.ProcessEnv, options: SourceOptions | SinkOptions, role: 'source' | 'sink'): NatsLink {
  const connection = natsConnectionOptions(env, `wasm-pipes ${role} ${redactUri(uri.raw)}`);
  const connectTimeout = parseDuration(env.NATS_CONNECT_TIMEOUT?.trim() || DEFAULT_CONNECT_TIMEOUT, 'NATS_CONNECT_TIMEOUT');
  const logger = (options.logger ?? rootLogger()).child({ [role]: redactUri(uri.raw) });
  return new NatsLink(connection, connectTimeout, logger, role);
}

function openNatsSource(uri: EndpointUri, options: SourceOptions): NatsCoreSource | JetStreamSource {
  const env = options.env ?? process.env;
  const subject = subjectOf(uri, true);
  const stream = nameParam(uri, 'stream', 'ORDERS');
  const consumer = nameParam(uri, 'consumer', 'relay');
  const jetstreamText = param(uri, 'jetstream');
  const useJetStream =
    stream !== undefined ||
    consumer !== undefined ||
    (jetstreamText !== undefined && parseBoolean(jetstreamText, `${uri.variable} jetstream`));
  const queue = param(uri, 'queue');
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;

  if (!useJetStream) {
    const stray = JETSTREAM_ONLY.filter((name) => uri.params.has(name));
    if (stray.length > 0) {
      throw new ConfigError(
        `${stray.map((name) => `?${name}`).join(', ')} only apply to JetStream; add a durable consumer, for example nats://${subject}?stream=ORDERS&consumer=relay`,
        { variable: uri.variable },
      );
    }
    const maxPendingText = param(uri, 'max_pending');
    const maxPending = maxPendingText === undefined ? DEFAULT_MAX_PENDING : parseInteger(maxPendingText, `${uri.variable} max_pending`, 0);
    const link = linkFor(uri, env, options, 'source');
    // `?queue=` (empty, as in the seed README's nats://example.mysubject?queue=) means no queue group
    return new NatsCoreSource({ subject, queue: queue || undefined, maxPending }, link);
  }

  if (queue) {
    throw new ConfigError(
      `?queue does not apply to JetStream: copies of the pipeline that share ?consumer=${consumer ?? 'NAME'} split the messages; remove ?queue=${queue}`,
      { variable: uri.variable },
    );
  }
  if (uri.params.has('max_pending')) {
    throw new ConfigError('?max_pending applies to core NATS; a JetStream source is bounded by MAX_IN_FLIGHT (max_ack_pending)', {
      variable: uri.variable,
    });
  }
  if (consumer === undefined) {
    throw new ConfigError(
      `a JetStream source needs a durable consumer name, so that a restart resumes where it stopped: nats://${subject}?stream=${stream ?? 'ORDERS'}&consumer=relay`,
      { variable: uri.variable },
    );
  }
  const ackWaitText = param(uri, 'ack_wait');
  const ackWaitMs = parseDuration(ackWaitText ?? DEFAULT_ACK_WAIT, `${uri.variable} ack_wait`);
  if (ackWaitMs < 1000) {
    throw new ConfigError(`?ack_wait=${ackWaitText} is too short; use at least 1s, for example ?ack_wait=30s`, { variable: uri.variable });
  }
  const stallAfterText = param(uri, 'stall_after');
  const stallAfterMs = parseDuration(stallAfterText ?? DEFAULT_STALL_AFTER, `${uri.variable} stall_after`);
  if (stallAfterMs < 500) {
    throw new ConfigError(`?stall_after=${stallAfterText} is too short; use at least 500ms, for example ?stall_after=10s`, {
      variable: uri.variable,
    });
  }
  const maxDeliverText = param(uri, 'max_deliver');
  let maxDeliver: number | undefined;
  if (maxDeliverText !== undefined) {
    maxDeliver = parseInteger(maxDeliverText, `${uri.variable} max_deliver`, -1);
    if (maxDeliver === 0) {
      throw new ConfigError('?max_deliver=0 is not allowed; use -1 for no limit, or a number of deliveries such as 10', {
        variable: uri.variable,
      });
    }
  }
  const deliver = (param(uri, 'deliver') ?? 'all').toLowerCase();
  if (deliver !== 'all' && deliver !== 'new' && deliver !== 'last') {
    throw new ConfigError(`?deliver=${deliver} is not a deliver policy; use all, new or last (for a new consumer)`, {
      variable: uri.variable,
    });
  }
  const nakDelayMs = parseDuration(param(uri, 'nak_delay') ?? DEFAULT_NAK_DELAY, `${uri.variable} nak_delay`);
  const link = linkFor(uri, env, options, 'source');
  return new JetStreamSource(
    { subject, stream, consumer, maxInFlight, ackWaitMs, maxDeliver, nakDelayMs, deliverPolicy: deliver, stallAfterMs },
    link,
  );
}

function openNatsSink(uri: EndpointUri, options: SinkOptions): NatsCoreSink | JetStreamSink {
  const env = options.env ?? process.env;
  const subject = subjectOf(uri, false);
  const jetstreamText = param(uri, 'jetstream');
  const useJetStream = jetstreamText !== undefined && parseBoolean(jetstreamText, `${uri.variable} jetstream`);
  const timeoutMs = parseDuration(param(uri, 'timeout') ?? DEFAULT_PUBLISH_TIMEOUT, `${uri.variable} timeout`);
  const link = linkFor(uri, env, options, 'sink');
  return useJetStream ? new JetStreamSink(subject, link, timeoutMs) : new NatsCoreSink(subject, link, timeoutMs);
}

registerScheme({
  schemes: ['nats'],
  description:
    'NATS: core subjects (at most once; ?queue=GROUP shares the work) or JetStream (?stream=S&consumer=C as a source, ?jetstream=true as a sink; at least once)',
  sourceExample: 'nats://orders.created?queue=relay',
  sinkExample: 'nats://orders.audited?jetstream=true',
  sourceParams: SOURCE_PARAMS,
  sinkParams: SINK_PARAMS,
  openSource: openNatsSource,
  openSink: openNatsSink,
  // big batches, each confirmed by one flush (core) or by its PubAcks (JetStream), a few in flight at once
  sinkDefaults: { concurrency: 4, batch: { count: 1024, linger: 0 } },
});
