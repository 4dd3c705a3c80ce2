// Per-key order through retries into Service Bus with key_as=sessionId (issue 12, item 6): each key is a session,
// which Service Bus delivers in order, so the sink declares it and the sink runtime holds back a key's later messages
// while an earlier one waits for its retry. The failure is real: the connection drops mid-stream.
import { source, sink } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { memTopic } from '../../lib/connectors/local/mem';
import { uniqueName, waitFor } from '../helpers/wait';
import { startedForTests } from '../helpers/fixture';
import { expectEveryKeyInOrder } from '../helpers/order';
import { startBus } from './helpers';

const bus = startedForTests(() => startBus());

test('key_as=sessionId: the connection drops mid-stream, and every key is stored complete and in order', async () => {
  const queue = bus().queue();
  const keys = 20;
  const total = 2000;
  const input = uniqueName('azuresb-order');
  for (let i = 0; i < total; i++) memTopic(input).publish({ id: `m-${i}`, key: `k${i % keys}`, body: String(i) });
  // no order option: key_as=sessionId asks for it; small batches, many at once, to mix the keys
  const out = sink(`azuresb://${queue}?key_as=sessionId`, {
    env: bus().env,
    concurrency: 16,
    batch: { count: 5 },
    retry: { maxAttempts: 1000, initialDelay: 20, maxDelay: 200 },
  });
  const running = start(source(`mem://${input}`, { maxInFlight: 200 }), out, { handleSignals: false });
  try {
    await waitFor(() => running.stats().acked >= total / 10, 'a tenth of the messages', 30_000);
    bus().server.dropConnections(1500);
    await waitFor(() => running.stats().acked === total, 'every message after the reconnection', 90_000);
  } finally {
    await running.stop();
    memTopic(input).delete();
  }
  const stored = bus()
    .server.store(queue)
    .messages()
    .map((message) => ({
      key: String(message.sections.group_id),
      position: Math.floor(Number(String(message.sections.message_id).slice(2)) / keys),
    }));
  expectEveryKeyInOrder(stored, keys, total / keys);
}, 150_000);
