// The redisstream family: redis-stream://STREAM (Redis Streams) on ioredis, the server from REDIS_SERVER_URL. As a
// source, a consumer group read with XREADGROUP and settled with XACK; as a sink, XADD.
import os from 'node:os';
import { registerScheme, type EndpointUri, type ParamSpec, redactUri } from '../../registry';
import type { SourceOptions } from '../../source';
import type { SinkOptions } from '../../sink';
import { ConfigError } from '../../errors';
import { parseBoolean, parseDuration, parseInteger } from '../../config';
import { rootLogger } from '../../logging/logger';
import { redisServer, streamName, SCHEME } from './connection';
import { RedisStreamSource } from './source';
import { RedisStreamSink } from './sink';

export const DEFAULT_CLAIM_IDLE = '30s';
export const DEFAULT_NACK_DELAY = '1s';

export const SOURCE_PARAMS: readonly ParamSpec[] = [
  {
    name: 'group',
    description: 'the consumer group (required): copies of the pipeline in one group share the entries, for example ?group=relay',
  },
  {
    name: 'consumer',
    description:
      "this copy's consumer name in the group; give each copy a stable one of its own, so that a restart takes back at once what it held (a made-up name is removed from the group on a clean stop)",
    default: '<host name>-<pid>',
  },
  {
    name: 'create_group',
    description: 'true: create the group (and the stream) when missing, instead of stopping the start',
    default: 'false',
  },
  {
    name: 'start',
    description:
      'where a group created with ?create_group=true starts: oldest (every entry in the stream) or newest (only entries added later)',
    default: 'oldest',
  },
  {
    name: 'claim_idle',
    description:
      "an entry pending this long in another consumer is taken over (XAUTOCLAIM): the time after which a dead copy's entries move on; live copies keep theirs fresh",
    default: DEFAULT_CLAIM_IDLE,
  },
  {
    name: 'nack_delay',
    description: 'how long a nacked entry waits before it is delivered again, doubled per delivery up to 1 min',
    default: DEFAULT_NACK_DELAY,
  },
];

export const SINK_PARAMS: readonly ParamSpec[] = [
  { name: 'maxlen', description: 'trim the stream to about this many entries on each XADD (MAXLEN ~ N); unset: no trimming' },
  { name: 'create', description: 'false: the stream must exist (XADD NOMKSTREAM), else XADD creates it', default: 'true' },
];

const NAME = /^[^\s]+$/;

function nameParam(uri: EndpointUri, name: string, example: string): string | undefined {
  const value = uri.params.get(name)?.trim();
  if (value === undefined) return undefined;
  if (!NAME.test(value)) {
    throw new ConfigError(`?${name}='${value}' is not a valid name (no spaces, not empty); for example ?${name}=${example}`, {
      variable: uri.variable,
    });
  }
  return value;
}

function stream(uri: EndpointUri, role: 'source' | 'sink'): string {
  const name = streamName(uri);
  if (name === '') {
    const example = role === 'source' ? 'redis-stream://readings?group=relay' : 'redis-stream://readings';
    throw new ConfigError(`a Redis stream URI needs the stream's name, for example ${example}`, { variable: uri.variable });
  }
  return name;
}

function openSource(uri: EndpointUri, options: SourceOptions): RedisStreamSource {
  const env = options.env ?? process.env;
  const name = stream(uri, 'source');
  const group = nameParam(uri, 'group', 'relay');
  if (group === undefined) {
    throw new ConfigError(
      `a Redis stream source reads through a consumer group: name it, for example redis-stream://${name}?group=relay (add &create_group=true to create it)`,
      { variable: uri.variable },
    );
  }
  const explicitConsumer = nameParam(uri, 'consumer', 'relay-1');
  const start = (uri.params.get('start') ?? 'oldest').trim().toLowerCase();
  if (start !== 'oldest' && start !== 'newest') {
    throw new ConfigError(`?start=${start} is not a start position; use oldest or newest`, { variable: uri.variable });
  }
  const createText = uri.params.get('create_group');
  const createGroup = createText === undefined ? false : parseBoolean(createText, `${uri.variable} create_group`);
  if (uri.params.has('start') && !createGroup) {
    throw new ConfigError('?start only applies to a group this source creates: add &create_group=true, or remove ?start', {
      variable: uri.variable,
    });
  }
  const claimIdleText = uri.params.get('claim_idle') ?? DEFAULT_CLAIM_IDLE;
  const claimIdleMs = parseDuration(claimIdleText, `${uri.variable} claim_idle`);
  if (claimIdleMs < 100) {
    throw new ConfigError(
      `?claim_idle=${claimIdleText} is too short (live consumers' entries would be taken); use 100ms or more, for example ?claim_idle=30s`,
      {
        variable: uri.variable,
      },
    );
  }
  const nackDelayMs = parseDuration(uri.params.get('nack_delay') ?? DEFAULT_NACK_DELAY, `${uri.variable} nack_delay`);
  return new RedisStreamSource(
    {
      server: redisServer(env),
      stream: name,
      group,
      consumer: explicitConsumer ?? `${os.hostname()}-${process.pid}`,
      generatedConsumer: explicitConsumer === undefined,
      createGroup,
      start,
      claimIdleMs,
      nackDelayMs,
    },
    (options.logger ?? rootLogger()).child({ source: redactUri(uri.raw) }),
  );
}

function openSink(uri: EndpointUri, options: SinkOptions): RedisStreamSink {
  const env = options.env ?? process.env;
  const name = stream(uri, 'sink');
  for (const param of ['group', 'consumer', 'create_group', 'start', 'claim_idle', 'nack_delay']) {
    if (uri.params.has(param)) {
      throw new ConfigError(`?${param} is a source parameter; a sink only adds entries (XADD): remove it`, { variable: uri.variable });
    }
  }
  const maxlenText = uri.params.get('maxlen');
  const createText = uri.params.get('create');
  return new RedisStreamSink(
    {
      server: redisServer(env),
      stream: name,
      maxLength: maxlenText === undefined ? undefined : parseInteger(maxlenText, `${uri.variable} maxlen`, 1),
      create: createText === undefined ? true : parseBoolean(createText, `${uri.variable} create`),
    },
    (options.logger ?? rootLogger()).child({ sink: redactUri(uri.raw) }),
  );
}

registerScheme({
  schemes: [SCHEME],
  description:
    "Redis Streams (REDIS_SERVER_URL): a consumer group as a source (XREADGROUP, XACK after settlement, XAUTOCLAIM of dead consumers' entries); XADD as a sink",
  sourceExample: 'redis-stream://readings?group=relay&consumer=relay-1',
  sinkExample: 'redis-stream://readings?maxlen=100000',
  sourceParams: SOURCE_PARAMS,
  sinkParams: SINK_PARAMS,
  openSource,
  openSink,
  // a batch is one pipeline of XADDs: one round trip, a few at once
  sinkDefaults: { concurrency: 4, batch: { count: 256, linger: 0 } },
});
