// Restart: a nats-server of our own (JetStream, file store) on a free port; the bin relays one of its streams to
// another; the server is killed by its PID mid-stream and started again on the same port and store. Nothing that was
// acked is lost, the bin reports the loss and the recovery, keeps running, and relays what is published afterwards.
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { source, sink, start } from '../../lib';
import { BinProcess } from '../helpers/bin';
import { privateNatsServerForFile, natsConnection, jetstreamManager, createStream, readStream } from './helpers';
import { sleep, waitFor } from '../helpers/wait';
import { missingIds } from '../helpers/crash';
import { pipelineParts } from '../../lib/run';

const { server, bins } = privateNatsServerForFile();

async function publish(connection: NatsConnection, subject: string, from: number, count: number): Promise<void> {
  const js = jetstream(connection);
  for (let start = from; start < from + count; start += 500) {
    const size = Math.min(500, from + count - start);
    await Promise.all(Array.from({ length: size }, (_, i) => js.publish(subject, `{"n":${start + i}}`, { msgID: `restart-${start + i}` })));
  }
}

async function outCount(connection: NatsConnection): Promise<number> {
  const manager = await jetstreamManager(connection);
  return (await manager.streams.info('OUT')).state.messages;
}

test('the server is killed and restarted mid-stream: nothing acked is lost and the pipeline resumes', async () => {
  let connection = await natsConnection(server.url);
  const manager = await jetstreamManager(connection);
  await createStream(manager, 'IN', ['in.events'], 'file');
  await createStream(manager, 'OUT', ['out.events'], 'file');
  await publish(connection, 'in.events', 0, 5000);

  const bin = new BinProcess({
    NATS_SERVER_URL: server.url,
    SOURCE_URI: 'nats://in.events?stream=IN&consumer=relay&ack_wait=3s',
    SINK_URI: 'nats://out.events?jetstream=true&timeout=2s',
    MAX_IN_FLIGHT: '50',
    SINK_CONCURRENCY: '1',
    SINK_MAX_ATTEMPTS: '3',
  });
  bins.push(bin);
  await bin.started();
  const deadline = Date.now() + 30_000;
  let beforeKill = 0;
  while (Date.now() < deadline && (beforeKill = await outCount(connection)) < 1000) await sleep(5);
  await server.kill();
  expect(beforeKill).toBeLessThan(5000); // really mid-stream
  await connection.close().catch(() => undefined);
  await waitFor(() => bin.logs(/disconnected from/).length > 0, 'the bin to notice the loss', 10_000);
  await sleep(1500); // down for a while: writes fail and are retried, nothing is acked meanwhile
  await server.start();
  await waitFor(() => bin.logs(/reconnected to/).length >= 1, 'the bin to reconnect', 20_000);

  connection = await natsConnection(server.url);
  await publish(connection, 'in.events', 5000, 1000);
  const until = Date.now() + 60_000;
  while (Date.now() < until && (await outCount(connection)) < 6000) await sleep(100);
  const ids = new Set((await readStream(connection, 'OUT')).map((message) => message.id));
  expect(missingIds(ids, 'restart-', 6000)).toEqual([]);
  // every message of IN was acked by the relay
  const consumer = await (await jetstreamManager(connection)).consumers.info('IN', 'relay');
  expect(consumer.num_pending).toBe(0);
  expect(bin.running).toBe(true);
  await connection.close();
  expect(await bin.terminate()).toBe(0);
});

test('ready follows the connection: false while the server is away, true again after it is back', async () => {
  const connection = await natsConnection(server.url);
  await createStream(await jetstreamManager(connection), 'READY', ['ready.events'], 'file');
  await connection.close();
  const env = { NATS_SERVER_URL: server.url };
  const output = sink('nats://ready.out', { env });
  const running = start(source('nats://ready.events?stream=READY&consumer=relay', { env }), output, { handleSignals: false });
  await running.started;
  const driver = pipelineParts(running).sources[0].driver;
  expect(driver.ready).toBe(true);
  // a lazy sink connects when asked
  await waitFor(() => output.ready, 'the sink to connect');

  await server.kill();
  await waitFor(() => driver.ready === false && output.ready === false, 'ready to turn false');
  await server.start();
  await waitFor(() => driver.ready === true && output.ready === true, 'ready to turn true again', 20_000);
  await running.stop();
});
