// cacheLookup, cacheSet and dedupe: message-aware (dropped = acked, a failure nacks that message only), concurrent
// with input order kept, synchronous with the memory cache, and dedupe keeping at-least-once.
import { Subject, type OperatorFunction } from 'rxjs';
import { Message } from '../../lib/message';
import { cache, type Cache, MemoryCache } from '../../lib/cache';
import { cacheLookup, cacheSet, dedupe } from '../../operators';
import { capturingLogger, deleteRedisPrefix, REDIS_URL, sleep, uniqueName, waitFor } from './helpers';

type Outcome = 'acked' | Error | undefined;

/** Feeds messages through an operator; each input's settlement is recorded under its id. */
function harness(operator: OperatorFunction<Message, Message>) {
  const input = new Subject<Message>();
  const outputs: Message[] = [];
  const outcomes = new Map<string, Outcome>();
  let completed = false;
  input.pipe(operator).subscribe({ next: (m) => outputs.push(m), complete: () => (completed = true) });
  return {
    outputs,
    outcomes,
    get completed() {
      return completed;
    },
    send(id: string, body: string | object, metadata?: Record<string, string>): Message {
      outcomes.set(id, undefined);
      const message = Message.create({ id, body: typeof body === 'string' ? body : JSON.stringify(body), metadata }, (error) =>
        outcomes.set(id, error ?? 'acked'),
      );
      input.next(message);
      return message;
    },
    complete: () => input.complete(),
  };
}

/** A Cache of our own whose answers come late, in a random order, and which counts concurrent operations. */
class SlowCache implements Cache {
  readonly name = 'slow://';
  inProgress = 0;
  mostInProgress = 0;
  failNext = 0;
  constructor(private readonly inner = new MemoryCache()) {}
  private async later<T>(answer: () => T): Promise<T> {
    this.inProgress++;
    this.mostInProgress = Math.max(this.mostInProgress, this.inProgress);
    await sleep(Math.random() * 8);
    this.inProgress--;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('slow:// is down');
    }
    return answer();
  }
  get(key: string) {
    return this.later(() => this.inner.sync.get(key));
  }
  set(key: string, value: Buffer, ttlMs?: number) {
    return this.later(() => this.inner.sync.set(key, value, ttlMs));
  }
  add(key: string, value: Buffer, ttlMs?: number) {
    return this.later(() => this.inner.sync.add(key, value, ttlMs));
  }
  delete(key: string) {
    return this.later(() => this.inner.sync.delete(key));
  }
  async close() {}
}

