// P5: messages from JetStream into an HTTP sink ten times slower than the source, through the built bin. The pipeline
// must run at the sink's pace (the ratio compares it with raw posts to the same slow server at the sink's
// concurrency) while in flight never exceeds MAX_IN_FLIGHT, the bin's peak RSS stays under 256 MB and nothing is lost.
// A private nats-server (file store in a temporary folder) holds the stream, so the shared server is not loaded.
import { spawn } from 'node:child_process';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { Pool } from 'undici';
import { jetstream, jetstreamManager, AckPolicy, StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Scenario } from '../harness';
import { natsConnection, waitForCount } from './p2-p5-helpers';
import { peakRssMb } from './workers-helpers';
import { PrivateNatsServer } from '../../test/helpers/natsServer';

const MAX_IN_FLIGHT = 1024;
/** The HTTP sink's default concurrency: the slow server's capacity is this many requests per delay. */
const SINK_CONCURRENCY = 32;
const RSS_LIMIT_MB = 256;
const BIN = path.resolve(__dirname, '../../bin/wasm-pipes.js');
const BODY = Buffer.from(JSON.stringify({ event_type: 'page_view', user: 'user-0000', path: '/products/widgets' }).padEnd(100, ' '));

const state = {
  nats: undefined as PrivateNatsServer | undefined,
  natsUrl: '',
  connection: undefined as unknown as NatsConnection,
  http: undefined as http.Server | undefined,
  httpUrl: '',
  delayMs: 0,
  sourceRate: 0,
  ids: new Set<string>(),
  firstAt: 0,
  outstanding: 0,
  maxOutstanding: 0,
  maxAckPending: 0,
  peakRssMb: 0,
  lost: 0,
  round: 0,
  sinkRate: 0,
};

/** The slow sink: answers each POST after `delayMs`, and records the message ids it was given. */
async function startSlowServer(): Promise<void> {
  state.http = http.createServer((request, response) => {
    state.outstanding++;
    state.maxOutstanding = Math.max(state.maxOutstanding, state.outstanding);
    if (state.firstAt === 0) state.firstAt = performance.now();
    const id = request.headers['x-message-id'];
    request.resume();
    request.on('end', () => {
      setTimeout(() => {
        if (typeof id === 'string') state.ids.add(id);
        state.outstanding--;
        response.writeHead(200).end();
      }, state.delayMs);
    });
  });
  state.http.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => state.http?.listen(0, '127.0.0.1', resolve));
  state.httpUrl = `http://127.0.0.1:${(state.http.address() as net.AddressInfo).port}`;
}

/** Empties the stream and publishes `messages` events with ids p5-0... (not timed). */
async function fill(messages: number): Promise<void> {
  const manager = await jetstreamManager(state.connection);
  await manager.streams.purge('P5');
  const js = jetstream(state.connection);
  for (let start = 0; start < messages; start += 2000) {
    const size = Math.min(2000, messages - start);
    await Promise.all(Array.from({ length: size }, (_, i) => js.publish('p5.events', BODY, { msgID: `p5-${start + i}` })));
  }
}

/** The raw JetStream consume rate with acks: what "the source" can do on this machine now. */
async function measureSourceRate(messages: number): Promise<number> {
  await fill(messages);
  const manager = await jetstreamManager(state.connection);
  await manager.consumers.add('P5', { durable_name: 'rate', ack_policy: AckPolicy.Explicit, max_ack_pending: MAX_IN_FLIGHT });
  const consumer = await jetstream(state.connection).consumers.get('P5', 'rate');
  let acked = 0;
  const began = performance.now();
  const consuming = await consumer.consume({
    max_messages: MAX_IN_FLIGHT,
    callback: (msg) => {
      msg.ack();
      acked++;
    },
  });
  await waitForCount(() => acked, messages, 'P5 source rate');
  const rate = (messages / (performance.now() - began)) * 1000;
  consuming.stop();
  await manager.consumers.delete('P5', 'rate');
  return rate;
}

