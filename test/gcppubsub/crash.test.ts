// At least once across a crash: the built bin relays Pub/Sub -> Pub/Sub, is killed with SIGKILL in the middle of a
// Publish call, and is started again; every message arrives (duplicates allowed, losses not). The test server runs in
// this process, so it keeps its state while the bin restarts.
import { pubsubFixture, PubSubFixture, PROJECT } from './helpers';
import { waitFor } from '../helpers/wait';
import { BinProcess } from '../helpers/bin';

const COUNT = 2000;

let fixture: PubSubFixture;
const bins: BinProcess[] = [];

beforeAll(async () => {
  fixture = await pubsubFixture();
});
afterAll(async () => {
  for (const bin of bins) await bin.kill();
  await fixture.cleanup();
  await fixture.close();
});

function spawnBin(env: Record<string, string>): BinProcess {
  const bin = new BinProcess(env);
  bins.push(bin);
  return bin;
}

test('the bin Pub/Sub -> Pub/Sub, kill -9 mid-way through 2 000 messages, restart: every message arrives', async () => {
  const input = await fixture.topicWithSubscription();
  const output = await fixture.topicWithSubscription();
  const outputTopic = `projects/${PROJECT}/topics/${output.topic}`;
  const outputSubscription = `projects/${PROJECT}/subscriptions/${output.subscription}`;
  const inputSubscription = `projects/${PROJECT}/subscriptions/${input.subscription}`;

  const publisher = fixture.admin.topic(input.topic, { batching: { maxMessages: 500, maxMilliseconds: 5 } });
  const inputIds = await Promise.all(
    Array.from({ length: COUNT }, (_, i) => publisher.publishMessage({ data: Buffer.from(JSON.stringify({ i })), attributes: { n: String(i) } })),
  );
  expect(new Set(inputIds).size).toBe(COUNT);

  const env = {
    ...fixture.env,
    SOURCE_URI: `gcppubsub://projects/${PROJECT}/subscriptions/${input.subscription}`,
    SINK_URI: `gcppubsub://${PROJECT}/${output.topic}`,
    MAX_IN_FLIGHT: '200',
    SHUTDOWN_TIMEOUT: '10s',
  };
  const first = spawnBin(env);
  // SIGKILL from inside the Publish call that takes the output past 600 messages, before Pub/Sub answers it
  let relayed = 0;
  let killedAt = -1;
  fixture.server.onPublish((topic) => {
    if (topic !== outputTopic) return;
    relayed++;
    if (killedAt < 0 && relayed >= 600) {
      killedAt = relayed;
      first.child.kill('SIGKILL');
    }
  });
  await first.exited;
  expect(first.child.signalCode).toBe('SIGKILL');
  expect(first.stderr).toContain('wasm-pipes started');
  expect(killedAt).toBeGreaterThanOrEqual(600);
  expect(killedAt).toBeLessThan(COUNT);
  // what the first process held is still leased: Pub/Sub redelivers it when the leases run out (10 s)
  expect(fixture.server.backlog(inputSubscription).length).toBeGreaterThan(0);

  const second = spawnBin(env);
  const arrived = (): Set<string> =>
    new Set(fixture.server.backlog(outputSubscription).map((entry) => entry.message.attributes['x-message-id']));
  await waitFor(() => arrived().size >= COUNT, `all ${COUNT} messages in the output`, 60_000).catch((error: Error) => {
    throw new Error(`${error.message}; ${arrived().size} arrived; bin stderr:\n${second.stderr.slice(-3000)}`);
  });
  const ids = arrived();
  for (const id of inputIds) expect(ids.has(id)).toBe(true);
  // the bodies and attributes came along
  const sample = fixture.server.backlog(outputSubscription).find((entry) => entry.message.attributes.n === '1234');
  expect(JSON.parse(sample?.message.data.toString() ?? '{}')).toEqual({ i: 1234 });
  // and every input message was acked once relayed
  await waitFor(() => fixture.server.backlog(inputSubscription).length === 0, 'the input subscription to be drained', 20_000);

  second.child.kill('SIGTERM');
  expect(await second.exited).toBe(0);
  expect(second.stderr).toContain('received SIGTERM: draining');
}, 120_000);