describe('cacheLookup', () => {
  const users = new MemoryCache();
  beforeAll(() => {
    users.sync.set('u1', Buffer.from('{"name":"Ada","tier":"gold"}'));
    users.sync.set('u2', Buffer.from('plain text'));
  });

  test('into a metadata field, into a JSON field, or through a function; a miss passes unchanged', () => {
    const byMetadata = harness(cacheLookup(users, { key: (m) => m.metadata.user, into: { metadata: 'profile' } }));
    byMetadata.send('a', 'x', { user: 'u1' });
    byMetadata.send('b', 'y', { user: 'nobody' });
    expect(byMetadata.outputs.map((m) => m.metadata.profile)).toEqual(['{"name":"Ada","tier":"gold"}', undefined]);
    expect(byMetadata.outputs[1].text()).toBe('y');

    const byJson = harness(cacheLookup(users, { key: (m) => m.json<{ user: string }>().user, into: { json: 'user_info' } }));
    byJson.send('c', { user: 'u1', n: 1 });
    byJson.send('d', { user: 'u2', n: 2 });
    expect(byJson.outputs.map((m) => m.json())).toEqual([
      { user: 'u1', n: 1, user_info: { name: 'Ada', tier: 'gold' } },
      { user: 'u2', n: 2, user_info: 'plain text' },
    ]);

    const byFunction = harness(cacheLookup(users, { key: () => 'u1', into: (m, value) => ({ body: `${m.text()}+${value.length}` }) }));
    byFunction.send('e', 'body');
    expect(byFunction.outputs[0].text()).toBe('body+28');
  });

  test('the output shares the settlement of the input', () => {
    const run = harness(cacheLookup(users, { key: () => 'u1', into: { metadata: 'p' } }));
    run.send('a', 'x');
    expect(run.outcomes.get('a')).toBeUndefined();
    run.outputs[0].ack();
    expect(run.outcomes.get('a')).toBe('acked');
  });

  test("onMiss: 'drop' acks the message; a key of undefined skips the lookup", () => {
    const run = harness(
      cacheLookup(users, {
        key: (m) => (m.metadata.user === 'skip' ? undefined : m.metadata.user),
        into: { metadata: 'p' },
        onMiss: 'drop',
      }),
    );
    run.send('hit', 'x', { user: 'u1' });
    run.send('miss', 'x', { user: 'nobody' });
    run.send('skip', 'x', { user: 'skip' });
    expect(run.outputs.map((m) => m.id)).toEqual(['hit', 'skip']);
    expect(run.outcomes.get('miss')).toBe('acked');
  });

  test('a body that is not a JSON object nacks that message only, with a clear error', () => {
    const run = harness(cacheLookup(users, { key: () => 'u1', into: { json: 'user' } }));
    run.send('bad', 'not json');
    run.send('array', '[1]');
    run.send('good', { ok: true });
    expect(run.outputs.map((m) => m.id)).toEqual(['good']);
    expect((run.outcomes.get('bad') as Error).message).toMatch(/the body is not JSON, so into: \{ json: 'user' \} cannot merge/);
    expect((run.outcomes.get('array') as Error).message).toMatch(/not a JSON object/);
  });

  test('with the memory cache the lookup is synchronous: the output leaves in the same call', () => {
    const run = harness(cacheLookup(users, { key: () => 'u1', into: { metadata: 'p' } }));
    run.send('a', 'x');
    expect(run.outputs).toHaveLength(1); // no await in between
  });

  test('with an asynchronous cache, lookups overlap (bounded by concurrency) and outputs keep the input order', async () => {
    const slow = new SlowCache();
    for (let i = 0; i < 50; i++) slow['inner'].sync.set(`k${i}`, Buffer.from(`v${i}`));
    const run = harness(cacheLookup(slow, { key: (m) => `k${Number(m.id) % 50}`, into: { metadata: 'v' }, concurrency: 16 }));
    for (let i = 0; i < 400; i++) run.send(String(i), 'x');
    run.complete();
    await waitFor(() => run.completed, 'the lookups to complete');
    expect(run.outputs.map((m) => m.id)).toEqual(Array.from({ length: 400 }, (_, i) => String(i)));
    expect(run.outputs.map((m) => m.metadata.v)).toEqual(Array.from({ length: 400 }, (_, i) => `v${i % 50}`));
    expect(slow.mostInProgress).toBeGreaterThan(1);
    expect(slow.mostInProgress).toBeLessThanOrEqual(16);
  });

  test('a failed lookup nacks that message only; the others pass in order', async () => {
    const slow = new SlowCache();
    const run = harness(cacheLookup(slow, { key: () => 'k', into: { metadata: 'v' }, concurrency: 1 }));
    run.send('1', 'x');
    await waitFor(() => run.outputs.length === 1, 'the first output');
    slow.failNext = 1;
    run.send('2', 'x');
    run.send('3', 'x');
    await waitFor(() => run.outputs.length === 2, 'the third output');
    expect(run.outputs.map((m) => m.id)).toEqual(['1', '3']);
    expect((run.outcomes.get('2') as Error).message).toBe('slow:// is down');
  });
});

describe('cacheSet', () => {
  test('stores the body (or a chosen value, with a TTL) and passes the message on', async () => {
    const store = new MemoryCache();
    const run = harness(cacheSet(store, { key: (m) => m.id }));
    run.send('a', 'body a');
    expect(store.sync.get('a')?.toString()).toBe('body a');
    expect(run.outputs.map((m) => m.text())).toEqual(['body a']);

    const withTtl = harness(cacheSet(store, { key: (m) => `t:${m.id}`, value: (m) => m.metadata.v, ttl: '100ms' }));
    withTtl.send('b', 'x', { v: 'meta' });
    withTtl.send('c', 'x'); // no value: nothing stored, still passed on
    expect(store.sync.get('t:b')?.toString()).toBe('meta');
    expect(store.sync.get('t:c')).toBeUndefined();
    expect(withTtl.outputs).toHaveLength(2);
    await sleep(200);
    expect(store.sync.get('t:b')).toBeUndefined();
  });

  test('a failed write nacks the message instead of passing it', async () => {
    const slow = new SlowCache();
    slow.failNext = 1;
    const run = harness(cacheSet(slow, { key: (m) => m.id, concurrency: 1 }));
    run.send('a', 'x');
    run.send('b', 'y');
    await waitFor(() => run.outputs.length === 1 && run.outcomes.get('a') !== undefined, 'both writes');
    expect(run.outputs.map((m) => m.id)).toEqual(['b']);
    expect(run.outcomes.get('a')).toBeInstanceOf(Error);
    expect(await slow.get('b')).toBeDefined();
  });
});

