// WORKERS=2 on a RabbitMQ queue (competing consumers): one worker killed with SIGKILL mid-stream, the broker requeues
// what it held unacked, the other worker and the restarted one relay it, and every message id reaches the output
// queue (duplicates allowed, losses not).
import { BinProcess } from '../helpers/bin';
import { missingIds } from '../helpers/crash';
import { waitFor } from '../helpers/wait';
import { rabbitAdmin, uniqueQueue, drainQueue, type RabbitAdmin, RABBIT_URL } from '../rabbit/helpers';
import { restartedPid, workerPid } from './helpers';

const TOTAL = 10_000;
let admin: RabbitAdmin;
const queues: string[] = [];
const bins: BinProcess[] = [];

beforeAll(async () => {
  admin = await rabbitAdmin();
});

afterAll(async () => {
  for (const bin of bins) await bin.kill();
  for (const queue of queues) await admin.channel.deleteQueue(queue).catch(() => undefined);
  await admin.close();
});

async function depth(queue: string): Promise<number> {
  return (await admin.channel.checkQueue(queue)).messageCount;
}

test('one of 2 workers killed mid-stream is restarted, and every message id reaches the output queue', async () => {
  const input = uniqueQueue('workers-in');
  const output = uniqueQueue('workers-out');
  queues.push(input, output);
  await admin.channel.assertQueue(input, { durable: true });
  await admin.channel.assertQueue(output, { durable: true });
  const publisher = await admin.connection.createConfirmChannel();
  for (let i = 0; i < TOTAL; i++) {
    publisher.sendToQueue(input, Buffer.from(JSON.stringify({ n: i })), { messageId: `w-${i}`, persistent: true });
  }
  await publisher.waitForConfirms();
  await publisher.close();

  const bin = new BinProcess({
    WORKERS: '2',
    RABBIT_SERVER_URL: RABBIT_URL,
    SOURCE_URI: `rabbit://${input}`,
    SINK_URI: `rabbit://?routing_key=${output}`,
    MAX_IN_FLIGHT: '200',
    SINK_CONCURRENCY: '1',
    LOG_FORMAT: 'json',
    STATS_INTERVAL: '0',
  });
  bins.push(bin);
  await bin.started();
  const victim = workerPid(bin, 2) as number;
  await waitFor(async () => (await depth(output)) >= TOTAL / 5, 'a fifth of the messages relayed', 30_000);
  process.kill(victim, 'SIGKILL');
  expect(await depth(output)).toBeLessThan(TOTAL); // really mid-stream
  expect(await restartedPid(bin, 2)).not.toBe(victim);

  await waitFor(async () => (await depth(input)) === 0 && (await depth(output)) >= TOTAL, 'the input drained into the output', 60_000, 100);
  expect(await bin.terminate()).toBe(0);
  const ids = new Set((await drainQueue(admin.channel, output)).map((message) => message.id));
  expect(missingIds(ids, 'w-', TOTAL)).toEqual([]);
});
