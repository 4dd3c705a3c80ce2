// MQ1: the cost of wasm-pipes around mqtt.js. An mqtt:// -> mqtt:// relay against a relay written by hand on the
// same client with the same guarantees (each input PUBACKed only once its copy's PUBACK came back; the message id
// kept across the hop in the x-message-id user property, as the sink documents), both draining a backlog queued in a
// persistent session of a private mosquitto (in flight to a client: 1 024, as MAX_IN_FLIGHT).
// MQ1_MESSAGE_ID=false measures both without the id: the sink with ?message_id=false against the bare relay.
import type { IClientPublishOptions, IPublishPacket, MqttClient } from 'mqtt';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { PrivateMosquitto } from '../../test/mqtt/helpers';
import { BODY, waitUntilArrived } from './common';

const WINDOW = 1024;
/** Whether both sides keep the message id across the hop (the sink's default); MQ1_MESSAGE_ID=false: neither. */
const SEND_ID = process.env.MQ1_MESSAGE_ID !== 'false';
const ID_PROPERTY = 'x-message-id';
let broker: PrivateMosquitto;
let counter: MqttClient;
const arrivals = new Map<string, number>();
const lost: string[] = [];
let round = 0;

function mqtt(): typeof import('mqtt') {
  return require('mqtt') as typeof import('mqtt');
}

/** A session subscribed to a fresh input topic, holding `messages` queued messages; and a counted output topic. */
async function prepare(messages: number): Promise<{ input: string; output: string; clientId: string }> {
  const name = `mq1-${process.pid}-${round++}`;
  const clientId = `${name}-relay`;
  const session = await mqtt().connectAsync(broker.url, {
    protocolVersion: 5,
    clientId,
    clean: false,
    properties: { sessionExpiryInterval: 600 },
  });
  await session.subscribeAsync(`${name}/in`, { qos: 1 });
  await session.endAsync();
  const publisher = await mqtt().connectAsync(broker.url, { protocolVersion: 5 });
  for (let start = 0; start < messages; start += 1000) {
    const count = Math.min(1000, messages - start);
    await Promise.all(Array.from({ length: count }, () => publisher.publishAsync(`${name}/in`, BODY, { qos: 1 })));
  }
  await publisher.endAsync();
  arrivals.set(`${name}/out`, 0);
  return { input: `${name}/in`, output: `${name}/out`, clientId };
}

function waitForArrivals(topic: string, messages: number): Promise<void> {
  return waitUntilArrived(topic, messages, () => arrivals.get(topic) ?? 0, lost);
}

/** The session's end: connect with a clean start and no expiry. */
async function removeSession(clientId: string): Promise<void> {
  const client = await mqtt().connectAsync(broker.url, {
    protocolVersion: 5,
    clientId,
    clean: true,
    properties: { sessionExpiryInterval: 0 },
  });
  await client.endAsync();
}

/** Skips mqtt.js's own PUBACK (one shared error: making one per message would cost a stack trace each). */
const PUBACK_LATER = new Error('PUBACK later');

interface PacketWriter {
  _sendPacket(packet: { cmd: 'puback'; messageId: number; reasonCode: number }): void;
}

export const mq1: Scenario = {
  id: 'MQ1',
  title: `mqtt:// -> mqtt:// relay vs a hand-written mqtt.js relay, PUBACK after the copy is confirmed, ${SEND_ID ? 'the id kept in x-message-id' : 'no id (?message_id=false)'} (private mosquitto)`,
  messages: 20_000,
  quickMessages: 2_000,
  target: 0.8,
  async setup() {
    broker = new PrivateMosquitto({ maxQueuedMessages: 0, maxInflightMessages: WINDOW });
    await broker.start();
    counter = await mqtt().connectAsync(broker.url, { protocolVersion: 5 });
    counter.on('message', (topic) => {
      const count = arrivals.get(topic);
      if (count !== undefined) arrivals.set(topic, count + 1);
    });
    await counter.subscribeAsync('+/out', { qos: 0 });
  },
  async teardown() {
    await counter.endAsync();
    await broker.stop();
  },
  baseline: {
    name: `mqtt.js handleMessage -> publish QoS 1${SEND_ID ? ' with x-message-id' : ''} -> PUBACK the input on the PUBACK`,
    async run(messages) {
      const { input, output, clientId } = await prepare(messages);
      const began = performance.now();
      const out = await mqtt().connectAsync(broker.url, { protocolVersion: 5 });
      const relay = mqtt().connect(broker.url, {
        protocolVersion: 5,
        clientId,
        clean: false,
        properties: { sessionExpiryInterval: 600, receiveMaximum: WINDOW },
      });
      // what a relay written by hand does to keep ids across hops: the input's x-message-id, else one it makes (as
      // the runtime does, process-unique)
      const idPrefix = `${process.pid.toString(36)}-${Date.now().toString(36)}-`;
      let made = 0;
      relay.handleMessage = (packet: IPublishPacket, callback) => {
        const messageId = packet.messageId as number;
        const options: IClientPublishOptions = { qos: 1 };
        if (SEND_ID) {
          const id = packet.properties?.userProperties?.[ID_PROPERTY];
          options.properties = { userProperties: { [ID_PROPERTY]: typeof id === 'string' ? id : idPrefix + (++made).toString(36) } };
        }
        out.publish(output, packet.payload, options, () =>
          (relay as unknown as PacketWriter)._sendPacket({ cmd: 'puback', messageId, reasonCode: 0 }),
        );
        // the same manual ack as the connector's
        callback(PUBACK_LATER);
      };
      void input;
      await waitForArrivals(output, messages);
      const elapsed = performance.now() - began;
      await relay.endAsync();
      await out.endAsync();
      await removeSession(clientId);
      return elapsed;
    },
  },
  candidate: {
    name: `wasm-pipes mqtt -> mqtt${SEND_ID ? '' : '?message_id=false'}`,
    async run(messages) {
      const { input, output, clientId } = await prepare(messages);
      const env = { MQTT_SERVER_URL: broker.url };
      const began = performance.now();
      const running = start(
        source(`mqtt://${input}?client_id=${clientId}`, { env, maxInFlight: WINDOW }),
        sink(`mqtt://${output}${SEND_ID ? '' : '?message_id=false'}`, { env }),
        {
          handleSignals: false,
        },
      );
      await waitForArrivals(output, messages);
      const elapsed = performance.now() - began;
      await running.stop();
      await removeSession(clientId);
      return elapsed;
    },
  },
  async verify() {
    return lost.length === 0 ? ['every message of every round arrived'] : [`FAIL: lost messages: ${lost.join('; ')}`];
  },
};