export const p5: Scenario = {
  id: 'P5',
  title: 'JetStream -> HTTP sink 10x slower than the source (the bin): bounded in-flight and memory, nothing lost',
  messages: 1_000_000,
  quickMessages: 20_000,
  target: 0.8,
  unit: 'ms',
  rounds: { quick: 1, full: 1 },
  warmup: false,
  async setup() {
    state.nats = new PrivateNatsServer();
    await state.nats.start();
    state.natsUrl = state.nats.url;
    state.connection = await natsConnection(state.natsUrl);
    const manager = await jetstreamManager(state.connection);
    await manager.streams.add({ name: 'P5', subjects: ['p5.events'], storage: StorageType.File, duplicate_window: 1_000_000_000 });
    state.sourceRate = await measureSourceRate(20_000);
    // the sink answers SINK_CONCURRENCY requests per delay: a tenth of what the source delivers
    state.delayMs = Math.max(1, Math.round((SINK_CONCURRENCY / (state.sourceRate / 10)) * 1000));
    await startSlowServer();
  },
  async teardown() {
    await state.connection?.close().catch(() => undefined);
    await state.nats?.stop();
    state.http?.closeAllConnections();
    await new Promise((resolve) => (state.http ? state.http.close(resolve) : resolve(undefined)));
  },
  baseline: {
    name: `raw POSTs to the slow server, ${SINK_CONCURRENCY} at once (the sink's capacity)`,
    async run(messages) {
      // the capacity is a rate: measured on up to 50 000 posts, scaled to `messages`
      const sample = Math.min(messages, 50_000);
      const pool = new Pool(state.httpUrl, { connections: SINK_CONCURRENCY, pipelining: 1 });
      let next = 0;
      const began = performance.now();
      await Promise.all(
        Array.from({ length: SINK_CONCURRENCY }, async () => {
          while (next < sample) {
            next++;
            const response = await pool.request({ path: '/raw', method: 'POST', body: BODY });
            await response.body.dump();
          }
        }),
      );
      const elapsed = performance.now() - began;
      await pool.close();
      state.sinkRate = (sample / elapsed) * 1000;
      return (elapsed * messages) / sample;
    },
  },
  candidate: {
    name: `the bin: nats://?stream -> http:// (MAX_IN_FLIGHT=${MAX_IN_FLIGHT})`,
    async run(messages) {
      await fill(messages);
      state.ids = new Set();
      state.firstAt = 0;
      state.maxOutstanding = 0;
      const consumer = `relay${++state.round}`;
      const child = spawn(process.execPath, [BIN], {
        env: {
          PATH: process.env.PATH,
          NATS_SERVER_URL: state.natsUrl,
          SOURCE_URI: `nats://p5.events?stream=P5&consumer=${consumer}`,
          SINK_URI: `${state.httpUrl}/p5`,
          MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const manager = await jetstreamManager(state.connection);
      const sampler = setInterval(() => {
        state.peakRssMb = Math.max(state.peakRssMb, peakRssMb(child.pid as number));
        manager.consumers
          .info('P5', consumer)
          .then((info) => (state.maxAckPending = Math.max(state.maxAckPending, info.num_ack_pending)))
          .catch(() => undefined);
      }, 200);
      try {
        await waitForCount(() => state.ids.size, messages, 'P5 relay', 60_000);
      } finally {
        clearInterval(sampler);
      }
      const elapsed = performance.now() - state.firstAt;
      state.peakRssMb = Math.max(state.peakRssMb, peakRssMb(child.pid as number));
      state.lost = messages - state.ids.size;
      process.kill(child.pid as number, 'SIGTERM');
      await exited;
      await manager.consumers.delete('P5', consumer).catch(() => undefined);
      return elapsed;
    },
  },
  async verify() {
    const notes = [
      `source (raw JetStream consume+ack) ${Math.round(state.sourceRate)} msg/s; slow sink ${Math.round(state.sinkRate)} msg/s ` +
        `(${state.delayMs} ms per request, ${SINK_CONCURRENCY} at once): ${(state.sourceRate / state.sinkRate).toFixed(1)}x slower`,
      `in flight (consumer num_ack_pending, sampled every 200 ms): max ${state.maxAckPending} (MAX_IN_FLIGHT ${MAX_IN_FLIGHT}); HTTP requests at once: max ${state.maxOutstanding}`,
      `bin peak RSS (VmHWM) ${state.peakRssMb.toFixed(0)} MB (limit ${RSS_LIMIT_MB} MB); lost ${state.lost}`,
    ];
    if (state.maxAckPending > MAX_IN_FLIGHT) notes.push(`FAIL: ${state.maxAckPending} messages in flight, above MAX_IN_FLIGHT`);
    if (state.peakRssMb > RSS_LIMIT_MB) notes.push(`FAIL: peak RSS ${state.peakRssMb.toFixed(0)} MB above ${RSS_LIMIT_MB} MB`);
    if (state.lost > 0) notes.push(`FAIL: ${state.lost} messages lost`);
    return notes;
  },
};
