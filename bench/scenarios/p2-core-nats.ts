// P2: core NATS -> mapMessages(uppercase) -> core NATS, against a raw nats.js relay (subscribe -> uppercase -> publish).
// Producer, relay and consumer run in one process; the producer stays at most WINDOW messages ahead of the consumer,
// so that neither relay is flooded past what core NATS would deliver (it drops slow consumers, it does not wait).
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { mapMessages } from '../../operators';
import { BODY, env, natsConnection, uniqueName, uppercase, waitForCount } from './p2-p5-helpers';

const WINDOW = 4096;

/** Publishes `messages` to `input` and resolves with the ms until all came back on `output` through the relay. */
async function relayRound(messages: number, startRelay: (input: string, output: string) => Promise<() => Promise<void>>): Promise<number> {
  const name = uniqueName('bench.p2');
  const input = `${name}.in`;
  const output = `${name}.out`;
  const producer = await natsConnection();
  const consumer = await natsConnection();
  let received = 0;
  consumer.subscribe(output, { callback: () => void received++ });
  await consumer.flush();
  const stop = await startRelay(input, output);
  const began = performance.now();
  let sent = 0;
  const producing = (async () => {
    while (sent < messages) {
      while (sent < messages && sent - received < WINDOW) {
        producer.publish(input, BODY);
        sent++;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  await waitForCount(() => received, messages, 'P2 relay');
  const elapsed = performance.now() - began;
  await producing;
  await stop();
  await producer.close();
  await consumer.close();
  return elapsed;
}

export const p2: Scenario = {
  id: 'P2',
  title: 'core NATS -> mapMessages(uppercase) -> core NATS (223 B) vs a raw nats.js relay',
  messages: 500_000,
  quickMessages: 50_000,
  target: 0.8,
  baseline: {
    name: 'raw nats.js subscribe -> uppercase -> publish',
    run: (messages) =>
      relayRound(messages, async (input, output) => {
        const relay = await natsConnection();
        relay.subscribe(input, { callback: (_error, msg) => relay.publish(output, uppercase(msg.data)) });
        await relay.flush();
        return () => relay.close();
      }),
  },
  candidate: {
    name: 'wasm-pipes nats:// -> mapMessages -> nats://',
    run: (messages) =>
      relayRound(messages, async (input, output) => {
        const running = start(
          source(`nats://${input}`, { env, maxInFlight: 1024 }).pipe(mapMessages((m) => ({ body: uppercase(m.body) }))),
          sink(`nats://${output}`, { env }),
          { handleSignals: false },
        );
        await running.started;
        return () => running.stop();
      }),
  },
};
