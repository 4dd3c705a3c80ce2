// redis-stream:// against the shared Redis (127.0.0.1:6379): what the sink writes (fields), what the source reads
// back, ack (XACK) and nack (redelivery with Redis's delivery count), the dead letter after MAX_DELIVERIES, entries
// of a dead consumer claimed after claim_idle while a live consumer keeps its own, a restart taking back its own
// entries at once, and the group and stream checks at start-up. Every stream is unique to the test and deleted.
import { firstValueFrom } from 'rxjs';
import { source, sink } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { memTopic } from '../../lib/connectors/local/mem';
import { ConfigError, ConnectorError, MissingResourceError } from '../../lib/errors';
import type { Message } from '../../lib/message';
import { TestEndpoints, send } from '../helpers/endpoints';
import { sleep, waitFor } from '../helpers/wait';
import { StreamAdmin, env } from './helpers';

const admin = new StreamAdmin();
const endpoints = new TestEndpoints(env);

beforeAll(async () => {
  await admin.client.connect();
});
afterEach(async () => {
  await endpoints.closeAll();
  await admin.cleanup();
});
afterAll(async () => {
  await admin.close();
});

/** The first error a source emits (a start-up failure). */
async function startError(uri: string): Promise<Error> {
  try {
    await firstValueFrom(source(uri, { env }));
  } catch (error) {
    return error as Error;
  }
  throw new Error(`${uri} started`);
}

describe('sink', () => {
  test('XADD: the body, the id, the key and each metadata field as fields; a metadata field named like one of them is escaped', async () => {
    const stream = admin.stream('sink');
    const out = endpoints.openSink(`redis-stream://${stream}`);
    const outcomes = await send(out, [
      {
        id: 'm-1',
        body: Buffer.from([0, 1, 2, 255]),
        key: 'sensor-a',
        metadata: { 'content-type': 'application/octet-stream', id: 'not-the-id' },
      },
      { id: 'm-2', body: '{"t":21}', metadata: {} },
    ]);
    expect(outcomes).toEqual([undefined, undefined]);
    const entries = await admin.entries(stream);
    expect(entries[0].fields).toEqual({
      body: expect.any(String),
      id: 'm-1',
      key: 'sensor-a',
      'content-type': 'application/octet-stream',
      'metadata:id': 'not-the-id',
    });
    expect(entries[1].fields).toEqual({ body: '{"t":21}', id: 'm-2' });
    const raw = (await admin.client.xrangeBuffer(stream, '-', '+'))[0][1];
    expect(raw[1]).toEqual(Buffer.from([0, 1, 2, 255]));
  });

  test('?maxlen=N trims the stream to about N entries (MAXLEN ~)', async () => {
    const stream = admin.stream('maxlen');
    const out = endpoints.openSink(`redis-stream://${stream}?maxlen=10`);
    for (let round = 0; round < 10; round++) {
      expect(
        await send(
          out,
          Array.from({ length: 100 }, (_, i) => ({ body: `m-${round}-${i}` })),
        ),
      ).toEqual(Array(100).fill(undefined));
    }
    const length = await admin.length(stream);
    // MAXLEN ~ trims whole nodes of the radix tree (100 entries each by default): about 10, never all 1 000
    expect(length).toBeLessThan(1000);
    expect(length).toBeGreaterThanOrEqual(10);
  });

  test('?create=false: a missing stream stops the start with a ConfigError naming it; an existing one is written', async () => {
    const stream = admin.stream('nocreate');
    const running = start(source('mem://unused-redis-nocreate'), sink(`redis-stream://${stream}?create=false`, { env }), {
      handleSignals: false,
    });
    await expect(running.started).rejects.toThrow(new RegExp(`stream '${stream}' does not exist and \\?create=false`));
    await running.stop().catch(() => undefined);
    await admin.add(stream, [{ body: 'first' }]);
    const out = endpoints.openSink(`redis-stream://${stream}?create=false`);
    expect(await send(out, [{ body: 'second' }])).toEqual([undefined]);
    expect(await admin.length(stream)).toBe(2);
  });

  test('a key of another type stops the start with a ConfigError', async () => {
    const key = admin.stream('wrongtype');
    await admin.client.set(key, 'a string');
    const running = start(source('mem://unused-redis-wrongtype'), sink(`redis-stream://${key}`, { env }), { handleSignals: false });
    const error = await running.started.then(
      () => undefined,
      (failure: unknown) => failure,
    );
    await running.stop().catch(() => undefined);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`the key '${key}' holds a string, not a stream`);
  });
});

