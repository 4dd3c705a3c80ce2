// mqtt:// as a sink: publishes each message to the topic with QoS 1 (acked on the broker's PUBACK) or, when asked,
// QoS 0 (acked once written to the connection: at most once), with the retain flag as a parameter. An MQTT 5 PUBACK
// with a failure reason code fails that message: permanently for what the broker will always refuse.
import type { MqttClient } from 'mqtt';
import type { SinkDriver, WriteResult } from '../../sink';
import type { Message } from '../../message';
import { ConnectorError, PermanentError } from '../../errors';
import type { Logger } from '../../logging/logger';
import { firstMqttConnection, type MqttServer } from './config';
import { messagePublishOptions } from './properties';

/** PUBACK reason codes that the same message will get again: no retry. */
const PERMANENT_REASONS: Record<number, string> = {
  135: 'not authorized',
  144: 'topic name invalid',
  149: 'packet too large',
  153: 'payload format invalid',
};

export interface MqttSinkConfig {
  scheme: string;
  server: MqttServer;
  topic: string;
  clientId: string;
  version: 5 | 4;
  qos: 0 | 1;
  retain: boolean;
  /** How long a publish may wait for its PUBACK. */
  timeoutMs: number;
  /** Whether the message id travels in the `x-message-id` user property (MQTT 5). */
  sendId: boolean;
}

export class MqttSink implements SinkDriver {
  readonly scheme: string;
  private client: MqttClient | undefined;
  private starting: Promise<MqttClient> | undefined;

  constructor(
    private readonly config: MqttSinkConfig,
    private readonly logger: Logger,
  ) {
    this.scheme = config.scheme;
  }

  get ready(): boolean {
    return this.client?.connected === true;
  }

  /** Connects at start-up, so that a broker out of reach or refused credentials stop the start, as for a source. */
  async start(): Promise<void> {
    await this.connect();
  }

  private connect(): Promise<MqttClient> {
    if (this.starting === undefined) {
      const { server, clientId, version } = this.config;

      const mqtt = require('mqtt') as typeof import('mqtt');
      const client = mqtt.connect({
        ...server.options,
        clientId,
        protocolVersion: version,
        // nothing to resume: a publisher's session holds no subscriptions, and unconfirmed publishes are retried by the sink
        clean: true,
        keepalive: 30,
        reconnectPeriod: 1000,
        connectTimeout: 10_000,
        reconnectOnConnackError: true,
      });
      client.on('error', (error) => this.logger.debug({ err: error }, `mqtt: ${error.message}`));
      client.on('offline', () =>
        this.logger.warn({ broker: server.address }, `mqtt: sink connection to ${server.address} lost; reconnecting`),
      );
      this.client = client;
      this.starting = firstMqttConnection(client, server, this.scheme, 'sink', this.logger).then(
        () => {
          this.logger.info(
            { broker: server.address, topic: this.config.topic },
            `mqtt: publishing to '${this.config.topic}' with QoS ${this.config.qos}`,
          );
          return client;
        },
        (error: unknown) => {
          // the next write tries again (the sink runtime backs off in between)
          this.starting = undefined;
          this.client = undefined;
          throw error;
        },
      );
    }
    return this.starting;
  }

  async write(batch: readonly Message[]): Promise<WriteResult> {
    const client = await this.connect();
    const { topic, qos, retain, version, timeoutMs, sendId } = this.config;
    if (!client.connected) {
      // fail fast rather than leave the publishes in mqtt.js's offline queue: the sink retries with a backoff
      throw new ConnectorError('not connected to the broker (reconnecting)', { scheme: this.scheme, host: this.config.server.address });
    }
    // one timer for the batch, not one per message: a timer each costs more than the publish on a busy relay
    return new Promise<WriteResult>((resolve) => {
      const results: (Error | undefined)[] = new Array(batch.length);
      const done: boolean[] = new Array(batch.length).fill(false);
      let pending = batch.length;
      const timer = setTimeout(() => {
        const late = new ConnectorError(`no PUBACK within ${timeoutMs} ms for a message to '${topic}'`, {
          scheme: this.scheme,
          host: this.config.server.address,
        });
        for (let i = 0; i < results.length; i++) if (results[i] === undefined && !done[i]) results[i] = late;
        pending = 0;
        resolve(results);
      }, timeoutMs);
      // mqtt-packet writes a PUBLISH as 7 to 12 small chunks (more with user properties): corked, the batch's chunks
      // leave in one writev instead of a socket write per chunk
      const stream = client.stream;
      stream.cork();
      try {
        batch.forEach((message, index) => {
          client.publish(topic, message.body, messagePublishOptions(message, qos, retain, version === 5, sendId), (error) => {
            if (pending === 0 || done[index]) return; // timed out already
            done[index] = true;
            if (error) results[index] = this.classify(error);
            if (--pending === 0) {
              clearTimeout(timer);
              resolve(results);
            }
          });
        });
      } finally {
        stream.uncork();
      }
    });
  }

  private classify(error: Error): Error {
    const code = (error as { code?: unknown }).code;
    const reason = typeof code === 'number' ? PERMANENT_REASONS[code] : undefined;
    if (typeof code === 'number' && reason !== undefined) {
      return new PermanentError(
        `${this.scheme} (${this.config.server.address}): the broker refused a message to '${this.config.topic}': ${reason} (reason code ${code})`,
        {
          cause: error,
        },
      );
    }
    return new ConnectorError(`publishing to '${this.config.topic}' failed: ${error.message}`, {
      scheme: this.scheme,
      host: this.config.server.address,
      cause: error,
    });
  }

  async close(): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    // force when not connected: nothing would flush, and end(false) would wait for the reconnection
    await new Promise<void>((resolve) => client.end(!client.connected, {}, () => resolve()));
  }
}
