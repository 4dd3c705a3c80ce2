// MQTT_SERVER_URL and the MQTT credential and TLS variables -> mqtt.js connection options; the topic of an
// mqtt:// URI; and the first connection of a source or sink: retried until MQTT_CONNECT_TIMEOUT, with a broker that
// refuses the credentials (its CONNACK reason code) stopping the start at once.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { createHash } from 'node:crypto';
import type { IClientOptions, MqttClient } from 'mqtt';
import { ConfigError } from '../../errors';
import { parseDuration, parseInteger } from '../../config';
import { redactUri, type EndpointUri } from '../../registry';
import { readTlsFiles } from '../../security/tls';
import type { Logger } from '../../logging/logger';
import { firstConnection } from '../connectRetry';

export const DEFAULT_MQTT_SERVER = 'mqtt://127.0.0.1:1883';
export const DEFAULT_CONNECT_TIMEOUT = '30s';

const SERVER_EXAMPLE = 'for example mqtt://127.0.0.1:1883, mqtts://broker.example.com:8883 or mqtt://user:password@broker:1883';
const TLS_SCHEMES = new Set(['mqtts', 'ssl', 'tls']);
const PLAIN_SCHEMES = new Set(['mqtt', 'tcp']);

/** The broker and how to sign in, shared by every mqtt:// endpoint of a process. */
export interface MqttServer {
  /** mqtt.js options without the per-endpoint ones (client id, session). */
  options: IClientOptions;
  /** `host:port`, for errors and logs (never credentials). */
  address: string;
  tls: boolean;
  connectTimeoutMs: number;
}

function readFile(file: string, variable: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new ConfigError(`cannot read '${file}': ${(error as Error).message}; give the path of a PEM file`, { variable, cause: error });
  }
}

/**
 * The broker of `env`: MQTT_SERVER_URL (default mqtt://127.0.0.1:1883; mqtts://, ssl:// or tls:// for TLS), with
 * user and password from the URL or MQTT_USERNAME/MQTT_PASSWORD, TLS files from MQTT_TLS_CA, MQTT_TLS_CERT and
 * MQTT_TLS_KEY. `tlsScheme` (an mqtts:// endpoint) turns TLS on whatever the server URL says.
 */
export function mqttServer(env: NodeJS.ProcessEnv, tlsScheme: boolean): MqttServer {
  const variable = 'MQTT_SERVER_URL';
  const text = env[variable]?.trim() || DEFAULT_MQTT_SERVER;
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `mqtt://${text}`);
  } catch (error) {
    throw new ConfigError(`'${redactUri(text)}' is not a broker address; ${SERVER_EXAMPLE}`, { variable, cause: error });
  }
  const scheme = url.protocol.replace(/:$/, '').toLowerCase();
  if (!TLS_SCHEMES.has(scheme) && !PLAIN_SCHEMES.has(scheme)) {
    throw new ConfigError(`'${redactUri(text)}' has the scheme '${scheme}://'; an MQTT broker is mqtt:// or mqtts:// (${SERVER_EXAMPLE})`, {
      variable,
    });
  }
  if (url.hostname === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '') {
    throw new ConfigError(`'${redactUri(text)}' is not a broker address (host and port only); ${SERVER_EXAMPLE}`, { variable });
  }
  const ca = env.MQTT_TLS_CA?.trim();
  const clientCert = readTlsFiles(env, 'MQTT_TLS_CERT', 'MQTT_TLS_KEY');
  const tls = tlsScheme || TLS_SCHEMES.has(scheme) || Boolean(ca) || clientCert !== undefined;
  const port = url.port === '' ? (tls ? 8883 : 1883) : parseInteger(url.port, `${variable} port`, 1, 65_535);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const username = env.MQTT_USERNAME?.trim() || decodeURIComponent(url.username) || undefined;
  const password = env.MQTT_PASSWORD ?? (url.password !== '' ? decodeURIComponent(url.password) : undefined);
  if (password !== undefined && password !== '' && username === undefined) {
    throw new ConfigError(
      'MQTT_PASSWORD is set without a user name; set MQTT_USERNAME too (or write mqtt://user:password@host in MQTT_SERVER_URL)',
      {
        variable: 'MQTT_USERNAME',
      },
    );
  }
  const options: IClientOptions = {
    protocol: tls ? 'mqtts' : 'mqtt',
    host,
    port,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    // SNI takes a host name only (an address would be refused by newer Node.js versions)
    ...(tls ? { rejectUnauthorized: true, ...(net.isIP(host) === 0 ? { servername: host } : {}) } : {}),
    ...(ca ? { ca: readFile(ca, 'MQTT_TLS_CA') } : {}),
    ...(clientCert !== undefined ? { cert: clientCert.cert, key: clientCert.key } : {}),
  };
  return {
    options,
    address: `${url.hostname}:${port}`,
    tls,
    connectTimeoutMs: parseDuration(env.MQTT_CONNECT_TIMEOUT?.trim() || DEFAULT_CONNECT_TIMEOUT, 'MQTT_CONNECT_TIMEOUT'),
  };
}

