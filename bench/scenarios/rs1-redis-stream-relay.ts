// RS1: the cost of wasm-pipes around ioredis. A redis-stream:// -> redis-stream:// relay against a loop written by
// hand on the same client with the same guarantee (XREADGROUP a batch -> XADD each entry in one pipeline -> XACK the
// batch once the XADDs are answered), both draining a stream filled beforehand on a private redis-server.
import type { Redis } from 'ioredis';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { PrivateRedis } from '../../test/redisstream/helpers';
import { BODY, waitUntilArrived } from './common';

const WINDOW = 1024;
let server: PrivateRedis;
let admin: Redis;
let round = 0;
const lost: string[] = [];

function newClient(): Redis {
  const RedisClient = (require('ioredis') as typeof import('ioredis')).default;
  return new RedisClient(server.url, { lazyConnect: true });
}

/** A fresh input stream holding `messages` entries (a body and an id each) with a group, and an output stream name. */
async function prepare(messages: number): Promise<{ input: string; output: string }> {
  const name = `rs1-${process.pid}-${round++}`;
  await admin.xgroup('CREATE', `${name}-in`, 'relay', '0', 'MKSTREAM');
  for (let start = 0; start < messages; start += 1000) {
    const pipeline = admin.pipeline();
    for (let i = start; i < Math.min(messages, start + 1000); i++) pipeline.xadd(`${name}-in`, '*', 'body', BODY, 'id', `m-${i}`);
    await pipeline.exec();
  }
  return { input: `${name}-in`, output: `${name}-out` };
}

function waitForLength(stream: string, messages: number): Promise<void> {
  return waitUntilArrived(stream, messages, () => admin.xlen(stream), lost);
}

export const rs1: Scenario = {
  id: 'RS1',
  title: 'redis-stream:// -> redis-stream:// relay vs a hand-written ioredis XREADGROUP -> XADD -> XACK loop (private redis-server)',
  messages: 50_000,
  quickMessages: 5_000,
  target: 0.8,
  async setup() {
    server = new PrivateRedis();
    await server.start();
    admin = newClient();
    await admin.connect();
  },
  async teardown() {
    admin.disconnect();
    await server.stop();
  },
  baseline: {
    name: `ioredis XREADGROUP COUNT ${WINDOW} -> pipelined XADDs -> XACK`,
    async run(messages) {
      const { input, output } = await prepare(messages);
      const client = newClient();
      const began = performance.now();
      await client.connect();
      let relayed = 0;
      while (relayed < messages) {
        const reply = (await client.xreadgroupBuffer('GROUP', 'relay', 'hand', 'COUNT', WINDOW, 'BLOCK', 100, 'STREAMS', input, '>')) as
          [Buffer, [Buffer, Buffer[]][]][] | null;
        const entries = reply?.[0]?.[1] ?? [];
        if (entries.length === 0) continue;
        const pipeline = client.pipeline();
        for (const [, fields] of entries) pipeline.xaddBuffer(output, '*', ...fields);
        await pipeline.exec();
        await client.xack(input, 'relay', ...entries.map(([id]) => id));
        relayed += entries.length;
      }
      const elapsed = performance.now() - began;
      client.disconnect();
      await admin.del(input, output);
      return elapsed;
    },
  },
  candidate: {
    name: 'wasm-pipes redis-stream -> redis-stream',
    async run(messages) {
      const { input, output } = await prepare(messages);
      const env = { REDIS_SERVER_URL: server.url };
      const began = performance.now();
      const running = start(
        source(`redis-stream://${input}?group=relay`, { env, maxInFlight: WINDOW }),
        sink(`redis-stream://${output}`, { env }),
        {
          handleSignals: false,
        },
      );
      await waitForLength(output, messages);
      const elapsed = performance.now() - began;
      await running.stop();
      await admin.del(input, output);
      return elapsed;
    },
  },
  async verify() {
    return lost.length === 0 ? ['every message of every round arrived'] : [`FAIL: lost messages: ${lost.join('; ')}`];
  },
};