describe('dedupe', () => {
  test('passes the first message per key and acks the copies (memory, synchronous)', () => {
    const seen = new MemoryCache();
    const run = harness(dedupe(seen, { key: (m) => m.metadata.event, ttl: '1m' }));
    const events = ['a', 'b', 'a', 'c', 'b', 'a'];
    events.forEach((event, i) => {
      run.send(String(i), 'x', { event });
      run.outputs[run.outputs.length - 1]?.ack(); // the sink confirms at once
    });
    expect(run.outputs.map((m) => m.metadata.event)).toEqual(['a', 'b', 'c']);
    expect([...run.outcomes.values()].every((outcome) => outcome === 'acked')).toBe(true);
    expect(seen.sync.get('dedupe:a')?.toString()).toBe('done');
  });

  test('copies that arrive while the first is on its way follow its outcome; a nack releases the key', () => {
    const seen = new MemoryCache();
    const run = harness(dedupe(seen, { key: (m) => m.metadata.event, ttl: '1m' }));
    run.send('first', 'x', { event: 'e' });
    run.send('copy1', 'x', { event: 'e' });
    run.send('copy2', 'x', { event: 'e' });
    expect(run.outputs.map((m) => m.id)).toEqual(['first']);
    expect(run.outcomes.get('copy1')).toBeUndefined(); // held, not dropped yet: the first may still fail
    run.outputs[0].nack(new Error('sink refused'));
    expect((run.outcomes.get('copy1') as Error).message).toMatch(
      /first copy of 'dedupe:e' failed \(sink refused\); this copy will be redelivered/,
    );
    expect(run.outcomes.get('copy2')).toBeInstanceOf(Error);
    expect(seen.sync.get('dedupe:e')).toBeUndefined();
    // the redelivered message passes now
    run.send('redelivered', 'x', { event: 'e' });
    expect(run.outputs.map((m) => m.id)).toEqual(['first', 'redelivered']);
    run.send('copy3', 'x', { event: 'e' });
    run.outputs[1].ack();
    expect(run.outcomes.get('copy3')).toBe('acked');
    run.send('late', 'x', { event: 'e' });
    expect(run.outcomes.get('late')).toBe('acked');
    expect(run.outputs).toHaveLength(2);
  });

  test('a claim held by another process makes copies come back later (nack), then drop once it is delivered', () => {
    const seen = new MemoryCache();
    const processA = harness(dedupe(seen, { key: (m) => m.metadata.event, ttl: '1m' }));
    const processB = harness(dedupe(seen, { key: (m) => m.metadata.event, ttl: '1m' }));
    processA.send('a1', 'x', { event: 'e' });
    processB.send('b1', 'x', { event: 'e' });
    expect(processB.outputs).toHaveLength(0);
    expect((processB.outcomes.get('b1') as Error).message).toMatch(/still on its way in another process; this copy will be redelivered/);
    processA.outputs[0].ack();
    processB.send('b1-again', 'x', { event: 'e' });
    expect(processB.outcomes.get('b1-again')).toBe('acked');
    expect(processB.outputs).toHaveLength(0);
  });

  test('a claim left by a crashed process is taken over after pendingTtl', async () => {
    const seen = new MemoryCache();
    const crashed = harness(dedupe(seen, { key: (m) => m.metadata.event, ttl: '1m', pendingTtl: '100ms' }));
    crashed.send('lost', 'x', { event: 'e' }); // never settled: its process "crashed"
    const survivor = harness(dedupe(seen, { key: (m) => m.metadata.event, ttl: '1m', pendingTtl: '10m' }));
    // the pending claim is stored with the crashed process's pendingTtl; memory drops it then, Redis too, and NATS KV
    // (no per-key TTL) relies on the claim time written in the value
    seen.sync.set('dedupe:e', seen.sync.get('dedupe:e') as Buffer); // no TTL any more: as on NATS KV
    survivor.send('early', 'x', { event: 'e' });
    expect(survivor.outcomes.get('early')).toBeInstanceOf(Error);
    const tookOver = harness(dedupe(seen, { key: (m) => m.metadata.event, ttl: '1m', pendingTtl: '100ms' }));
    await sleep(150);
    tookOver.send('redelivered', 'x', { event: 'e' });
    expect(tookOver.outputs.map((m) => m.id)).toEqual(['redelivered']);
  });

  test('with an asynchronous cache: duplicates across a burst leave once, in input order', async () => {
    const slow = new SlowCache();
    const run = harness(dedupe(slow, { key: (m) => m.metadata.event, ttl: '1m', concurrency: 32 }));
    const sequence = Array.from({ length: 600 }, (_, i) => `e${(i * 7) % 200}`);
    sequence.forEach((event, i) => run.send(String(i), 'x', { event }));
    run.complete();
    const acker = setInterval(() => {
      for (const output of run.outputs) output.ack();
    }, 2);
    await waitFor(() => [...run.outcomes.values()].every((outcome) => outcome !== undefined), 'every message to settle');
    clearInterval(acker);
    const firstIndex = new Map<string, number>();
    sequence.forEach((event, i) => firstIndex.has(event) || firstIndex.set(event, i));
    expect(run.outputs.map((m) => m.id)).toEqual([...firstIndex.values()].map(String));
    expect([...run.outcomes.values()].every((outcome) => outcome === 'acked')).toBe(true);
    expect(slow.mostInProgress).toBeGreaterThan(1);
  });

  test('a failed check nacks that message only', async () => {
    const slow = new SlowCache();
    slow.failNext = 1;
    const run = harness(dedupe(slow, { key: (m) => m.metadata.event, ttl: '1m', concurrency: 1 }));
    run.send('a', 'x', { event: 'a' });
    run.send('b', 'x', { event: 'b' });
    await waitFor(() => run.outputs.length === 1 && run.outcomes.get('a') !== undefined, 'both checks');
    expect(run.outcomes.get('a')).toBeInstanceOf(Error);
    expect(run.outputs.map((m) => m.id)).toEqual(['b']);
  });

  test('a ttl is required', () => {
    expect(() => dedupe(new MemoryCache(), { key: (m: Message) => m.id } as never)).toThrow(/dedupe needs a ttl/);
  });
});

