// P7b: the cost of cacheLookup with the memory cache. mem:// -> cacheLookup(memory, into metadata) -> mem://, against
// mem:// -> mapMessages(the same enrichment from a plain Map) -> mem://, over the same messages.
import type { Scenario } from '../harness';
import { cache, type Cache } from '../../lib';
import type { MessageInit } from '../../lib/message';
import { mapMessages, cacheLookup } from '../../operators';
import { throughMem } from './common';

const USERS = 1000;
const BODY = Buffer.from(JSON.stringify({ event_type: 'page_view', path: '/products/widgets/blue-widget', ts: 1700000000000 }));
const profiles = Array.from({ length: USERS }, (_, i) =>
  Buffer.from(JSON.stringify({ name: `user ${i}`, tier: i % 3 === 0 ? 'gold' : 'basic' })),
);
const userIds = Array.from({ length: USERS }, (_, i) => `u${i}`);

const plainMap = new Map<string, Buffer>(userIds.map((id, i) => [id, profiles[i]]));
const memory = cache(`memory://?max=${USERS * 2}`);
for (const [i, id] of userIds.entries()) memory.sync?.set(id, profiles[i]);

/** The i-th input message: the event, from one of the USERS users in turn. */
function userEvent(i: number): MessageInit {
  return { body: BODY, metadata: { user: userIds[i % USERS] } };
}

export const p7b: Scenario = {
  id: 'P7b',
  title: 'mem:// -> cacheLookup(memory://, into metadata) -> mem:// vs mapMessages(the same lookup in a Map)',
  messages: 500_000,
  quickMessages: 50_000,
  target: 0.8,
  baseline: {
    name: 'mem -> mapMessages(Map lookup) -> mem',
    run: (messages) =>
      throughMem(
        'p7b-map',
        messages,
        mapMessages((m) => {
          const profile = plainMap.get(m.metadata.user);
          return profile === undefined ? m : { metadata: { ...m.metadata, profile: profile.toString('utf8') } };
        }),
        userEvent,
      ),
  },
  candidate: {
    name: 'mem -> cacheLookup(memory) -> mem',
    run: (messages) =>
      throughMem('p7b-lookup', messages, cacheLookup(memory, { key: (m) => m.metadata.user, into: { metadata: 'profile' } }), userEvent),
  },
};

// P7c: cacheLookup against Redis on this machine vs the memory cache: what the concurrent lookups (and ioredis's
// auto-pipelining) recover of a network round trip per message.
const redisPrefix = `bench-p7c-${process.pid}:`;
let redis: Cache | undefined;

export const p7c: Scenario = {
  id: 'P7c',
  title: 'mem:// -> cacheLookup(redis://127.0.0.1:6379) -> mem:// vs the same with memory://',
  messages: 200_000,
  quickMessages: 20_000,
  target: 0.3,
  async setup() {
    redis = cache(`redis://127.0.0.1:6379/0?prefix=${redisPrefix}`);
    await redis.connect?.();
    await Promise.all(userIds.map((id, i) => (redis as Cache).set(id, profiles[i], 3_600_000)));
  },
  async teardown() {
    if (redis === undefined) return;
    await Promise.all(userIds.map((id) => (redis as Cache).delete(id)));
    await redis.close();
  },
  baseline: {
    name: 'mem -> cacheLookup(memory) -> mem',
    run: (messages) =>
      throughMem('p7b-memory', messages, cacheLookup(memory, { key: (m) => m.metadata.user, into: { metadata: 'profile' } }), userEvent),
  },
  candidate: {
    name: 'mem -> cacheLookup(redis, concurrency 128) -> mem',
    run: (messages) =>
      throughMem(
        'p7b-redis',
        messages,
        cacheLookup(redis as Cache, { key: (m) => m.metadata.user, into: { metadata: 'profile' } }),
        userEvent,
      ),
  },
};
