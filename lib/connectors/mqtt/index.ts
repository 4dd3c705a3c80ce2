// The mqtt family: mqtt://TOPIC and mqtts://TOPIC (MQTT 5, or 3.1.1 with ?version=3.1.1) on mqtt.js, the broker
// from MQTT_SERVER_URL. As a source, a QoS 1 subscription in a persistent session, PUBACK after settlement; as a
// sink, QoS 1 publishes acked on PUBACK.
import { randomBytes } from 'node:crypto';
import { registerScheme, type EndpointUri, type ParamSpec, redactUri } from '../../registry';
import type { SourceOptions } from '../../source';
import type { SinkOptions } from '../../sink';
import { ConfigError } from '../../errors';
import { parseBoolean, parseDuration } from '../../config';
import { rootLogger } from '../../logging/logger';
import { defaultClientId, mqttServer, topicAndParams } from './config';
import { MqttSource } from './source';
import { MqttSink } from './sink';

export const DEFAULT_SESSION_EXPIRY = '24h';
export const DEFAULT_NACK_DELAY = '1s';
export const DEFAULT_PUBLISH_TIMEOUT = '30s';
/** MQTT 5's longest session expiry that is not "never" (0xFFFFFFFF), in seconds. */
const MAX_SESSION_EXPIRY_SECONDS = 0xfffffffe;

const VERSION: ParamSpec = {
  name: 'version',
  description: 'the protocol: 5, or 3.1.1 for an older broker (no user properties, no Receive Maximum)',
  default: '5',
};

export const SOURCE_PARAMS: readonly ParamSpec[] = [
  {
    name: 'client_id',
    description: 'the client id of the persistent session: keep it across restarts, and give each copy its own',
    default: 'wasm-pipes-<host name>-<hash of the topic filter>',
  },
  {
    name: 'share',
    description:
      'a shared subscription group: copies with the same ?share= split the messages ($share/GROUP/filter; the filter may also be written so)',
  },
  {
    name: 'session_expiry',
    description: 'how long the broker keeps the session, and queues messages for it, after the relay disconnects (MQTT 5)',
    default: DEFAULT_SESSION_EXPIRY,
  },
  {
    name: 'nack_delay',
    description: 'how long a nacked message waits before it is delivered again, doubled per delivery up to 1 min',
    default: DEFAULT_NACK_DELAY,
  },
  VERSION,
];

export const SINK_PARAMS: readonly ParamSpec[] = [
  {
    name: 'qos',
    description: "1: acked on the broker's PUBACK (at least once); 0: acked once written to the connection (at most once)",
    default: '1',
  },
  {
    name: 'retain',
    description: 'true: publish retained messages (the broker keeps the last one per topic for new subscribers)',
    default: 'false',
  },
  { name: 'client_id', description: "the publisher's client id (a clean session)", default: 'wasm-pipes-pub-<random>' },
  {
    name: 'timeout',
    description: 'how long a publish may wait for its PUBACK before it fails (and is retried)',
    default: DEFAULT_PUBLISH_TIMEOUT,
  },
  {
    name: 'message_id',
    description:
      'false: do not send the message id in the x-message-id user property (a few µs a message); keep the default when a later hop removes duplicates by id',
    default: 'true',
  },
  VERSION,
];

const SOURCE_EXAMPLE = 'for example mqtt://sensors/+/temperature or mqtt://sensors/#';

function version(params: Map<string, string>, variable: string): 5 | 4 {
  const text = params.get('version')?.trim();
  if (text === undefined || text === '5' || text === '5.0') return 5;
  if (text === '3.1.1' || text === '4') return 4;
  throw new ConfigError(`?version=${text} is not an MQTT version this connector speaks; use 5 or 3.1.1`, { variable });
}

function clientIdParam(params: Map<string, string>, variable: string): string | undefined {
  const value = params.get('client_id')?.trim();
  if (value === undefined) return undefined;
  if (value === '' || Buffer.byteLength(value) > 65_535 || /[\s\0]/.test(value)) {
    throw new ConfigError(`?client_id='${value}' is not a usable client id (not empty, no spaces); for example ?client_id=relay-1`, {
      variable,
    });
  }
  return value;
}

/** Checks the levels of a topic filter: `+` and `#` as whole levels, `#` the last. */
function checkFilter(filter: string, variable: string): void {
  const levels = filter.split('/');
  levels.forEach((level, index) => {
    if (
      (level.includes('+') && level !== '+') ||
      (level.includes('#') && level !== '#') ||
      (level === '#' && index !== levels.length - 1)
    ) {
      throw new ConfigError(`'${filter}' is not a valid topic filter: '+' and '#' must be whole levels, '#' the last; ${SOURCE_EXAMPLE}`, {
        variable,
      });
    }
  });
}

function common(topic: string, variable: string): void {
  if (topic === '') throw new ConfigError(`an MQTT URI needs a topic, ${SOURCE_EXAMPLE}`, { variable });
  if (topic.includes('\0')) throw new ConfigError(`the topic '${topic}' contains a NUL character`, { variable });
  if (Buffer.byteLength(topic) > 65_535) throw new ConfigError('the topic is longer than 65 535 bytes, the MQTT limit', { variable });
}