describe('operators on Redis', () => {
  const prefix = `${uniqueName('ops')}:`;
  const { logger } = capturingLogger('warn');
  let redis: Cache;
  beforeAll(() => {
    redis = cache(`${REDIS_URL}?prefix=${prefix}`, { logger });
  });
  afterAll(async () => {
    await redis.close();
    await deleteRedisPrefix(prefix);
  });

  test('cacheSet then cacheLookup through the real server, concurrently, in order', async () => {
    const writer = harness(cacheSet(redis, { key: (m) => `user:${m.id}`, value: (m) => m.text() }));
    for (let i = 0; i < 300; i++) writer.send(String(i), `name-${i}`);
    writer.complete();
    await waitFor(() => writer.completed, 'the writes');
    expect(writer.outputs).toHaveLength(300);
    const reader = harness(cacheLookup(redis, { key: (m) => `user:${m.metadata.user}`, into: { metadata: 'name' } }));
    for (let i = 0; i < 1000; i++) reader.send(`r${i}`, 'x', { user: String((i * 13) % 300) });
    reader.complete();
    await waitFor(() => reader.completed, 'the lookups');
    expect(reader.outputs.map((m) => m.id)).toEqual(Array.from({ length: 1000 }, (_, i) => `r${i}`));
    expect(reader.outputs.map((m) => m.metadata.name)).toEqual(Array.from({ length: 1000 }, (_, i) => `name-${(i * 13) % 300}`));
  });

  test('dedupe through the real server marks delivered keys with the ttl', async () => {
    const run = harness(dedupe(redis, { key: (m) => m.metadata.event, ttl: '1m' }));
    for (const [i, event] of ['a', 'b', 'a'].entries()) run.send(String(i), 'x', { event });
    await waitFor(() => run.outputs.length === 2, 'two outputs');
    for (const output of run.outputs) output.ack();
    await waitFor(() => [...run.outcomes.values()].every((outcome) => outcome === 'acked'), 'every message acked');
    await sleep(50);
    expect((await redis.get('dedupe:a'))?.toString()).toBe('done');
  });
});
