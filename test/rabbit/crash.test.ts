// Crash: 10 000 messages in a RabbitMQ queue, relayed by the bin to another queue through the default exchange; the
// bin is killed with SIGKILL mid-way (the broker requeues what it held unacked) and started again: every message id
// reaches the output queue (duplicates allowed, losses not).
import { BinProcess } from '../helpers/bin';
import { rabbitAdmin, uniqueQueue, drainQueue, RabbitAdmin, RABBIT_URL } from './helpers';
import { sleep } from '../helpers/wait';
import { killMidwayAndRestart, missingIds } from '../helpers/crash';

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

test('kill -9 mid-way and restart: all 10 000 message ids arrive in the output queue', async () => {
  const input = uniqueQueue('crash-in');
  const output = uniqueQueue('crash-out');
  queues.push(input, output);
  await admin.channel.assertQueue(input, { durable: true });
  await admin.channel.assertQueue(output, { durable: true });
  const publisher = await admin.connection.createConfirmChannel();
  for (let i = 0; i < TOTAL; i++) {
    publisher.sendToQueue(input, Buffer.from(JSON.stringify({ n: i })), { messageId: `crash-${i}`, persistent: true });
  }
  await publisher.waitForConfirms();
  await publisher.close();
  const env = {
    RABBIT_SERVER_URL: RABBIT_URL,
    SOURCE_URI: `rabbit://${input}`,
    SINK_URI: `rabbit://?routing_key=${output}`,
    MAX_IN_FLIGHT: '200',
    SINK_CONCURRENCY: '1',
  };

  const second = await killMidwayAndRestart(env, bins, TOTAL, () => depth(output), 'the RabbitMQ output queue');
  const until = Date.now() + 60_000;
  while (Date.now() < until && ((await depth(input)) > 0 || (await depth(output)) < TOTAL)) await sleep(100);
  expect(await second.terminate()).toBe(0);
  const ids = new Set((await drainQueue(admin.channel, output)).map((message) => message.id));
  expect(missingIds(ids, 'crash-', TOTAL)).toEqual([]);
});
