// mqtt:// through the bin: the example word for word (on a private mosquitto and a private redis-server, so
// that its plain names are this test's own), exit 2 with one line for a bad URI and refused credentials, and kill -9
// of the bin mid-way on the shared Mosquitto: the persistent session gives back what was not PUBACKed.
import mqtt from 'mqtt';
import { BinProcess, runBinToEnd } from '../helpers/bin';
import { killMidwayAndRestart, missingIds } from '../helpers/crash';
import { freePort, sleep, waitFor } from '../helpers/wait';
import { PrivateRedis, StreamAdmin, REDIS_URL } from '../redisstream/helpers';
import { MQTT_URL, PrivateMosquitto, connectClient, removeSession, uniqueTopic } from './helpers';

const bins: BinProcess[] = [];
const stops: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const bin of bins.splice(0)) await bin.kill();
  for (const stop of stops.splice(0)) await stop();
});

test('the example SOURCE_URI=mqtt://sensors/+/temp SINK_URI=redis-stream://readings relays each reading with its topic', async () => {
  const broker = new PrivateMosquitto();
  const redis = new PrivateRedis();
  stops.push(() => broker.stop(), () => redis.stop());
  await broker.start();
  await redis.start();
  const bin = new BinProcess({
    SOURCE_URI: 'mqtt://sensors/+/temp',
    SINK_URI: 'redis-stream://readings',
    MQTT_SERVER_URL: broker.url,
    REDIS_SERVER_URL: redis.url,
  });
  bins.push(bin);
  await bin.started();
  const publisher = await connectClient(broker.url);
  await publisher.publishAsync('sensors/kitchen/temp', '{"celsius":21.5}', { qos: 1 });
  await publisher.publishAsync('sensors/kitchen/humidity', '{"percent":40}', { qos: 1 });
  await publisher.publishAsync('sensors/garage/temp', '{"celsius":9}', { qos: 1 });
  await publisher.endAsync();
  const readings = new StreamAdmin(redis.url);
  await readings.client.connect();
  try {
    await waitFor(async () => (await readings.length('readings')) >= 2, 'two readings');
    await sleep(300);
    const entries = await readings.entries('readings');
    expect(entries.map((entry) => [entry.fields.body, entry.fields.key, entry.fields['mqtt-topic']])).toEqual([
      ['{"celsius":21.5}', 'sensors/kitchen/temp', 'sensors/kitchen/temp'],
      ['{"celsius":9}', 'sensors/garage/temp', 'sensors/garage/temp'],
    ]);
  } finally {
    readings.client.disconnect();
  }
  expect(await bin.terminate()).toBe(0);
});

describe('exit 2 with one line that names the problem', () => {
  test('a topic filter with a wildcard inside a level', async () => {
    const run = await runBinToEnd({ SOURCE_URI: 'mqtt://sensors/te+mp', SINK_URI: 'stdout://', MQTT_SERVER_URL: MQTT_URL });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("wasm-pipes: SOURCE_URI: 'sensors/te+mp' is not a valid topic filter: '+' and '#' must be whole levels");
  });

  test('refused credentials, for a source and for a sink, the password never printed', async () => {
    const broker = new PrivateMosquitto({ users: { relay: 'right-password' } });
    stops.push(() => broker.stop());
    await broker.start();
    for (const uris of [
      { SOURCE_URI: 'mqtt://sensors/+/temp', SINK_URI: 'stdout://' },
      { SOURCE_URI: `http://127.0.0.1:${await freePort()}/events`, SINK_URI: 'mqtt://sensors/relayed' },
    ]) {
      const run = await runBinToEnd({ ...uris, MQTT_SERVER_URL: broker.url, MQTT_USERNAME: 'relay', MQTT_PASSWORD: 'wrong-password' });
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(
        new RegExp(`wasm-pipes: MQTT_SERVER_URL: mqtt \\(127\\.0\\.0\\.1:${broker.port}\\): the broker refused the connection: (not authorized|bad user name or password) \\(reason code 13[45]\\)`),
      );
      expect(run.stderr).not.toContain('wrong-password');
    }
  });
});

test('kill -9 mid-way and restart: every message published reaches the output (nothing PUBACKed before it was written)', async () => {
  const total = 3000;
  const topic = uniqueTopic('crash');
  const clientId = `wp-crash-${process.pid}-${Date.now().toString(36)}`;
  const redis = new StreamAdmin(REDIS_URL);
  await redis.client.connect();
  const output = redis.stream('mqtt-crash-out');
  stops.push(async () => {
    await removeSession(clientId).catch(() => undefined);
    await redis.close();
  });
  // the relay's session exists before the first message: the broker queues for it while the relay is down
  const session = await connectClient(MQTT_URL, { clientId, clean: false, properties: { sessionExpiryInterval: 600 } });
  await session.subscribeAsync(topic, { qos: 1 });
  await session.endAsync();

  // the producer keeps the backlog under 400, well inside Mosquitto's queue of 1 000 for an offline session
  const producer = await mqtt.connectAsync(MQTT_URL, { protocolVersion: 5, reconnectPeriod: 0 });
  let published = 0;
  let stopProducing = false;
  const producing = (async () => {
    while (published < total && !stopProducing) {
      if (published - (await redis.length(output)) >= 400) {
        await sleep(5);
        continue;
      }
      const batch = Array.from({ length: Math.min(50, total - published) }, (_, i) => published + i);
      await Promise.all(batch.map((n) => producer.publishAsync(topic, `{"n":${n}}`, { qos: 1, properties: { userProperties: { 'x-message-id': `crash-${n}` } } })));
      published += batch.length;
    }
  })();
  stops.push(async () => {
    stopProducing = true;
    await producing.catch(() => undefined);
    await producer.endAsync();
  });

  const env = {
    MQTT_SERVER_URL: MQTT_URL,
    REDIS_SERVER_URL: REDIS_URL,
    SOURCE_URI: `mqtt://${topic}?client_id=${clientId}`,
    SINK_URI: `redis-stream://${output}`,
    MAX_IN_FLIGHT: '200',
    SINK_CONCURRENCY: '1',
  };
  const second = await killMidwayAndRestart(env, bins, total, () => redis.length(output), 'the output stream');
  await producing;
  const ids = async (): Promise<Set<string>> => new Set((await redis.entries(output)).map((entry) => entry.fields.id));
  await waitFor(async () => (await ids()).size >= total, 'every message in the output stream', 60_000, 100);
  expect(await second.terminate()).toBe(0);
  expect(missingIds(await ids(), 'crash-', total)).toEqual([]);
});
