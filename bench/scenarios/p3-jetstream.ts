// P3: JetStream -> mapMessages(uppercase) -> JetStream at least once (durable consumer, ack on PubAck), against a raw
// JetStream loop: consume -> publish -> ack when the PubAck arrives, with the same window (max_ack_pending 1024).
import { jetstream, jetstreamManager, AckPolicy, StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { mapMessages } from '../../operators';
import { BODY, env, natsConnection, uniqueName, uppercase, waitForCount } from './p2-p5-helpers';

const WINDOW = 1024;
let connection: NatsConnection;

interface Round {
  input: string;
  output: string;
  inSubject: string;
  outSubject: string;
}

/** Two memory streams, the input filled with `messages` events (not timed). */
async function prepare(messages: number): Promise<Round> {
  const manager = await jetstreamManager(connection);
  const name = uniqueName('P3');
  const round = { input: `${name}_IN`, output: `${name}_OUT`, inSubject: `${name}.in`, outSubject: `${name}.out` };
  await manager.streams.add({ name: round.input, subjects: [round.inSubject], storage: StorageType.Memory });
  await manager.streams.add({ name: round.output, subjects: [round.outSubject], storage: StorageType.Memory });
  const js = jetstream(connection);
  for (let start = 0; start < messages; start += 2000) {
    const size = Math.min(2000, messages - start);
    await Promise.all(Array.from({ length: size }, () => js.publish(round.inSubject, BODY)));
  }
  return round;
}

async function outputCount(round: Round): Promise<number> {
  return (await (await jetstreamManager(connection)).streams.info(round.output)).state.messages;
}

async function cleanup(round: Round): Promise<void> {
  const manager = await jetstreamManager(connection);
  await manager.streams.delete(round.input).catch(() => undefined);
  await manager.streams.delete(round.output).catch(() => undefined);
}

export const p3: Scenario = {
  id: 'P3',
  title: 'JetStream -> mapMessages(uppercase) -> JetStream, at least once, vs a raw consume/publish/ack loop',
  messages: 100_000,
  quickMessages: 10_000,
  target: 0.7,
  async setup() {
    connection = await natsConnection();
  },
  async teardown() {
    await connection.close();
  },
  baseline: {
    name: 'raw JetStream consume -> publish -> ack on PubAck',
    async run(messages) {
      const round = await prepare(messages);
      const relay = await natsConnection();
      const manager = await jetstreamManager(relay);
      await manager.consumers.add(round.input, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, max_ack_pending: WINDOW });
      const js = jetstream(relay);
      const began = performance.now();
      const consumer = await js.consumers.get(round.input, 'raw');
      const consuming = await consumer.consume({
        max_messages: WINDOW,
        callback: (msg) => {
          js.publish(round.outSubject, uppercase(msg.data), { msgID: `${round.input}:${msg.seq}` }).then(
            () => msg.ack(),
            () => msg.nak(),
          );
        },
      });
      await waitForCount(() => outputCount(round), messages, 'P3 raw');
      const elapsed = performance.now() - began;
      consuming.stop();
      await relay.drain();
      await cleanup(round);
      return elapsed;
    },
  },
  candidate: {
    name: 'wasm-pipes nats://?stream -> mapMessages -> nats://?jetstream=true',
    async run(messages) {
      const round = await prepare(messages);
      const began = performance.now();
      const running = start(
        source(`nats://${round.inSubject}?stream=${round.input}&consumer=relay`, { env, maxInFlight: WINDOW }).pipe(
          mapMessages((m) => ({ body: uppercase(m.body) })),
        ),
        sink(`nats://${round.outSubject}?jetstream=true`, { env }),
        { handleSignals: false },
      );
      await waitForCount(() => outputCount(round), messages, 'P3 wasm-pipes');
      const elapsed = performance.now() - began;
      await running.stop();
      await cleanup(round);
      return elapsed;
    },
  },
};