describe('source', () => {
  test('round trip: what the sink wrote comes back with its id, key, metadata and body; the entry id in redis-stream-id', async () => {
    const stream = admin.stream('roundtrip');
    await admin.createGroup(stream, 'relay');
    const out = endpoints.openSink(`redis-stream://${stream}`);
    await send(out, [
      { id: 'order-1', body: Buffer.from([0, 1, 2, 255]), key: 'k1', metadata: { 'x-a': '1', key: 'metadata key' } },
      { id: 'order-2', body: 'two' },
    ]);
    const ids = (await admin.entries(stream)).map((entry) => entry.id);
    const received = endpoints.collect(`redis-stream://${stream}?group=relay&consumer=c1`);
    await waitFor(() => received.length === 2, 'two messages');
    expect(received[0].id).toBe('order-1');
    expect(received[0].body).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(received[0].key).toBe('k1');
    expect(received[0].metadata).toEqual({ 'x-a': '1', key: 'metadata key', 'redis-stream-id': ids[0] });
    expect(received[1].id).toBe('order-2');
    expect(received[1].key).toBeUndefined();
    for (const message of received) message.ack();
    await waitFor(async () => (await admin.pending(stream, 'relay')).length === 0, 'XACK of both');
  });

  test('an entry another program wrote (no body field) becomes a JSON object of its fields, id <stream>/<entry id>', async () => {
    const stream = admin.stream('foreign');
    await admin.createGroup(stream, 'relay');
    const [entryId] = await admin.add(stream, [{ sensor: 'a', temp: '21.5' }]);
    const received = endpoints.collect(`redis-stream://${stream}?group=relay`);
    await waitFor(() => received.length === 1, 'the entry');
    expect(JSON.parse(received[0].text())).toEqual({ sensor: 'a', temp: '21.5' });
    expect(received[0].id).toBe(`${stream}/${entryId}`);
    received[0].ack();
  });

  test('nack: the entry stays pending and comes back after nack_delay, with the delivery count Redis keeps', async () => {
    const stream = admin.stream('nack');
    await admin.createGroup(stream, 'relay');
    await admin.add(stream, [{ body: 'retry me' }]);
    const received = endpoints.collect(`redis-stream://${stream}?group=relay&nack_delay=100ms`);
    await waitFor(() => received.length === 1, 'the first delivery');
    received[0].nack(new Error('on purpose'));
    expect(await admin.pending(stream, 'relay')).toHaveLength(1);
    await waitFor(() => received.length === 2, 'the redelivery');
    expect(received[1].text()).toBe('retry me');
    const [pending] = await admin.pending(stream, 'relay');
    expect(pending[3]).toBe(2);
    received[1].ack();
    await waitFor(async () => (await admin.pending(stream, 'relay')).length === 0, 'the XACK');
  });

  test('MAX_DELIVERIES: an entry delivered more often goes to the dead letter, and is then acked', async () => {
    const stream = admin.stream('poison');
    await admin.createGroup(stream, 'relay');
    await admin.add(stream, [{ body: 'poison', id: 'poison-1' }]);
    const deadTopic = `redis-dead-${Date.now()}`;
    let deliveries = 0;
    const pipeline = source(`redis-stream://${stream}?group=relay&nack_delay=20ms`, {
      env,
      maxDeliveries: 3,
      deadLetter: sink(`mem://${deadTopic}`),
    });
    const subscription = pipeline.subscribe((message: Message) => {
      deliveries++;
      message.nack(new Error('always fails'));
    });
    endpoints.subscriptions.push(subscription);
    const dead = endpoints.collect(`mem://${deadTopic}`);
    await waitFor(() => dead.length === 1, 'the dead letter');
    expect(dead[0].id).toBe('poison-1');
    // deliveries 1 to 3 reach the pipeline; the 4th (Redis's count, from XPENDING) goes to the dead letter
    expect(deliveries).toBe(3);
    await waitFor(async () => (await admin.pending(stream, 'relay')).length === 0, 'the XACK after the dead letter');
    dead[0].ack();
    memTopic(deadTopic).delete();
  });

  test('XAUTOCLAIM: entries a dead consumer left pending move to a live one after claim_idle', async () => {
    const stream = admin.stream('claim');
    await admin.createGroup(stream, 'relay');
    await admin.add(stream, [{ body: 'a' }, { body: 'b' }]);
    // a consumer that reads and dies before it acks
    await admin.client.xreadgroup('GROUP', 'relay', 'dead-consumer', 'COUNT', 10, 'STREAMS', stream, '>');
    const received = endpoints.collect(`redis-stream://${stream}?group=relay&consumer=live&claim_idle=300ms`);
    await waitFor(() => received.length === 2, 'the claimed entries');
    expect(received.map((message) => message.text()).sort()).toEqual(['a', 'b']);
    expect((await admin.pending(stream, 'relay')).map(([, consumer, , count]) => [consumer, count])).toEqual([
      ['live', 2],
      ['live', 2],
    ]);
    for (const message of received) message.ack();
    await waitFor(async () => (await admin.pending(stream, 'relay')).length === 0, 'the XACKs');
  });

  test('a live consumer keeps the entries it holds past claim_idle: no other consumer takes them', async () => {
    const stream = admin.stream('keep');
    await admin.createGroup(stream, 'relay');
    await admin.add(stream, [{ body: 'slow' }]);
    const first = endpoints.collect(`redis-stream://${stream}?group=relay&consumer=first&claim_idle=200ms`);
    await waitFor(() => first.length === 1, 'the delivery to the first consumer');
    const second = endpoints.collect(`redis-stream://${stream}?group=relay&consumer=second&claim_idle=200ms`);
    await sleep(1500); // seven times claim_idle with the message unsettled
    expect(second).toHaveLength(0);
    const [pending] = await admin.pending(stream, 'relay');
    expect(pending[1]).toBe('first');
    first[0].ack();
  });

  test('a restart with the same consumer name takes back at once what it held, counted as a delivery', async () => {
    const stream = admin.stream('restart');
    await admin.createGroup(stream, 'relay');
    await admin.add(stream, [{ body: 'held' }]);
    const uri = `redis-stream://${stream}?group=relay&consumer=stable&claim_idle=1h`;
    const before = endpoints.collect(uri);
    await waitFor(() => before.length === 1, 'the first delivery');
    endpoints.unsubscribeAll(); // stops without settling: the entry stays pending
    await waitFor(() => before[0].settled, 'the close to give the message up');
    const after = endpoints.collect(uri);
    await waitFor(() => after.length === 1, 'the entry held before the restart');
    expect(after[0].text()).toBe('held');
    expect((await admin.pending(stream, 'relay'))[0][3]).toBe(2);
    after[0].ack();
    await waitFor(async () => (await admin.pending(stream, 'relay')).length === 0, 'the XACK');
  });

  test('a made-up consumer name is removed from the group on a clean stop; a given one stays', async () => {
    const stream = admin.stream('forget');
    await admin.createGroup(stream, 'relay');
    await admin.add(stream, [{ body: 'one' }]);
    const consumers = async (): Promise<string[]> =>
      ((await admin.client.xinfo('CONSUMERS', stream, 'relay')) as unknown[][]).map((fields) => String(fields[fields.indexOf('name') + 1]));
    const made = endpoints.collect(`redis-stream://${stream}?group=relay`);
    const named = endpoints.collect(`redis-stream://${stream}?group=relay&consumer=kept`);
    await waitFor(() => made.length + named.length === 1, 'the entry');
    for (const message of [...made, ...named]) message.ack();
    await waitFor(async () => (await admin.pending(stream, 'relay')).length === 0, 'the XACK');
    expect(await consumers()).toHaveLength(2);
    await endpoints.closeAll();
    await waitFor(async () => (await consumers()).length === 1, 'the made-up consumer to be removed');
    expect(await consumers()).toEqual(['kept']);
  });

  test('?create_group=true creates the group (and the stream); ?start=newest skips what was there', async () => {
    const stream = admin.stream('create');
    const received = endpoints.collect(`redis-stream://${stream}?group=relay&create_group=true`);
    await waitFor(async () => (await admin.client.exists(stream)) === 1, 'the stream');
    await admin.add(stream, [{ body: 'after' }]);
    await waitFor(() => received.length === 1, 'the entry');
    received[0].ack();

    const other = admin.stream('newest');
    await admin.add(other, [{ body: 'before' }]);
    const newest = endpoints.collect(`redis-stream://${other}?group=fresh&create_group=true&start=newest`);
    await waitFor(async () => ((await admin.client.xinfo('GROUPS', other)) as unknown[]).length === 1, 'the group');
    await admin.add(other, [{ body: 'later' }]);
    await waitFor(() => newest.length === 1, 'the later entry');
    expect(newest[0].text()).toBe('later');
    newest[0].ack();
  });

  test('a missing stream or group stops the start with a MissingResourceError that says what to run', async () => {
    const stream = admin.stream('missing');
    const noStream = await startError(`redis-stream://${stream}?group=relay`);
    expect(noStream).toBeInstanceOf(MissingResourceError);
    expect(noStream.message).toContain(`stream '${stream}' does not exist`);
    expect(noStream.message).toContain(`XGROUP CREATE ${stream} relay 0 MKSTREAM`);
    await admin.createGroup(stream, 'other');
    const noGroup = await startError(`redis-stream://${stream}?group=relay`);
    expect(noGroup).toBeInstanceOf(MissingResourceError);
    expect(noGroup.message).toContain(`stream '${stream}' has no consumer group 'relay' (it has 'other')`);
    expect(noGroup.message).toContain('?create_group=true');
  });

  test('bad URIs are ConfigErrors that show a valid one', () => {
    const bad: [string, RegExp][] = [
      ['redis-stream://readings', /reads through a consumer group.*redis-stream:\/\/readings\?group=relay/],
      ['redis-stream://?group=relay', /needs the stream's name/],
      ['redis-stream://readings?group=relay&claim_idle=10ms', /claim_idle=10ms is too short/],
      ['redis-stream://readings?group=relay&claim_idle=soon', /not a duration/],
      ['redis-stream://readings?group=relay&start=newest', /\?start only applies/],
      ['redis-stream://readings?group=relay&create_group=true&start=middle', /not a start position/],
    ];
    for (const [uri, pattern] of bad) {
      expect(() => source(uri, { env })).toThrow(ConfigError);
      expect(() => source(uri, { env })).toThrow(pattern);
    }
    expect(() => sink('redis-stream://readings?maxlen=lots', { env })).toThrow(/maxlen/);
    expect(() => sink('redis-stream://readings?group=relay', { env })).toThrow(/\?group is a source parameter/);
    expect(() => source('redis-stream://readings?group=relay', { env: { REDIS_SERVER_URL: 'http://localhost:6379' } })).toThrow(
      /REDIS_SERVER_URL: 'http:\/\/localhost:6379' has the scheme 'http:\/\/'/,
    );
  });

  test('a server out of reach fails the start after REDIS_CONNECT_TIMEOUT with a ConnectorError naming it', async () => {
    const error = await (async () => {
      try {
        await firstValueFrom(
          source('redis-stream://readings?group=relay', {
            env: { REDIS_SERVER_URL: 'redis://127.0.0.1:1/0', REDIS_CONNECT_TIMEOUT: '500ms' },
          }),
        );
      } catch (failure) {
        return failure as Error;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConnectorError);
    expect(error?.message).toMatch(/redis-stream \(127\.0\.0\.1:1\): could not connect within REDIS_CONNECT_TIMEOUT/);
  });
});
