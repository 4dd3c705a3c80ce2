// Behaviour of the nats:// connector on the shared server beyond the conformance suite: headers <-> metadata, ids and
// keys, JetStream deduplication, nak delays, consumer reconciliation, core NATS
// overflow (bounded, dropped and counted), request/reply answered on settlement, wildcards.
import { headers as natsHeaders } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { source, start } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import { createStream, readStream, sharedJetStreamForFile, uniqueSubject } from './helpers';
import { capturingLogger, sleep, waitFor } from '../helpers/wait';
import { write } from '../helpers/endpoints';
import type { Logger } from '../../lib/logging/logger';
import type { Message } from '../../lib/message';

const shared = sharedJetStreamForFile();
const { env, endpoints, streams, newStream, addRelayConsumer } = shared;
const { collect, openSink } = endpoints;

test('headers become metadata (Nats-* protocol headers stay out), Nats-Msg-Id the id, x-message-key the key', async () => {
  const subject = `test.${uniqueSubject('headers')}`;
  const received = collect(`nats://${subject}`);
  await sleep(200);
  const headers = natsHeaders();
  headers.set('Nats-Msg-Id', 'order-42');
  headers.set('x-message-key', 'customer-7');
  headers.set('Nats-Expected-Stream', 'ORDERS');
  headers.set('Content-Type', 'application/json');
  headers.append('X-Multi', 'a');
  headers.append('X-Multi', 'b');
  shared.connection.publish(subject, '{"ok":true}', { headers });
  await waitFor(() => received.length === 1, 'the message');
  const [message] = received;
  expect(message.id).toBe('order-42');
  expect(message.key).toBe('customer-7');
  expect(message.metadata).toEqual({ 'Content-Type': 'application/json', 'X-Multi': 'a, b' });
  message.ack();
});

test('metadata becomes headers: the id as x-message-id and, scoped by the subject, Nats-Msg-Id; the key as x-message-key; unusable names left out', async () => {
  const subject = `test.${uniqueSubject('metadata')}`;
  const seen: { headers: Record<string, string[]>; body: string }[] = [];
  shared.connection.subscribe(subject, {
    max: 1,
    callback: (_error, msg) => {
      const headers: Record<string, string[]> = {};
      for (const name of msg.headers?.keys() ?? []) headers[name] = msg.headers?.values(name) ?? [];
      seen.push({ headers, body: msg.string() });
    },
  });
  await shared.connection.flush();
  const outcome = await write(openSink(`nats://${subject}`), {
    id: 'm-1',
    key: 'k-1',
    body: 'hello',
    metadata: {
      'content-type': 'text/plain',
      'nats-subject': 'elsewhere',
      'Nats-Msg-Id': 'spoofed',
      'bad name': 'x',
      'x-lines': 'one\r\ntwo',
    },
  });
  expect(outcome).toBeUndefined();
  await waitFor(() => seen.length === 1, 'the published message');
  expect(seen[0]).toEqual({
    body: 'hello',
    headers: {
      'content-type': ['text/plain'],
      'x-lines': ['one two'],
      'x-message-id': ['m-1'],
      'Nats-Msg-Id': [`${subject}:m-1`],
      'x-message-key': ['k-1'],
    },
  });
});

test('a source on a wildcard subject names the subject of each message', async () => {
  const prefix = `test.${uniqueSubject('wild')}`;
  const received = collect(`nats://${prefix}.>`);
  await sleep(200);
  shared.connection.publish(`${prefix}.a`, '1');
  shared.connection.publish(`${prefix}.b.c`, '2');
  await waitFor(() => received.length === 2, 'two messages');
  expect(received.map((message) => message.metadata['nats-subject']).sort()).toEqual([`${prefix}.a`, `${prefix}.b.c`]);
});

/**
 * Opens a core NATS source on `subject` (with `params`) and a window of `maxInFlight`, logging to `logger`; publishes
 * `published` messages m0, m1, … and waits until the window is full. 200 ms later it still holds no more.
 */
async function fillWindow(subject: string, params: string, maxInFlight: number, published: number, logger: Logger): Promise<Message[]> {
  const received = collect(`nats://${subject}${params}`, { maxInFlight, logger });
  await sleep(200);
  for (let i = 0; i < published; i++) shared.connection.publish(subject, `m${i}`);
  await shared.connection.flush();
  await waitFor(() => received.length === maxInFlight, 'a full window');
  await sleep(200);
  expect(received).toHaveLength(maxInFlight);
  return received;
}

