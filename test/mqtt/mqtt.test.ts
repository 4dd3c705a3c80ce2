// mqtt:// against the shared Mosquitto (127.0.0.1:1883): what the sink publishes (QoS, retain, user properties),
// what the source delivers (metadata, wildcards, the topic), PUBACK only after settlement with a persistent session
// (an unacked message comes back after a restart, an acked one does not, messages published while it was away
// arrive), nack and the dead letter, shared subscriptions, MQTT 3.1.1, and the URI checks. Topics are unique to the
// test; the sessions the sources leave on the broker are removed.
import type { MqttClient } from 'mqtt';
import { source, sink } from '../../lib/endpoints';
import { memTopic } from '../../lib/connectors/local/mem';
import { ConfigError } from '../../lib/errors';
import type { Message } from '../../lib/message';
import { TestEndpoints, send } from '../helpers/endpoints';
import { sleep, waitFor } from '../helpers/wait';
import { collectFrom, connectClient, env, publish, removeSession, uniqueTopic } from './helpers';

const endpoints = new TestEndpoints(env);
const sessions: string[] = [];
let client: MqttClient;

/** A client id for a source, whose session is removed after the test. */
function clientId(name: string): string {
  const id = `wp-test-${name}-${process.pid}-${Date.now().toString(36)}`;
  sessions.push(id);
  return id;
}

beforeAll(async () => {
  client = await connectClient();
});
afterEach(async () => {
  await endpoints.closeAll();
  for (const id of sessions.splice(0)) await removeSession(id).catch(() => undefined);
});
afterAll(async () => {
  await client.endAsync();
});

describe('sink', () => {
  test('QoS 1: acked on PUBACK; metadata as user properties, id and key in x-message-id and x-message-key, content-type as the property', async () => {
    const topic = uniqueTopic('sink');
    const received = await collectFrom(client, topic);
    const out = endpoints.openSink(`mqtt://${topic}`);
    const outcomes = await send(out, [
      {
        id: 'm-1',
        key: 'k-1',
        body: Buffer.from([0, 1, 255]),
        metadata: { 'x-a': 'one', 'content-type': 'application/octet-stream', 'mqtt-topic': 'from/elsewhere' },
      },
      { id: 'm-2', body: 'two' },
    ]);
    expect(outcomes).toEqual([undefined, undefined]);
    await waitFor(() => received.length === 2, 'two messages');
    const first = received.find((packet) => packet.properties?.userProperties?.['x-message-id'] === 'm-1');
    expect(first?.payload).toEqual(Buffer.from([0, 1, 255]));
    expect(first?.qos).toBe(1);
    expect(first?.properties?.userProperties).toEqual({ 'x-message-id': 'm-1', 'x-message-key': 'k-1', 'x-a': 'one' });
    expect(first?.properties?.contentType).toBe('application/octet-stream');
    await client.unsubscribeAsync(topic);
  });

  test('?message_id=false leaves x-message-id out; a message with nothing else to send goes without properties', async () => {
    const topic = uniqueTopic('noid');
    const received = await collectFrom(client, topic);
    const out = endpoints.openSink(`mqtt://${topic}?message_id=false`);
    // the second has no key, metadata or content type: an empty user property list would make mqtt-packet drop the
    // PUBLISH without a word, and the write would wait for a PUBACK that never comes
    const outcomes = await send(out, [
      { id: 'm-1', key: 'k-1', body: 'one', metadata: { 'x-a': 'one' } },
      { id: 'm-2', body: 'two' },
      { id: 'm-3', body: 'three', metadata: { 'content-type': 'text/plain' } },
    ]);
    expect(outcomes).toEqual([undefined, undefined, undefined]);
    await waitFor(() => received.length === 3, 'three messages');
    const byBody = new Map(received.map((packet) => [packet.payload.toString(), packet]));
    expect(byBody.get('one')?.properties?.userProperties).toEqual({ 'x-message-key': 'k-1', 'x-a': 'one' });
    expect(byBody.get('two')?.properties?.userProperties).toBeUndefined();
    expect(byBody.get('three')?.properties?.userProperties).toBeUndefined();
    expect(byBody.get('three')?.properties?.contentType).toBe('text/plain');
    await client.unsubscribeAsync(topic);
  });

  test('?retain=true publishes retained messages; ?qos=0 publishes at QoS 0', async () => {
    const topic = uniqueTopic('retain');
    const out = endpoints.openSink(`mqtt://${topic}?retain=true`);
    expect(await send(out, [{ body: 'last value' }])).toEqual([undefined]);
    // a subscriber that comes later still gets it
    const later = await connectClient();
    const received = await collectFrom(later, topic);
    await waitFor(() => received.length === 1, 'the retained message');
    expect(received[0].retain).toBe(true);
    expect(received[0].payload.toString()).toBe('last value');
    await publish(client, topic, [''], { retain: true }); // clears the retained message
    await later.endAsync();

    const qos0 = uniqueTopic('qos0');
    const got = await collectFrom(client, qos0);
    expect(await send(endpoints.openSink(`mqtt://${qos0}?qos=0`), [{ body: 'fire and forget' }])).toEqual([undefined]);
    await waitFor(() => got.length === 1, 'the QoS 0 message');
    expect(got[0].qos).toBe(0);
    await client.unsubscribeAsync(qos0);
  });
});

