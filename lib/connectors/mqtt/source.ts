// mqtt:// as a source: a push driver. It subscribes with QoS 1 in a persistent session (clean start off, a stable
// client id, a session expiry), and sends each PUBACK only once the message is settled: until then the broker keeps
// the message for the session and delivers it again after a reconnection or a restart. The broker sends at most
// Receive Maximum (= MAX_IN_FLIGHT) unacked messages, so the window reaches the broker.
//
// Manual acks with mqtt.js: its handleMessage hook runs before the automatic PUBACK, and calling the hook's callback
// with an error skips that PUBACK (the packet loop goes on at once, so messages are not handled one at a time, as
// customHandleAcks would make them). The PUBACK is sent later through the client's packet writer. This relies on
// mqtt.js internals (pinned in package.json); the tests that kill the relay before an ack prove it still holds.
//
// MQTT has no negative ack: a nacked message is delivered again by this driver after a backoff (its PUBACK still
// withheld, so a crash meanwhile leaves it to the broker), with a delivery count that feeds MAX_DELIVERIES.
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { SourceContext, SourceDriver } from '../../source';
import { exponentialBackoff } from '../../backoff';
import { ConfigError } from '../../errors';
import type { Logger } from '../../logging/logger';
import { firstMqttConnection, type MqttServer } from './config';
import { publishToMessage } from './properties';

/** The error that tells mqtt.js's handleMessage to skip its automatic PUBACK (see the file comment). */
const PUBACK_LATER = new Error('wasm-pipes: PUBACK after settlement');
/** MQTT's largest Receive Maximum. */
const MAX_RECEIVE_MAXIMUM = 65_535;
/** Reason code of a DISCONNECT sent because another client connected with the same client id. */
const SESSION_TAKEN_OVER = 142;

export interface MqttSourceConfig {
  scheme: string;
  server: MqttServer;
  /** The topic filter: a topic, wildcards (+, #), or $share/group/filter. */
  filter: string;
  clientId: string;
  /** MQTT 5 (user properties, Receive Maximum, session expiry) or 3.1.1. */
  version: 5 | 4;
  /** How long the broker keeps the session (and queues messages) after a disconnection, in seconds. */
  sessionExpirySeconds: number;
  /** First delay before a nacked message is delivered again, doubled per delivery up to 1 min. */
  nackDelayMs: number;
}

/** One delivery: the packet, the session it belongs to, and how many times this process delivered it. */
export interface MqttDelivery {
  readonly packet: IPublishPacket;
  readonly topic: string;
  /** The broker session the packet id belongs to: a PUBACK for an older one would ack another message. */
  readonly session: number;
  deliveries: number;
}

interface PacketWriter {
  _sendPacket(packet: { cmd: 'puback'; messageId: number; reasonCode: number }, callback?: (error?: Error) => void): void;
}
/** SUBACK reason codes, for the start-up error. */
const SUBSCRIBE_REFUSALS: Record<number, string> = {
  128: 'unspecified error',
  135: 'not authorized',
  143: 'topic filter invalid',
  145: 'packet identifier in use',
  151: 'quota exceeded',
  158: 'shared subscriptions not supported',
  161: 'subscription identifiers not supported',
  162: 'wildcard subscriptions not supported',
};

export class MqttSource implements SourceDriver<MqttDelivery> {
  readonly scheme: string;
  private client: MqttClient | undefined;
  private context: SourceContext<MqttDelivery> | undefined;
  /** Counts broker sessions: a connection that found no session present starts a new one. */
  private session = 0;
  /** Unsettled QoS 1 deliveries of the current session, by packet id (a resent one is not delivered twice). */
  private readonly held = new Map<number, MqttDelivery>();
  /** Packet ids acked while disconnected: their PUBACK goes out when the broker sends them again. */
  private readonly ackedOffline = new Set<number>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  /** The connection's stream while PUBACKs are corked (until the end of the tick). */
  private corked: MqttClient['stream'] | undefined;
  private subscribed = false;
  private stopping = false;
  private closed = false;

  constructor(
    private readonly config: MqttSourceConfig,
    private readonly logger: Logger,
  ) {
    this.scheme = config.scheme;
  }

  get ready(): boolean {
    return this.subscribed && !this.stopping && this.client?.connected === true;
  }

  async start(context: SourceContext<MqttDelivery>): Promise<void> {
    this.context = context;
    const { server, clientId, version, sessionExpirySeconds, filter } = this.config;

    const mqtt = require('mqtt') as typeof import('mqtt');
    const client = mqtt.connect({
      ...server.options,
      clientId,
      protocolVersion: version,
      clean: false,
      keepalive: 30,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      // credentials refused later (rotated) are retried like any other failure; at start-up they stop it
      reconnectOnConnackError: true,
      resubscribe: true,
      ...(version === 5
        ? {
            properties: {
              sessionExpiryInterval: sessionExpirySeconds,
              receiveMaximum: Math.max(1, Math.min(context.maxInFlight, MAX_RECEIVE_MAXIMUM)),
            },
          }
        : {}),
    });
    this.client = client;
    // set before the first CONNACK: a resumed session's messages come at once, before the subscription
    client.handleMessage = (packet, callback) => {
      this.arrived(packet);
      // QoS 0 has no PUBACK; for QoS 1 the error skips mqtt.js's own (see the file comment)
      callback(packet.qos > 0 ? PUBACK_LATER : undefined);
    };
    client.on('connect', (connack) => this.connected(connack.sessionPresent));
    client.on('disconnect', (packet) => {
      if (packet.reasonCode === SESSION_TAKEN_OVER) {
        this.logger.warn(
          { clientId },
          `mqtt: another client connected with the client id '${clientId}' and took this session over; give each copy its own ?client_id= (and share the work with ?share=GROUP)`,
        );
      }
    });
    client.on('offline', () => this.logger.warn({ broker: server.address }, `mqtt: connection to ${server.address} lost; reconnecting`));
    client.on('error', (error) => this.logger.debug({ err: error }, `mqtt: ${error.message}`));
    const sessionPresent = await firstMqttConnection(client, server, this.scheme, 'source', this.logger);
    await this.subscribe(client);
    context.logger.info(
      { filter, clientId, sessionPresent, broker: server.address },
      `mqtt: subscribed to '${filter}' with QoS 1 as '${clientId}' (${sessionPresent ? 'resumed' : 'new'} persistent session; PUBACK after settlement, at least once)`,
    );
  }

