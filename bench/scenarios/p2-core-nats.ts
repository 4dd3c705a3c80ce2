// P2: core NATS -> mapMessages(uppercase) -> core NATS, against a raw nats.js relay (subscribe -> uppercase -> publish).
// Producer, relay and consumer run in one process (coreRelayRound).
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { mapMessages } from '../../operators';
import { coreRelayRound, env, natsConnection, uppercase } from './p2-p5-helpers';

export const p2: Scenario = {
  id: 'P2',
  title: 'core NATS -> mapMessages(uppercase) -> core NATS (223 B) vs a raw nats.js relay',
  messages: 500_000,
  quickMessages: 50_000,
  target: 0.9,
  baseline: {
    name: 'raw nats.js subscribe -> uppercase -> publish',
    run: (messages) =>
      coreRelayRound('P2 relay', messages, async (input, output) => {
        const relay = await natsConnection();
        relay.subscribe(input, { callback: (_error, msg) => relay.publish(output, uppercase(msg.data)) });
        await relay.flush();
        return () => relay.close();
      }),
  },
  candidate: {
    name: 'wasm-pipes nats:// -> mapMessages -> nats://',
    run: (messages) =>
      coreRelayRound('P2 relay', messages, async (input, output) => {
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
