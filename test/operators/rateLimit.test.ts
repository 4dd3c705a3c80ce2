// rateLimit holds messages (never drops them), keeps order, limits per key, counts against the window, and shares its
// rate through Redis.
import { source } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { memTopic } from '../../lib/connectors/local/mem';
import { type Message } from '../../lib/message';
import type { Sink } from '../../lib/sink';
import { cache } from '../../lib/cache';
import { ConfigError } from '../../lib/errors';
import { rateLimit } from '../../operators';
import { uniqueName, waitFor } from '../helpers/wait';

function collecting(into: { body: string; at: number; key?: string }[]): Sink {
  return {
    name: 'collect',
    ready: true,
    next: (m: Message) => {
      into.push({ body: m.text(), at: Date.now(), key: m.key });
      m.ack();
    },
    error: () => undefined,
    complete: () => undefined,
    close: async () => undefined,
  };
}

function topicOf(count: number, keys = 1): string {
  const topic = uniqueName('rate');
  const input = memTopic(topic);
  for (let i = 0; i < count; i++) input.publish({ body: String(i), key: `k${i % keys}` });
  return topic;
}

test('holds messages to the rate, in order, and drops none', async () => {
  const topic = topicOf(30);
  const out: { body: string; at: number }[] = [];
  const began = Date.now();
  const running = start(source(`mem://${topic}`).pipe(rateLimit({ rate: '50/s', burst: 5 })), collecting(out), { handleSignals: false });
  await waitFor(() => out.length === 30, 'every message', 10_000);
  // 5 at once, then 25 more at 50 a second: at least 0.48 s
  expect(out[29].at - began).toBeGreaterThanOrEqual(480);
  expect(out.map((entry) => Number(entry.body))).toEqual(Array.from({ length: 30 }, (_, i) => i));
  expect(running.stats().acked).toBe(30);
  await running.stop();
  memTopic(topic).delete();
});

test('messages held by the limit count against the window: the source takes no more than it allows', async () => {
  const topic = topicOf(200);
  const out: { body: string; at: number }[] = [];
  const running = start(source(`mem://${topic}`, { maxInFlight: 8 }).pipe(rateLimit({ rate: '100/s', burst: 1 })), collecting(out), {
    handleSignals: false,
  });
  await waitFor(() => out.length >= 20, 'some messages');
  expect(running.stats().inFlight).toBeLessThanOrEqual(8);
  expect(memTopic(topic).length).toBeGreaterThan(100);
  await running.stop();
  memTopic(topic).delete();
});

test('with a key, each key has its own rate: a busy key does not hold back the others', async () => {
  const topic = uniqueName('rate-keys');
  const input = memTopic(topic);
  for (let i = 0; i < 20; i++) input.publish({ body: `busy${i}`, key: 'busy' });
  input.publish({ body: 'quiet', key: 'quiet' });
  const out: { body: string; at: number; key?: string }[] = [];
  const running = start(source(`mem://${topic}`).pipe(rateLimit({ rate: '10/s', burst: 1, key: (m) => m.key })), collecting(out), {
    handleSignals: false,
  });
  await waitFor(() => out.some((entry) => entry.body === 'quiet'), 'the quiet key');
  // the quiet key's message went through at once, while the busy key still waited for most of its messages
  expect(out.filter((entry) => entry.key === 'busy').length).toBeLessThan(5);
  await running.stop();
  input.delete();
});

test('shared through Redis: two pipelines together stay at the rate', async () => {
  const name = uniqueName('shared');
  const one = cache('redis://127.0.0.1:6379/0');
  const two = cache('redis://127.0.0.1:6379/0');
  const topics = [topicOf(60), topicOf(60)];
  const out: { body: string; at: number }[] = [];
  const began = Date.now();
  const runs = [one, two].map((shared, i) =>
    start(source(`mem://${topics[i]}`).pipe(rateLimit({ rate: '40/s', burst: 4, shared, sharedName: name })), collecting(out), {
      handleSignals: false,
    }),
  );
  await waitFor(() => out.length === 120, 'every message', 20_000);
  // 120 messages at 40 a second between them (4 at once first): at least 2.8 s; each process alone would take half
  expect(Date.now() - began).toBeGreaterThanOrEqual(2800);
  for (const running of runs) await running.stop();
  await one.close();
  await two.close();
  for (const topic of topics) memTopic(topic).delete();
});

test('refuses a bad rate, a burst below 1, and a shared cache that cannot share', () => {
  expect(() => rateLimit({ rate: 'fast' })).toThrow(ConfigError);
  expect(() => rateLimit({ rate: '10/s', burst: 0 })).toThrow('burst must be at least 1');
  expect(() => rateLimit({ rate: '10/s', shared: cache('memory://') })).toThrow('needs a cache several processes share');
});