  private async subscribe(client: MqttClient): Promise<void> {
    const { filter } = this.config;
    // rh 1: retained messages only for a new subscription, not again at every restart of a resumed session
    const granted = await client
      .subscribeAsync(filter, { qos: 1, ...(this.config.version === 5 ? { rh: 1 } : {}) })
      .catch((error: Error) => {
        const code = (error as { code?: unknown }).code;
        const reason = typeof code === 'number' ? `${SUBSCRIBE_REFUSALS[code] ?? 'refused'} (reason code ${code})` : error.message;
        throw this.refusedSubscription(reason, error);
      });
    const grant = granted[0];
    if (grant === undefined || grant.qos === 128) throw this.refusedSubscription('refused (reason code 128)');
    if (grant.qos === 0) {
      this.logger.warn(
        { filter },
        `mqtt: the broker granted QoS 0 for '${filter}': messages are at most once (no PUBACK, nothing redelivered)`,
      );
    }
    this.subscribed = true;
  }

  private refusedSubscription(reason: string, cause?: unknown): Error {
    return new ConfigError(
      `${this.scheme} (${this.config.server.address}): the broker refused the subscription to '${this.config.filter}': ${reason}`,
      {
        variable: 'SOURCE_URI',
        cause,
      },
    );
  }

  private connected(sessionPresent: boolean): void {
    if (!sessionPresent) {
      // a new session: the packet ids of the old one mean nothing now, and it will not send those messages again
      this.session++;
      this.held.clear();
      this.ackedOffline.clear();
    }
  }

  private arrived(packet: IPublishPacket): void {
    const context = this.context as SourceContext<MqttDelivery>;
    const messageId = packet.messageId;
    if (packet.qos > 0 && messageId !== undefined) {
      if (this.ackedOffline.delete(messageId)) {
        // settled while the connection was down: this is the broker sending it again; ack it now
        this.puback(messageId);
        return;
      }
      if (this.held.has(messageId)) return; // sent again after a reconnection, and still in the pipeline
    }
    if (this.stopping) return; // no PUBACK: the broker keeps it for the next run
    const delivery: MqttDelivery = { packet, topic: packet.topic, session: this.session, deliveries: packet.dup ? 2 : 1 };
    if (packet.qos > 0 && messageId !== undefined) this.held.set(messageId, delivery);
    context.push(publishToMessage(packet.topic, packet, delivery.deliveries), delivery);
  }

  private puback(messageId: number): void {
    const client = this.client as MqttClient;
    // acks come in runs (a sink batch is acked at once): the run's PUBACKs (3 chunks each) are corked until the tick
    // ends and leave in one writev, instead of a socket write per chunk
    if (this.corked === undefined) {
      const stream = client.stream;
      stream.cork();
      this.corked = stream;
      process.nextTick(() => {
        this.corked = undefined;
        stream.uncork();
      });
    }
    // the packet writer of the client (see the file comment): a PUBACK goes out in order with the other packets
    (client as unknown as PacketWriter)._sendPacket({ cmd: 'puback', messageId, reasonCode: 0 });
  }

  ack(delivery: MqttDelivery): void {
    const messageId = delivery.packet.messageId;
    if (delivery.packet.qos === 0 || messageId === undefined || delivery.session !== this.session) return;
    if (this.held.get(messageId) !== delivery) return;
    this.held.delete(messageId);
    if (this.client?.connected === true) this.puback(messageId);
    else this.ackedOffline.add(messageId);
  }

  nack(delivery: MqttDelivery, _error: Error): void {
    if (this.stopping || this.closed) {
      // no PUBACK: the broker delivers it again in the next session
      const messageId = delivery.packet.messageId;
      if (messageId !== undefined && this.held.get(messageId) === delivery) this.held.delete(messageId);
      return;
    }
    const delay = exponentialBackoff(this.config.nackDelayMs, delivery.deliveries, 60_000);
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      if (this.stopping) {
        this.nack(delivery, _error);
        return;
      }
      delivery.deliveries++;
      (this.context as SourceContext<MqttDelivery>).push(publishToMessage(delivery.topic, delivery.packet, delivery.deliveries), delivery);
    }, delay);
    this.retryTimers.add(timer);
  }

  stopIntake(): void {
    if (this.stopping) return;
    this.stopping = true;
    // nacked messages waiting to come back are left to the broker (no PUBACK was sent for them)
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.stopIntake();
    this.closed = true;
    const client = this.client;
    if (client === undefined) return;
    // no UNSUBSCRIBE: the persistent session keeps the subscription and queues what arrives until the next start;
    // a clean DISCONNECT after the PUBACKs already written
    await new Promise<void>((resolve) => client.end(!client.connected, {}, () => resolve()));
  }
}
