// postgres:// (and postgresql://): a table as a sink (batched idempotent inserts) and as a source (the transactional
// outbox: a table worked as a queue, claims held in a transaction), on pg. This file reads the URI parameters and
// registers the scheme; the drivers are in sink.ts and source.ts, what they share in client.ts and config.ts.
import { registerScheme, type EndpointUri, type ParamSpec } from '../../registry';
import type { SourceOptions } from '../../source';
import type { SinkOptions } from '../../sink';
import { ConfigError } from '../../errors';
import { durationParam, integerParam, parsePgUri } from './config';
import { PgSink } from './sink';
import { PgSource, type PgSourceConfig } from './source';

/** Claims in flight at once by default: a claim mostly waits for the server, so one alone leaves the relay idle. */
const DEFAULT_CLAIMS = 3;

const CONNECTION_PARAMS: readonly ParamSpec[] = [
  {
    name: 'sslmode',
    description:
      'TLS to the server: disable, require (encrypted, any certificate), verify-ca or verify-full (checked against sslrootcert or the system CAs)',
    default: 'disable',
  },
  { name: 'sslrootcert', description: "the server's CA certificate (a PEM file) for sslmode=verify-full" },
  { name: 'connect_timeout', description: 'how long one connection attempt may take, for example 5s', default: '10s' },
];

const SOURCE_PARAMS: readonly ParamSpec[] = [
  ...CONNECTION_PARAMS,
  { name: 'batch', description: 'most rows one claim takes (one statement), 1 to 10000', default: '256' },
  {
    name: 'visibility',
    description:
      'how long a leased row stays invisible to other relays; renewed while its message is in flight, so it only bounds how soon the leased rows of a relay that died come back',
    default: '30s',
  },
  {
    name: 'hold',
    description:
      "how long a claim's transaction stays open for its messages to settle (at most visibility / 2); rows still in flight then get a lease. 0 = lease every row at once",
    default: '1s',
  },
  { name: 'poll', description: 'the longest an idle source waits before looking again without a NOTIFY', default: '1s' },
  {
    name: 'channel',
    description: 'the NOTIFY channel to LISTEN on for new rows (a trigger sends it, see the docs); channel= (empty) to only poll',
    default: 'the table name',
  },
  {
    name: 'on_ack',
    description: 'delete (the row is deleted) or mark (done_at is set and the row is kept; the table needs a done_at column)',
    default: 'delete',
  },
  {
    name: 'nack_delay',
    description: 'how long a nacked row stays invisible, doubled per delivery up to nack_delay_max; 0 = at once',
    default: '1s',
  },
  { name: 'nack_delay_max', description: 'the longest nack delay', default: '1m' },
  { name: 'pool', description: 'connections for claims and settlements (plus one for LISTEN)', default: '4' },
  {
    name: 'claims',
    description: 'claims that may run at once (each takes up to batch rows; SKIP LOCKED keeps them apart), 1 to pool',
    default: String(DEFAULT_CLAIMS),
  },
];

const SINK_PARAMS: readonly ParamSpec[] = [
  ...CONNECTION_PARAMS,
  {
    name: 'pool',
    description: 'connections for inserts: at most this many batches are written at once',
    default: 'the sink concurrency (4)',
  },
];

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

function envOf(options: SourceOptions | SinkOptions): NodeJS.ProcessEnv {
  return options.env ?? process.env;
}

export function pgSourceConfig(uri: EndpointUri, env: NodeJS.ProcessEnv): PgSourceConfig {
  const settings = parsePgUri(uri, env);
  const onAck = uri.params.get('on_ack') ?? 'delete';
  if (onAck !== 'delete' && onAck !== 'mark') {
    throw new ConfigError(`on_ack='${onAck}' is not delete or mark (for example postgres://host/db/outbox?on_ack=mark)`, {
      variable: uri.variable,
    });
  }
  const channelParam = uri.params.get('channel');
  const channel = channelParam === undefined ? settings.table.bare : channelParam === '' ? undefined : channelParam;
  if (channel !== undefined && !IDENTIFIER.test(channel)) {
    throw new ConfigError(
      `channel='${channel}' is not a channel name (letters, digits and _, as in LISTEN); for example channel=outbox_events`,
      { variable: uri.variable },
    );
  }
  const nackDelayMs = durationParam(uri, 'nack_delay', '1s', 0);
  const poolSize = integerParam(uri, 'pool', 4, 1, 100);
  const claimsParam = uri.params.get('claims');
  const claims = integerParam(uri, 'claims', Math.min(DEFAULT_CLAIMS, poolSize), 1, 100);
  if (claimsParam !== undefined && claims > poolSize) {
    throw new ConfigError(`claims=${claims} is more than pool=${poolSize} connections; use claims=${poolSize} or less, or raise pool`, {
      variable: uri.variable,
    });
  }
  return {
    settings,
    batch: integerParam(uri, 'batch', 256, 1, 10_000),
    visibilityMs: durationParam(uri, 'visibility', '30s', 1000),
    holdMs: durationParam(uri, 'hold', '1s', 0),
    pollMs: durationParam(uri, 'poll', '1s', 10),
    nackDelayMs,
    nackDelayMaxMs: Math.max(nackDelayMs, durationParam(uri, 'nack_delay_max', '1m', 0)),
    onAck,
    channel,
    poolSize,
    claims,
  };
}

/** Sink batching: one INSERT per batch of up to 500 rows or 4 MiB, waiting 2 ms for company; 4 at once. */
const SINK_CONCURRENCY = 4;

registerScheme({
  schemes: ['postgres', 'postgresql'],
  description:
    'PostgreSQL table (pg): as a source, an outbox worked as a queue (FOR UPDATE SKIP LOCKED claims held in a transaction, leased past hold; ack = delete or mark done, nack = visible again after a backoff, LISTEN/NOTIFY wake-ups); as a sink, batched inserts, idempotent on the message id',
  sourceExample: 'postgres://relay@db.example.com/shop/outbox',
  sinkExample: 'postgres://relay@db.example.com/shop/events',
  sourceParams: SOURCE_PARAMS,
  sinkParams: SINK_PARAMS,
  openSource: (uri, options) => new PgSource(pgSourceConfig(uri, envOf(options)), options),
  openSink: (uri, options) =>
    new PgSink(parsePgUri(uri, envOf(options)), options, integerParam(uri, 'pool', options.concurrency ?? SINK_CONCURRENCY, 1, 100)),
  sinkDefaults: { concurrency: SINK_CONCURRENCY, batch: { count: 500, bytes: 4 * 1024 * 1024, linger: '2ms' } },
});
