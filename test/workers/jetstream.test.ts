// WORKERS=2 on a JetStream durable consumer: the workers share it; one killed with SIGKILL mid-stream is restarted,
// and every message id reaches the sink stream (what the dead one held comes back after the ack wait). SIGTERM drains
// both: each settles what it holds before it exits, and the next run relays the rest.
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamManager } from '@nats-io/jetstream';
import { BinProcess } from '../helpers/bin';
import { missingIds } from '../helpers/crash';
import { waitFor } from '../helpers/wait';
import { natsConnection, jetstreamManager, createStream, deleteStream, readStream, uniqueSubject, NATS_URL } from '../nats/helpers';
import { groupFinalStats, restartedPid, workerFinalStats, workerPid } from './helpers';

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

/** Two file streams, the input filled with `total` messages whose ids are `${prefix}0..`. */
async function prepare(total: number, prefix: string): Promise<{ input: string; output: string }> {
  const input = uniqueSubject('WORKERS_IN');
  const output = uniqueSubject('WORKERS_OUT');
  streams.push(input, output);
  await createStream(manager, input, [`${input}.events`], 'file');
  await createStream(manager, output, [`${output}.events`], 'file');
  const js = jetstream(connection);
  for (let start = 0; start < total; start += 1000) {
    await Promise.all(
      Array.from({ length: Math.min(1000, total - start) }, (_, i) =>
        js.publish(`${input}.events`, JSON.stringify({ n: start + i }), { msgID: `${prefix}${start + i}` }),
      ),
    );
  }
  return { input, output };
}

async function stored(stream: string): Promise<number> {
  return (await manager.streams.info(stream)).state.messages;
}

function relayEnv(input: string, output: string): Record<string, string> {
  return {
    WORKERS: '2',
    NATS_SERVER_URL: NATS_URL,
    // ack_wait short, so that what the killed worker held comes back soon
    SOURCE_URI: `nats://${input}.events?stream=${input}&consumer=relay&ack_wait=2s`,
    SINK_URI: `nats://${output}.events?jetstream=true`,
    MAX_IN_FLIGHT: '200',
    SINK_CONCURRENCY: '1',
    LOG_FORMAT: 'json',
    STATS_INTERVAL: '0',
  };
}

test('one of 2 workers killed mid-stream is restarted, and every message id arrives', async () => {
  const total = 10_000;
  const { input, output } = await prepare(total, 'w-');
  const bin = new BinProcess(relayEnv(input, output));
  bins.push(bin);
  await bin.started();
  const victim = workerPid(bin, 1) as number;
  await waitFor(async () => (await stored(output)) >= total / 5, 'a fifth of the messages relayed', 30_000);
  process.kill(victim, 'SIGKILL');
  const atKill = await stored(output);
  expect(atKill).toBeLessThan(total); // really mid-stream
  const replacement = await restartedPid(bin, 1);
  expect(replacement).not.toBe(victim);
  expect(bin.logs(/^worker 1 \(pid \d+\) killed by SIGKILL; restarting it in \d+ ms/)).toHaveLength(1);

  await waitFor(async () => (await stored(output)) >= total, 'every message in the sink stream', 60_000, 100);
  const ids = new Set((await readStream(connection, output)).map((message) => message.id));
  expect(missingIds(ids, 'w-', total)).toEqual([]);
  expect(await bin.terminate()).toBe(0);
  // the group's summary counts what the restarted worker did too
  expect(groupFinalStats(bin)?.acked).toBeGreaterThan(0);
});

test('SIGTERM drains both workers: what they hold is settled before they exit, and the summary is the sum of theirs', async () => {
  const total = 20_000;
  const { input, output } = await prepare(total, 'd-');
  const bin = new BinProcess({ ...relayEnv(input, output), SHUTDOWN_TIMEOUT: '20s' });
  bins.push(bin);
  await bin.started();
  await waitFor(async () => (await stored(output)) >= 1000, 'the relay under way', 30_000);
  expect(await bin.terminate()).toBe(0);

  // each worker stopped through its own drain (its summary line; none was killed), having settled all it had taken
  // (what a pull brought in after its intake stopped was nak'ed back at once, for the next run)
  const perWorker = workerFinalStats(bin);
  expect([...perWorker.keys()].sort()).toEqual([1, 2]);
  const group = groupFinalStats(bin);
  const sum = (field: 'received' | 'acked' | 'nacked' | 'written'): number =>
    [...perWorker.values()].reduce((total, stats) => total + stats[field], 0);
  expect(group).toMatchObject({ received: sum('received'), acked: sum('acked'), nacked: sum('nacked'), written: sum('written') });
  // every message taken was acked (written) or nacked (given back), and the acked ones are in the sink stream
  expect(sum('acked') + sum('nacked')).toBe(sum('received'));
  expect(await stored(output)).toBe(sum('acked'));
  expect(bin.logs(/did not stop within/)).toEqual([]);

  // what was not relayed is still there for the next run: nothing lost
  const again = new BinProcess({ ...relayEnv(input, output), WORKERS: '1' });
  bins.push(again);
  await again.started();
  await waitFor(async () => (await stored(output)) >= total, 'the rest relayed by the next run', 60_000, 100);
  expect(await again.terminate()).toBe(0);
  const ids = new Set((await readStream(connection, output)).map((message) => message.id));
  expect(missingIds(ids, 'd-', total)).toEqual([]);
});
