// The relay killed with SIGKILL and started again, with the JetStream defaults, on a nats-server of our own: the
// messages the dead process held come back after the 30 s ack wait (not 130 s), so the new process moves again within
// about 35 s; meanwhile /ready says the consumer is stalled; and the copies written twice (written, not yet acked, when
// the process died) are stored once, since the redelivery comes inside the sink stream's 2 min duplicate window.
import http from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { BinProcess } from '../helpers/bin';
import { privateNatsServerForFile, natsConnection, jetstreamManager, createStream, readStream } from './helpers';
import { freePort, sleep } from '../helpers/wait';
import { missingIds } from '../helpers/crash';

const TOTAL = 3000;
const { server, bins } = privateNatsServerForFile();

/** GET /ready of the admin server: its status code (0 when it does not answer). */
function readyStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/ready', timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', () => resolve(0));
    request.on('timeout', () => request.destroy());
  });
}

async function storedCount(connection: NatsConnection, stream: string): Promise<number> {
  return (await (await jetstreamManager(connection)).streams.info(stream)).state.messages;
}

test('kill -9 of the relay with default settings: moving again within about 35 s, /ready false while stalled, no stored duplicates', async () => {
  const connection = await natsConnection(server.url);
  const manager = await jetstreamManager(connection);
  // default stream settings: a duplicate window of 2 min
  await createStream(manager, 'IN', ['in.events'], 'file');
  await createStream(manager, 'OUT', ['out.events'], 'file');
  const js = jetstream(connection);
  for (let start = 0; start < TOTAL; start += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, i) => js.publish('in.events', `{"n":${start + i}}`, { msgID: `s-${start + i}` })));
  }
  const adminPort = await freePort();
  const env = {
    NATS_SERVER_URL: server.url,
    // no ?ack_wait: the defaults are what this test is about
    SOURCE_URI: 'nats://in.events?stream=IN&consumer=relay',
    SINK_URI: 'nats://out.events?jetstream=true',
    MAX_IN_FLIGHT: '200',
    SINK_CONCURRENCY: '1',
    ADMIN_PORT: String(adminPort),
  };
  const first = new BinProcess(env);
  bins.push(first);
  await first.started();
  // killed while it holds messages: it takes them 200 at a time, and between acking a batch and taking the next it holds
  // none (a kill then proves nothing about the ack wait; under load that gap is long enough to be hit)
  const ackPending = async (): Promise<number> => (await manager.consumers.info('IN', 'relay')).num_ack_pending;
  for (let stored = 0; stored < TOTAL; await sleep(5)) {
    stored = await storedCount(connection, 'OUT');
    if (stored >= TOTAL / 3 && (await ackPending()) > 0) break;
  }
  await first.kill();
  const atKill = await storedCount(connection, 'OUT');
  expect(atKill).toBeLessThan(TOTAL);
  const held = await ackPending();
  expect(held).toBeGreaterThan(0); // the dead process held messages, which only the ack wait gives back

  const second = new BinProcess(env);
  bins.push(second);
  const restartedAt = Date.now();
  await second.started();
  const statuses = new Set<number>();
  // within the 30 s ack wait and a few seconds for the restart
  while (Date.now() - restartedAt < 45_000) {
    statuses.add(await readyStatus(adminPort));
    const stored = await storedCount(connection, 'OUT');
    if (stored >= TOTAL && (await manager.consumers.info('IN', 'relay')).num_ack_pending === 0) break;
    await sleep(250);
  }
  const ids = (await readStream(connection, 'OUT')).map((message) => message.id);
  expect(missingIds(new Set(ids), 's-', TOTAL)).toEqual([]);
  // every id stored once: the redelivered copies were within the duplicate window
  expect(ids).toHaveLength(TOTAL);
  // the stall was reported while the consumer waited for the dead process's messages, and is over
  expect(statuses.has(503)).toBe(true);
  expect(await readyStatus(adminPort)).toBe(200);
  expect(second.logs(/has messages waiting but delivered nothing/).length).toBeGreaterThan(0);
  expect(second.logs(/moves again/).length).toBeGreaterThan(0);
  await connection.close();
  expect(await second.terminate()).toBe(0);
}, 90_000);
