// Benchmarks of the combinators (issue 12):
// - ROUTE: mem:// -> route() to 4 sinks by key, against a hand-written dispatch (a sink that switches on the key) to
//   the same 4 sinks: what route()'s cases cost.
// - BATCH: mem:// -> batchMessages(100) -> one HTTP POST per batch, against one POST per message to the same server.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import type { Sink } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import type { Message } from '../../lib/message';
import { batchMessages, route } from '../../operators';
import { BODY } from './common';

const KEYS = ['eu', 'us', 'apac', 'latam'];
let round = 0;

/** Publishes `messages` over the four keys, runs `to` until every output topic holds its share, and times it. */
async function throughRouting(label: string, messages: number, to: (outputs: Sink[]) => Sink): Promise<number> {
  const name = `bench-${label}-${process.pid}-${round++}`;
  const input = memTopic(`${name}-in`);
  for (let i = 0; i < messages; i++) input.publish({ body: BODY, key: KEYS[i % 4] });
  const outputs = KEYS.map((key) => sink(`mem://${name}-${key}?max_backlog=${messages + 1}`));
  const topics = KEYS.map((key) => memTopic(`${name}-${key}`));
  const began = performance.now();
  const running = start(source(`mem://${name}-in`, { maxInFlight: 1024 }), to(outputs), { handleSignals: false });
  while (topics.reduce((sum, topic) => sum + topic.length, 0) < messages) await new Promise((resolve) => setImmediate(resolve));
  const elapsed = performance.now() - began;
  await running.stop();
  input.delete();
  for (const topic of topics) topic.delete();
  return elapsed;
}

/** A dispatch written by hand: the least a router can cost. */
function handWritten(outputs: Sink[]): Sink {
  const byKey = new Map(KEYS.map((key, i) => [key, outputs[i]]));
  return {
    name: 'dispatch',
    ready: true,
    next: (message: Message) => (byKey.get(message.key as string) as Sink).next(message),
    error: (error: unknown) => outputs.forEach((output) => output.error(error)),
    complete: () => outputs.forEach((output) => output.complete()),
    close: async () => {
      await Promise.all(outputs.map((output) => output.close()));
    },
  };
}

export const route1: Scenario = {
  id: 'ROUTE',
  title: 'mem:// -> route() to 4 sinks by key vs a hand-written dispatch on the key',
  messages: 400_000,
  quickMessages: 40_000,
  target: 0.9,
  baseline: { name: 'hand-written dispatch', run: (messages) => throughRouting('route-hand', messages, handWritten) },
  candidate: {
    name: 'route([{ key }, ...])',
    run: (messages) => throughRouting('route', messages, (outputs) => route(KEYS.map((key, i) => ({ key, to: outputs[i] })))),
  },
};

// ---- BATCH ----

const server = { http: undefined as http.Server | undefined, url: '', received: 0 };

async function throughHttp(messages: number, batched: boolean): Promise<number> {
  const name = `bench-batch-${process.pid}-${round++}`;
  const input = memTopic(name);
  for (let i = 0; i < messages; i++) input.publish({ body: BODY });
  server.received = 0;
  const began = performance.now();
  const pipeline = source(`mem://${name}`, { maxInFlight: 1024 });
  const running = start(batched ? pipeline.pipe(batchMessages({ count: 100, time: '50ms' })) : pipeline, sink(server.url), {
    handleSignals: false,
  });
  while (running.stats().acked < messages) await new Promise((resolve) => setTimeout(resolve, 2));
  const elapsed = performance.now() - began;
  await running.stop();
  input.delete();
  return elapsed;
}

export const batch1: Scenario = {
  id: 'BATCH',
  title: 'mem:// -> batchMessages(100) -> HTTP (one POST per 100) vs one POST per message, same local server',
  messages: 50_000,
  quickMessages: 10_000,
  target: 5,
  rounds: { full: 3 },
  async setup() {
    server.http = http.createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        server.received++;
        response.end('{"ok":true}');
      });
    });
    server.http.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.http?.listen(0, '127.0.0.1', resolve));
    server.url = `http://127.0.0.1:${(server.http.address() as AddressInfo).port}/bulk`;
  },
  async teardown() {
    await new Promise((resolve) => server.http?.close(resolve));
  },
  baseline: { name: 'one POST per message', run: (messages) => throughHttp(messages, false) },
  candidate: { name: 'batchMessages(100): one POST per batch', run: (messages) => throughHttp(messages, true) },
};