test('core NATS overflow: beyond the window and max_pending, messages are dropped, counted and logged, never buffered without bound', async () => {
  const subject = `test.${uniqueSubject('overflow')}`;
  const { logger, lines } = capturingLogger('warn');
  const received = await fillWindow(subject, '?max_pending=5', 1, 20, logger);
  // settle as they come: the 5 that waited follow, the other 14 are gone
  await waitFor(() => {
    for (const message of received) message.ack();
    return received.length >= 6;
  }, 'the five buffered messages');
  await sleep(300);
  for (const message of received) message.ack();
  expect(received.map((message) => message.text())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
  const logged = (): { msg: string; dropped?: number; droppedTotal?: number }[] => lines();
  const warning = logged().find((entry) => entry.msg.includes('dropped') && entry.dropped !== undefined);
  expect(warning?.msg).toContain('JetStream');
  // closing the source reports how many were dropped in all
  endpoints.unsubscribeAll();
  await waitFor(() => logged().some((entry) => entry.droppedTotal !== undefined && entry.msg.includes('in all')), 'the summary');
  expect(logged().find((entry) => entry.msg.includes('in all'))?.droppedTotal).toBe(14);
});

test('core NATS: messages still waiting for the window when the source stops are lost, logged with their count', async () => {
  const subject = `test.${uniqueSubject('stopped')}`;
  const { logger, lines } = capturingLogger('warn');
  await fillWindow(subject, '', 2, 7, logger);
  endpoints.unsubscribeAll();
  await waitFor(() => lines().some((entry) => entry.msg.includes('not taken before shutdown')), 'the warning');
  expect(lines().find((entry) => entry.msg.includes('not taken before shutdown'))?.msg).toContain('5 buffered core NATS message(s)');
});

test('a core NATS request is answered once settled: empty for an ack, with Wasm-Pipes-Error for a nack', async () => {
  const subject = `test.${uniqueSubject('request')}`;
  const received = collect(`nats://${subject}`);
  await sleep(200);
  const acked = shared.connection.request(subject, 'please', { timeout: 5000 });
  await waitFor(() => received.length === 1, 'the request');
  received[0].ack();
  const ackReply = await acked;
  expect(ackReply.data.length).toBe(0);
  expect(ackReply.headers?.get('Wasm-Pipes-Error') ?? '').toBe('');

  const nacked = shared.connection.request(subject, 'again', { timeout: 5000 });
  await waitFor(() => received.length === 2, 'the second request');
  received[1].nack(new Error('the sink is down'));
  const nackReply = await nacked;
  expect(nackReply.headers?.get('Wasm-Pipes-Error')).toBe('the sink is down');
});

test('the JetStream sink sets Nats-Msg-Id, so that writing a message twice stores it once', async () => {
  const { stream, subject } = await newStream('DEDUPE');
  const out = openSink(`nats://${subject}?jetstream=true`);
  expect(await write(out, { id: 'same-id', body: 'first' })).toBeUndefined();
  expect(await write(out, { id: 'same-id', body: 'first' })).toBeUndefined();
  expect(await write(out, { id: 'other-id', body: 'second' })).toBeUndefined();
  expect((await readStream(shared.connection, stream)).map(({ id, body }) => ({ id, body }))).toEqual([
    { id: 'same-id', body: 'first' },
    { id: 'other-id', body: 'second' },
  ]);
});

describe('JetStream deduplication is per subject and id', () => {
  async function twoSubjectStream(prefix: string): Promise<{ stream: string; base: string }> {
    const stream = uniqueSubject(prefix);
    const base = `test.${stream}`;
    await createStream(shared.manager, stream, [`${base}.>`]);
    streams.push(stream);
    return { stream, base };
  }

  test('5 messages fanned out to .a and .b of one stream are 10 stored messages; writing them again stores nothing more', async () => {
    const { stream, base } = await twoSubjectStream('FANOUT');
    const topic = uniqueSubject('fanout-in');
    const input = memTopic(topic);
    for (let i = 0; i < 5; i++) input.publish({ id: `order-${i}`, body: `{"n":${i}}` });
    const toA = openSink(`nats://${base}.a?jetstream=true`);
    const toB = openSink(`nats://${base}.b?jetstream=true`);
    const running = start(source(`mem://${topic}`), [toA, toB], { handleSignals: false });
    await waitFor(() => running.stats().acked === 5, 'five messages acked by both sinks');
    await running.stop();
    // the same messages again (a redelivery, by a new pipeline): deduplicated on both subjects
    const againA = openSink(`nats://${base}.a?jetstream=true`);
    const againB = openSink(`nats://${base}.b?jetstream=true`);
    for (let i = 0; i < 5; i++) expect(await write(againA, { id: `order-${i}`, body: 'again' })).toBeUndefined();
    for (let i = 0; i < 5; i++) expect(await write(againB, { id: `order-${i}`, body: 'again' })).toBeUndefined();
    const stored = await readStream(shared.connection, stream);
    expect(stored).toHaveLength(10);
    for (const suffix of ['a', 'b']) {
      const copies = stored.filter((message) => message.subject === `${base}.${suffix}`);
      expect(copies.map((message) => message.id)).toEqual(['order-0', 'order-1', 'order-2', 'order-3', 'order-4']);
      expect(copies.every((message) => message.body !== 'again')).toBe(true);
      expect(copies[0].dedupeId).toBe(`${base}.${suffix}:order-0`);
    }
    input.delete();
  });

  test("a dead letter on a subject of the sink's stream is stored beside the copy the sink wrote", async () => {
    const { stream, base } = await twoSubjectStream('DEADSAME');
    const deadLetter = openSink(`nats://${base}.dead?jetstream=true`);
    const written = openSink(`nats://${base}.out?jetstream=true`);
    // the second sink of the fan-out refuses every message at once: its copy goes to the dead letter
    const failing = openSink('http://127.0.0.1:9/never', { deadLetter, retry: { maxAttempts: 1 } });
    const topic = uniqueSubject('dead-in');
    const input = memTopic(topic);
    input.publish({ id: 'order-1', body: 'hello' });
    const running = start(source(`mem://${topic}`), [written, failing], { handleSignals: false, deadLetter });
    await waitFor(() => running.stats().acked === 1, 'the message acked once both copies are stored');
    await running.stop();
    const stored = await readStream(shared.connection, stream);
    expect(stored.map((message) => [message.subject, message.id]).sort()).toEqual([
      [`${base}.dead`, 'order-1'],
      [`${base}.out`, 'order-1'],
    ]);
    input.delete();
  });

  test('a source reads the id from x-message-id, else from Nats-Msg-Id, so that ids do not grow along a chain of relays', async () => {
    const { stream, base } = await twoSubjectStream('CHAIN');
    expect(await write(openSink(`nats://${base}.hop1?jetstream=true`), { id: 'order-7', body: 'x' })).toBeUndefined();
    await jetstream(shared.connection).publish(`${base}.plain`, 'y', { msgID: 'external-1' });
    const received = collect(`nats://${base}.>?stream=${stream}&consumer=chain`);
    await waitFor(() => received.length === 2, 'both messages');
    expect(received.map((message) => message.id)).toEqual(['order-7', 'external-1']);
    expect(received[0].metadata).not.toHaveProperty('x-message-id');
    for (const message of received) message.ack();
  });
});

test('the JetStream sink fails clearly when no stream captures the subject', async () => {
  const subject = `test.${uniqueSubject('nostream')}`;
  const out = openSink(`nats://${subject}?jetstream=true&timeout=2s`, { retry: { maxAttempts: 1 } });
  const error = await write(out, { body: 'lost?' });
  expect(error?.message).toContain(`no JetStream stream captures '${subject}'`);
  expect(error?.message).toContain('nats (127.0.0.1:4222)');
});

test('JetStream: a nacked message comes back after nak_delay, not at once', async () => {
  const { stream, subject } = await newStream('NAK');
  await jetstream(shared.connection).publish(subject, 'again', { msgID: 'nak-1' });
  const received = collect(`nats://${subject}?stream=${stream}&consumer=relay&nak_delay=500ms`);
  await waitFor(() => received.length === 1, 'the first delivery');
  const nackedAt = Date.now();
  received[0].nack(new Error('not yet'));
  await waitFor(() => received.length === 2, 'the redelivery');
  expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(400);
  expect(received[1].id).toBe('nak-1');
  received[1].ack();
});

test('an existing durable consumer is reused: max_ack_pending follows maxInFlight; a different filter is refused', async () => {
  const stream = uniqueSubject('EXISTING');
  const base = `test.${stream}`;
  await createStream(shared.manager, stream, [`${base}.>`]);
  streams.push(stream);
  await addRelayConsumer(stream, {
    filter_subject: `${base}.a`,
    max_ack_pending: 1000,
  });
  const running = start(source(`nats://${base}.a?stream=${stream}&consumer=relay`, { env, maxInFlight: 7 }), openSink('mem://unused'), {
    handleSignals: false,
  });
  await running.started;
  expect((await shared.manager.consumers.info(stream, 'relay')).config.max_ack_pending).toBe(7);
  await running.stop();

  const refused = start(source(`nats://${base}.b?stream=${stream}&consumer=relay`, { env }), openSink('mem://unused'), {
    handleSignals: false,
  });
  await expect(refused.started).rejects.toThrow(`consumer 'relay' of stream '${stream}' takes '${base}.a', not '${base}.b'`);
  await refused.done.catch(() => undefined);
  memTopic('unused').delete();
});

test('a JetStream source for a stream that does not exist fails at start with how to create it', async () => {
  const running = start(source('nats://missing.subject?stream=NO_SUCH_STREAM&consumer=relay', { env }), openSink('mem://unused2'), {
    handleSignals: false,
  });
  await expect(running.started).rejects.toThrow(
    "stream 'NO_SUCH_STREAM' does not exist; create it first, for example: nats stream add NO_SUCH_STREAM",
  );
  await running.done.catch(() => undefined);
  memTopic('unused2').delete();
});

test("a message larger than the server's max_payload fails at once as permanent (core and JetStream)", async () => {
  const { subject } = await newStream('LARGE');
  const tooLarge = Buffer.alloc((shared.connection.info?.max_payload ?? 1024 * 1024) + 1, 'x');
  for (const uri of [`nats://${subject}`, `nats://${subject}?jetstream=true`]) {
    const error = await write(openSink(uri), { body: tooLarge });
    expect(error?.name).toBe('PermanentError');
    expect(error?.message).toContain('max_payload');
  }
  // the limit counts the headers too
  const nearLimit = Buffer.alloc(shared.connection.info?.max_payload ?? 1024 * 1024, 'x');
  const error = await write(openSink(`nats://${subject}`), { body: nearLimit, metadata: { padding: 'y'.repeat(100) } });
  expect(error?.name).toBe('PermanentError');
});

test("a message larger than the stream's max_msg_size fails at once as permanent (JetStream API code 10054)", async () => {
  const stream = uniqueSubject('SMALL');
  await shared.manager.streams.add({ name: stream, subjects: [`test.${stream}`], max_msg_size: 64 });
  streams.push(stream);
  const error = await write(openSink(`nats://test.${stream}?jetstream=true`), { body: 'x'.repeat(100) });
  expect(error?.name).toBe('PermanentError');
  expect(error?.message).toContain('message size exceeds maximum allowed');
});

test('run() warns that a core NATS source is at most once when its sink can fail, and not for an in-process sink', async () => {
  const subject = `test.${uniqueSubject('warn')}`;
  const { logger, lines } = capturingLogger('warn');
  const toHttp = start(source(`nats://${subject}`, { env }), openSink('http://127.0.0.1:9/never'), { handleSignals: false, logger });
  const toMemory = start(source(`nats://${subject}`, { env }), openSink(`mem://${uniqueSubject('fine')}`), {
    handleSignals: false,
    logger,
  });
  await Promise.all([toHttp.started, toMemory.started]);
  const warnings = lines()
    .map((line) => line.msg)
    .filter((msg) => msg.includes('is at most once'));
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toContain('http://127.0.0.1:9/never');
  expect(warnings[0]).toContain('nats://SUBJECT?stream=STREAM&consumer=NAME');
  await Promise.all([toHttp.stop(), toMemory.stop()]);
});
