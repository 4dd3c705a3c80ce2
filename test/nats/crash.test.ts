// Crash: 10 000 messages in a JetStream stream, relayed by the bin to another stream (?jetstream=true); the bin is
// killed with SIGKILL mid-way and started again: every message id reaches the sink stream (duplicates allowed,
// losses not; Nats-Msg-Id deduplication even keeps the duplicates out).
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import { jetstream } from '@nats-io/jetstream';
import { BinProcess } from '../helpers/bin';
import { natsConnection, jetstreamManager, createStream, deleteStream, readStream, uniqueSubject, NATS_URL } from './helpers';
import { sleep } from '../helpers/wait';
import { killMidwayAndRestart, missingIds } from '../helpers/crash';

const TOTAL = 10_000;
let connection: NatsConnection;
let manager: JetStreamManager;
const streams: string[] = [];
const bins: BinProcess[] = [];

beforeAll(async () => {
  connection = await natsConnection();
  manager = await jetstreamManager(connection);
});

afterAll(async () => {
  for (const bin of bins) await bin.kill();
  for (const stream of streams) await deleteStream(manager, stream);
  await connection.close();
});

async function outCount(stream: string): Promise<number> {
  return (await manager.streams.info(stream)).state.messages;
}

test('kill -9 mid-way and restart: all 10 000 message ids arrive in the sink stream', async () => {
  const input = uniqueSubject('CRASH_IN');
  const output = uniqueSubject('CRASH_OUT');
  streams.push(input, output);
  await createStream(manager, input, [`${input}.events`], 'file');
  await createStream(manager, output, [`${output}.events`], 'file');
  const js = jetstream(connection);
  for (let start = 0; start < TOTAL; start += 1000) {
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) => js.publish(`${input}.events`, JSON.stringify({ n: start + i }), { msgID: `crash-${start + i}` })),
    );
  }
  const env = {
    NATS_SERVER_URL: NATS_URL,
    // ack_wait short, so that what the killed process held comes back soon
    SOURCE_URI: `nats://${input}.events?stream=${input}&consumer=relay&ack_wait=2s`,
    SINK_URI: `nats://${output}.events?jetstream=true`,
    MAX_IN_FLIGHT: '200',
    SINK_CONCURRENCY: '1',
  };

  const second = await killMidwayAndRestart(env, bins, TOTAL, () => outCount(output), 'the sink stream');
  let count = 0;
  const until = Date.now() + 60_000;
  while (Date.now() < until && count < TOTAL) {
    count = await outCount(output);
    await sleep(100);
  }
  const ids = new Set((await readStream(connection, output)).map((message) => message.id));
  expect(missingIds(ids, 'crash-', TOTAL)).toEqual([]);
  expect(await second.terminate()).toBe(0);
});
