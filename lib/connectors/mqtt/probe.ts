// `wasm-pipes check` for mqtt://: connects to MQTT_SERVER_URL with its credentials and TLS, once, with a client id of
// its own and a clean session (the source's own id would take over a running relay's session), then disconnects.
// MQTT has no way to ask whether a topic exists: the broker and the credentials are what can be proved.
import { randomBytes } from 'node:crypto';
import type { EndpointUri } from '../../registry';
import { mqttServer } from './config';

/** CONNACK codes (MQTT 3.1.1 return codes and MQTT 5 reason codes) that refuse the credentials or the client. */
const REFUSED = new Set([4, 5, 134, 135, 138, 140]);

async function connectOnce(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const server = mqttServer(env, uri.scheme === 'mqtts');

  const mqtt = require('mqtt') as typeof import('mqtt');
  const client = mqtt.connect({
    ...server.options,
    clientId: `wasm-pipes-check-${randomBytes(6).toString('hex')}`,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error('the connection closed')));
    });
    return `MQTT ${server.address}: connected${server.tls ? ' over TLS' : ''}, credentials accepted`;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'number' && REFUSED.has(code)) {
      throw new Error(
        `the broker at ${server.address} refused the connection (${(error as Error).message}); fix MQTT_USERNAME/MQTT_PASSWORD (or the user:password of MQTT_SERVER_URL)`,
        { cause: error },
      );
    }
    throw new Error(`cannot connect to MQTT at ${server.address} (${(error as Error).message}); start the broker, or fix MQTT_SERVER_URL`, {
      cause: error,
    });
  } finally {
    client.end(true);
  }
}

export function probeSource(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  return connectOnce(uri, env);
}

export function probeSink(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  return connectOnce(uri, env);
}