/**
 * The topic (or topic filter) of `mqtt://sensors/+/temp`: host and path, percent-decoded. A `#` wildcard would end a
 * URL's path (the fragment), so the part before `?` is read from the raw text, `#` included; returns the query too.
 */
export function topicAndParams(uri: EndpointUri): { topic: string; params: Map<string, string> } {
  const afterScheme = uri.raw.slice(uri.raw.indexOf('://') + 3);
  const queryAt = afterScheme.search(/\?/);
  const head = queryAt < 0 ? afterScheme : afterScheme.slice(0, queryAt);
  const query = queryAt < 0 ? '' : afterScheme.slice(queryAt + 1);
  let topic: string;
  try {
    topic = decodeURIComponent(head.replace(/^\/\//, ''));
  } catch (error) {
    throw new ConfigError(`'${uri.raw}' has a badly encoded topic`, { variable: uri.variable, cause: error });
  }
  const params = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(query)) if (!params.has(name)) params.set(name, value);
  return { topic, params };
}

/** MQTT 5 CONNACK reason codes (and their 3.1.1 return codes) that retrying with the same settings cannot fix. */
const REFUSED: Record<number, string> = {
  2: 'the client identifier was rejected',
  4: 'bad user name or password',
  5: 'not authorized',
  133: 'the client identifier is not valid',
  134: 'bad user name or password',
  135: 'not authorized',
  138: 'banned',
  140: 'bad authentication method',
};

function reasonCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Resolves with the CONNACK's session-present flag once `client` (just created by mqtt.connect) is connected. A
 * broker out of reach is tried again (mqtt.js reconnects) until `server.connectTimeoutMs`, then a ConnectorError;
 * refused credentials or client id are a ConfigError at once (exit 2 in the bin).
 */
export function firstMqttConnection(
  client: MqttClient,
  server: MqttServer,
  scheme: string,
  role: string,
  logger: Logger,
): Promise<boolean> {
  return firstConnection(client, {
    scheme,
    host: server.address,
    role,
    logger,
    connectedEvent: 'connect',
    connected: (connack) => (connack as { sessionPresent: boolean }).sessionPresent,
    timeoutMs: server.connectTimeoutMs,
    timeoutVariable: 'MQTT_CONNECT_TIMEOUT',
    refused: (error) => {
      const code = reasonCode(error);
      const refused = code === undefined ? undefined : REFUSED[code];
      if (refused === undefined) return undefined;
      return new ConfigError(
        `${scheme} (${server.address}): the broker refused the connection: ${refused} (reason code ${code}); check MQTT_USERNAME and MQTT_PASSWORD (or the user and password in MQTT_SERVER_URL), the client certificate, and ?client_id`,
        { variable: 'MQTT_SERVER_URL', cause: error },
      );
    },
    abandon: () => client.end(true),
  });
}

/**
 * A client id that stays the same across restarts of one pipeline on one host (so that a persistent session is
 * found again) and differs between hosts and between topic filters: `wasm-pipes-<host>-<hash of the filter>`.
 */
export function defaultClientId(filter: string): string {
  const hash = createHash('sha256').update(filter).digest('hex').slice(0, 10);
  const host =
    os
      .hostname()
      .replace(/[^A-Za-z0-9-]/g, '')
      .slice(0, 20) || 'host';
  return `wasm-pipes-${host}-${hash}`;
}
