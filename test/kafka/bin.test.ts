// The wasm-pipes bin on Kafka, spawned as users run it, against librdkafka's mock cluster (one for the file):
// two processes in one group share the partitions, unreachable brokers are reported and retried (kill -9 mid-way is
// the conformance suite's crash test).
import net from 'node:net';
import type { Kafka, Producer } from 'kafkajs';
import { sink } from '../../lib/endpoints';
import { freePort, uniqueName, waitFor } from '../helpers/wait';
import { write } from '../helpers/endpoints';
import { BinProcess } from '../helpers/bin';
import type { MockKafkaCluster } from '../fixtures/kafka/mockCluster';
import { collectTopic, produce, type ReceivedRecord, startKafkaFixture, type KafkaFixture } from './helpers';

let fixture: KafkaFixture | undefined;
let cluster: MockKafkaCluster;
let kafka: Kafka;
let producer: Producer;
const bins: BinProcess[] = [];

beforeAll(async () => {
  fixture = await startKafkaFixture();
  ({ cluster, kafka, producer } = fixture);
});

afterAll(async () => {
  for (const bin of bins) await bin.kill();
  await fixture?.stop();
});

/** Starts the bin (at info level, its default), killed after the file's tests if still running. */
function spawnBin(env: Record<string, string>): BinProcess {
  const bin = new BinProcess(env);
  bins.push(bin);
  return bin;
}

function relayEnv(group: string, input: string, output: string): Record<string, string> {
  return {
    SOURCE_URI: `kafka://${group}?topic=${input}`,
    SINK_URI: `kafka://${output}`,
    KAFKA_BROKERS: cluster.bootstrap,
    KAFKA_SESSION_TIMEOUT: '6s',
    KAFKA_COMMIT_INTERVAL: '100ms',
  };
}

function ids(records: ReceivedRecord[]): Set<string> {
  return new Set(records.map((record) => record.headers['x-message-id']));
}

/** The partitions of the last assignment a bin logged. */
function lastAssignment(bin: BinProcess, topic: string): number[] | undefined {
  const joins = bin.records().filter((line) => line.msg.startsWith('joined group'));
  const last = joins[joins.length - 1] as { assignment?: Record<string, number[]> } | undefined;
  return last?.assignment?.[topic];
}

/** The counters of the bin's last log line ('wasm-pipes stopped: ...'). */
function stoppedStats(bin: BinProcess): { acked?: number } | undefined {
  const line = bin.records().find((entry) => String(entry.msg).startsWith('wasm-pipes stopped')) as
    { stats?: { acked?: number } } | undefined;
  return line?.stats;
}

test('scale-out: two bin processes in one group split the partitions and together deliver everything', async () => {
  const input = uniqueName('scale-in');
  const output = uniqueName('scale-out');
  await cluster.createTopic(input, 4);
  await cluster.createTopic(output, 4);
  const collected = await collectTopic(kafka, output, uniqueName('scale-check'));
  const env = relayEnv(uniqueName('scale-relay'), input, output);
  const first = spawnBin(env);
  await waitFor(() => lastAssignment(first, input)?.length === 4, 'the first process to own all four partitions', 20_000);
  const second = spawnBin(env);
  // each process logs its own assignment; during a rebalance one may still show the previous generation's
  const split = (): number[] => [...(lastAssignment(first, input) ?? []), ...(lastAssignment(second, input) ?? [])].sort();
  await waitFor(
    () => lastAssignment(first, input)?.length === 2 && lastAssignment(second, input)?.length === 2 && split().join() === '0,1,2,3',
    'the two processes to split the partitions',
    60_000,
  );
  expect(split()).toEqual([0, 1, 2, 3]);

  const total = 4000;
  await produce(
    producer,
    input,
    Array.from({ length: total }, (_, i) => ({ key: `k${i}`, value: `v${i}`, headers: { 'x-message-id': `s-${i}` } })),
  );
  await waitFor(() => ids(collected.records).size >= total, `all ${total} ids in the output`, 30_000);
  first.child.kill('SIGTERM');
  second.child.kill('SIGTERM');
  expect(await first.exited).toBe(0);
  expect(await second.exited).toBe(0);
  await collected.stop();
  // each process relayed its share
  const acked = (bin: BinProcess): number => stoppedStats(bin)?.acked ?? 0;
  expect(acked(first)).toBeGreaterThan(0);
  expect(acked(second)).toBeGreaterThan(0);
  expect(acked(first) + acked(second)).toBeGreaterThanOrEqual(total);
}, 150_000);

test('unreachable KAFKA_BROKERS: a clear error naming the brokers, retried until the brokers answer', async () => {
  const input = uniqueName('late-in');
  await cluster.createTopic(input, 1);
  await produce(producer, input, [{ value: 'hello', headers: { 'x-message-id': 'late-1' } }]);
  const port = await freePort();
  const brokers = `127.0.0.1:${port}`;
  const bin = spawnBin({ SOURCE_URI: `kafka://${uniqueName('late')}?topic=${input}`, SINK_URI: 'stdout://', KAFKA_BROKERS: brokers });
  const failures = (): string[] =>
    bin
      .records()
      .filter((line) => line.msg.includes(`cannot reach the brokers in KAFKA_BROKERS (${brokers})`))
      .map((line) => line.msg);
  await waitFor(() => failures().length >= 2, 'two failed attempts', 20_000);
  expect(bin.child.exitCode).toBeNull(); // not a start-up failure: it keeps trying
  expect(failures()[0]).toMatch(
    /^kafka \(127\.0\.0\.1:\d+\): cannot reach the brokers in KAFKA_BROKERS \(127\.0\.0\.1:\d+\): .*ECONNREFUSED.*; retrying in \d+ ms$/,
  );

  // the brokers come up (a proxy to the mock cluster on that port): the bin connects and relays
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(cluster.bootstrap.split(':')[1]), '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  try {
    await waitFor(() => bin.stdout.includes('late-1'), 'the message on stdout', 40_000);
    expect(bin.stderr).toContain('joined group');
    expect(JSON.parse(bin.stdout.trim()).body).toBe('hello');
    bin.child.kill('SIGTERM');
    expect(await bin.exited).toBe(0);
    expect(stoppedStats(bin)?.acked).toBe(1);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => proxy.close(resolve));
  }
});

test('an unreachable sink: the write fails with an error naming the brokers, after retries', async () => {
  const port = await freePort();
  const out = sink('kafka://nowhere', { env: { KAFKA_BROKERS: `127.0.0.1:${port}` }, retry: { maxAttempts: 2, initialDelay: 10 } });
  const outcome = await write(out, { body: 'x' });
  await out.close();
  expect(outcome?.message).toContain(`kafka (127.0.0.1:${port}): cannot connect to the brokers in KAFKA_BROKERS (127.0.0.1:${port})`);
  expect(outcome?.message).toContain('gave up after 2 attempts');
});