function openSource(uri: EndpointUri, options: SourceOptions): MqttSource {
  const env = options.env ?? process.env;
  const { topic, params } = topicAndParams(uri);
  const variable = uri.variable;
  common(topic, variable);
  let filter = topic;
  const share = params.get('share')?.trim();
  if (share !== undefined) {
    if (topic.startsWith('$share/'))
      throw new ConfigError(`the filter '${topic}' is a shared subscription already; remove ?share=${share}`, { variable });
    if (share === '' || /[/+#]/.test(share)) {
      throw new ConfigError(`?share='${share}' is not a group name (not empty, no '/', '+' or '#'); for example ?share=relay`, {
        variable,
      });
    }
    filter = `$share/${share}/${topic}`;
  }
  const shared = /^\$share\/([^/]*)\/(.*)$/.exec(filter);
  if (filter.startsWith('$share/') && (shared === null || shared[1] === '' || shared[2] === '')) {
    throw new ConfigError(
      `'${filter}' is not a shared subscription; write $share/GROUP/FILTER, for example mqtt://$share/relay/sensors/+/temperature (or ?share=relay)`,
      {
        variable,
      },
    );
  }
  checkFilter(shared === null ? filter : shared[2], variable);
  const sessionExpiryMs = parseDuration(params.get('session_expiry') ?? DEFAULT_SESSION_EXPIRY, `${variable} session_expiry`);
  const nackDelayMs = parseDuration(params.get('nack_delay') ?? DEFAULT_NACK_DELAY, `${variable} nack_delay`);
  const protocol = version(params, variable);
  return new MqttSource(
    {
      scheme: uri.scheme,
      server: mqttServer(env, uri.scheme === 'mqtts'),
      filter,
      clientId: clientIdParam(params, variable) ?? defaultClientId(filter),
      version: protocol,
      sessionExpirySeconds: Math.min(MAX_SESSION_EXPIRY_SECONDS, Math.ceil(sessionExpiryMs / 1000)),
      nackDelayMs,
    },
    (options.logger ?? rootLogger()).child({ source: redactUri(uri.raw) }),
  );
}

function openSink(uri: EndpointUri, options: SinkOptions): MqttSink {
  const env = options.env ?? process.env;
  const { topic, params } = topicAndParams(uri);
  const variable = uri.variable;
  common(topic, variable);
  if (topic.includes('+') || topic.includes('#')) {
    throw new ConfigError(`a sink publishes to one topic: '${topic}' has a wildcard ('+' or '#'); for example mqtt://sensors/relayed`, {
      variable,
    });
  }
  if (topic.startsWith('$share/')) throw new ConfigError(`'${topic}' is a shared subscription, not a topic to publish to`, { variable });
  for (const name of ['share', 'session_expiry', 'nack_delay']) {
    if (params.has(name)) throw new ConfigError(`?${name} is a source parameter; a sink only publishes: remove it`, { variable });
  }
  const qosText = params.get('qos')?.trim() ?? '1';
  if (qosText !== '0' && qosText !== '1') {
    throw new ConfigError(`?qos=${qosText} is not supported; use 1 (acked on PUBACK, at least once) or 0 (at most once)`, { variable });
  }
  const retainText = params.get('retain');
  const messageIdText = params.get('message_id');
  return new MqttSink(
    {
      scheme: uri.scheme,
      server: mqttServer(env, uri.scheme === 'mqtts'),
      topic,
      clientId: clientIdParam(params, variable) ?? `wasm-pipes-pub-${randomBytes(6).toString('hex')}`,
      version: version(params, variable),
      qos: qosText === '0' ? 0 : 1,
      retain: retainText === undefined ? false : parseBoolean(retainText, `${variable} retain`),
      timeoutMs: parseDuration(params.get('timeout') ?? DEFAULT_PUBLISH_TIMEOUT, `${variable} timeout`),
      sendId: messageIdText === undefined ? true : parseBoolean(messageIdText, `${variable} message_id`),
    },
    (options.logger ?? rootLogger()).child({ sink: redactUri(uri.raw) }),
  );
}

registerScheme({
  schemes: ['mqtt', 'mqtts'],
  description:
    'MQTT (MQTT_SERVER_URL; mqtts:// for TLS): a topic filter as a source (QoS 1, persistent session, PUBACK after settlement; ?share=GROUP to split the work); a topic as a sink (QoS 1, acked on PUBACK)',
  sourceExample: 'mqtt://sensors/+/temperature?share=relay',
  sinkExample: 'mqtt://sensors/relayed?qos=1',
  sourceParams: SOURCE_PARAMS,
  sinkParams: SINK_PARAMS,
  openSource,
  openSink,
  // each message its own PUBLISH; a batch is a round of them waiting for their PUBACKs together
  sinkDefaults: { concurrency: 8, batch: { count: 256, linger: 0 } },
});