describe('source', () => {
  test('round trip: user properties become metadata, the topic is mqtt-topic and (without x-message-key) the key; wildcards + and #', async () => {
    const base = uniqueTopic('wild');
    const plus = endpoints.collect(`mqtt://${base}/+/temp?client_id=${clientId('plus')}`);
    const hash = endpoints.collect(`mqtt://${base}/#?client_id=${clientId('hash')}`);
    await sleep(300);
    await client.publishAsync(`${base}/a/temp`, 'one', {
      qos: 1,
      properties: { userProperties: { 'x-message-id': 'id-1', sensor: 'a' }, contentType: 'text/plain' },
    });
    await client.publishAsync(`${base}/b/humidity`, 'two', { qos: 1, properties: { userProperties: { 'x-message-key': 'k' } } });
    await waitFor(() => plus.length === 1 && hash.length === 2, 'the messages');
    expect(plus[0].id).toBe('id-1');
    expect(plus[0].key).toBe(`${base}/a/temp`);
    expect(plus[0].metadata).toEqual({ sensor: 'a', 'content-type': 'text/plain', 'mqtt-topic': `${base}/a/temp` });
    const humidity = hash.find((message) => message.text() === 'two');
    expect(humidity?.key).toBe('k');
    expect(humidity?.metadata['mqtt-topic']).toBe(`${base}/b/humidity`);
    for (const message of [...plus, ...hash]) message.ack();
  });

  test('PUBACK after settlement: an unacked message comes back after a restart, an acked one does not; messages published meanwhile arrive', async () => {
    const topic = uniqueTopic('session');
    const uri = `mqtt://${topic}?client_id=${clientId('session')}`;
    const first = endpoints.collect(uri);
    await sleep(300);
    await publish(client, topic, ['acked', 'unacked']);
    await waitFor(() => first.length === 2, 'two messages');
    first.find((message) => message.text() === 'acked')?.ack();
    await sleep(100); // the PUBACK on its way
    endpoints.unsubscribeAll(); // stops without settling 'unacked': no PUBACK
    await waitFor(() => first.every((message) => message.settled), 'the close');
    await publish(client, topic, ['while away']);
    const second = endpoints.collect(uri);
    await waitFor(() => second.length === 2, 'the unacked message and the one published meanwhile');
    await sleep(300);
    expect(second.map((message) => message.text()).sort()).toEqual(['unacked', 'while away']);
    for (const message of second) message.ack();
  });

  test('nack: the message is delivered again after nack_delay; MAX_DELIVERIES sends it to the dead letter', async () => {
    const topic = uniqueTopic('nack');
    const received = endpoints.collect(`mqtt://${topic}?client_id=${clientId('nack')}&nack_delay=50ms`);
    await sleep(300);
    await publish(client, topic, ['retry me']);
    await waitFor(() => received.length === 1, 'the first delivery');
    received[0].nack(new Error('on purpose'));
    await waitFor(() => received.length === 2, 'the redelivery');
    expect(received[1].text()).toBe('retry me');
    received[1].ack();

    const poison = uniqueTopic('poison');
    const deadTopic = `mqtt-dead-${Date.now()}`;
    let deliveries = 0;
    endpoints.subscriptions.push(
      source(`mqtt://${poison}?client_id=${clientId('poison')}&nack_delay=20ms`, {
        env,
        maxDeliveries: 3,
        deadLetter: sink(`mem://${deadTopic}`),
      }).subscribe((message: Message) => {
        deliveries++;
        message.nack(new Error('always fails'));
      }),
    );
    const dead = endpoints.collect(`mem://${deadTopic}`);
    await sleep(300);
    await publish(client, poison, ['poison']);
    await waitFor(() => dead.length === 1, 'the dead letter');
    expect(deliveries).toBe(3);
    dead[0].ack();
    memTopic(deadTopic).delete();
  });

  test('?share=GROUP: copies split the messages of a shared subscription, none twice', async () => {
    const topic = uniqueTopic('shared');
    const group = `g${process.pid}`;
    const a = endpoints.collect(`mqtt://${topic}?share=${group}&client_id=${clientId('share-a')}`);
    const b = endpoints.collect(`mqtt://$share/${group}/${topic}?client_id=${clientId('share-b')}`);
    await sleep(500);
    const bodies = Array.from({ length: 40 }, (_, i) => `m-${i}`);
    await publish(client, topic, bodies);
    await waitFor(() => a.length + b.length === bodies.length, 'every message');
    await sleep(300);
    expect(a.length + b.length).toBe(bodies.length);
    expect(a.length).toBeGreaterThan(0);
    expect(b.length).toBeGreaterThan(0);
    expect(new Set([...a, ...b].map((message) => message.text())).size).toBe(bodies.length);
    for (const message of [...a, ...b]) message.ack();
  });

  test('MQTT 3.1.1 (?version=3.1.1): the same round trip without user properties', async () => {
    const topic = uniqueTopic('v311');
    const received = endpoints.collect(`mqtt://${topic}?version=3.1.1&client_id=${clientId('v311')}`);
    await sleep(300);
    const out = endpoints.openSink(`mqtt://${topic}?version=3.1.1`);
    expect(await send(out, [{ body: 'old protocol', metadata: { dropped: 'yes' } }])).toEqual([undefined]);
    await waitFor(() => received.length === 1, 'the message');
    expect(received[0].text()).toBe('old protocol');
    expect(received[0].metadata).toEqual({ 'mqtt-topic': topic });
    received[0].ack();
  });
});

test('bad URIs are ConfigErrors that show a valid one', () => {
  const bad: [string, RegExp][] = [
    ['mqtt://', /needs a topic/],
    ['mqtt://sensors/te+mp', /'\+' and '#' must be whole levels/],
    ['mqtt://sensors/%23/temp', /'#' the last/],
    ['mqtt://$share//sensors', /not a shared subscription/],
    ['mqtt://$share/g/sensors?share=h', /shared subscription already/],
    ['mqtt://sensors?version=6', /use 5 or 3\.1\.1/],
    ['mqtt://sensors?session_expiry=forever', /not a duration/],
  ];
  for (const [uri, pattern] of bad) expect(() => source(uri, { env })).toThrow(pattern);
  expect(() => sink('mqtt://sensors/+/temp', { env })).toThrow(/has a wildcard/);
  expect(() => sink('mqtt://sensors?qos=2', { env })).toThrow(/\?qos=2 is not supported/);
  expect(() => sink('mqtt://sensors?share=g', { env })).toThrow(/\?share is a source parameter/);
  expect(() => sink('mqtt://sensors?message_id=maybe', { env })).toThrow(/'maybe' is not a boolean/);
  expect(() => source('mqtt://sensors', { env: { MQTT_SERVER_URL: 'http://broker:1883' } })).toThrow(ConfigError);
  expect(() => source('mqtt://sensors', { env: { MQTT_SERVER_URL: 'http://broker:1883' } })).toThrow(
    /an MQTT broker is mqtt:\/\/ or mqtts:\/\//,
  );
  expect(() => source('mqtt://sensors', { env: { MQTT_PASSWORD: 'secret' } })).toThrow(/MQTT_PASSWORD is set without a user name/);
});
