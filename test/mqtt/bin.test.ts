// mqtt:// through the bin: the example word for word (on a private mosquitto and a private redis-server, so
// that its plain names are this test's own), and exit 2 with one line for a bad URI and refused credentials (kill -9
// of the bin mid-way is the conformance suite's crash test).
import { BinProcess, runBinToEnd } from '../helpers/bin';
import { freePort, sleep, waitFor } from '../helpers/wait';
import { PrivateRedis, StreamAdmin } from '../redisstream/helpers';
import { MQTT_URL, PrivateMosquitto, connectClient } from './helpers';

const bins: BinProcess[] = [];
const stops: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const bin of bins.splice(0)) await bin.kill();
  for (const stop of stops.splice(0)) await stop();
});

test('the example SOURCE_URI=mqtt://sensors/+/temp SINK_URI=redis-stream://readings relays each reading with its topic', async () => {
  const broker = new PrivateMosquitto();
  const redis = new PrivateRedis();
  stops.push(
    () => broker.stop(),
    () => redis.stop(),
  );
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
        new RegExp(
          `wasm-pipes: MQTT_SERVER_URL: mqtt \\(127\\.0\\.0\\.1:${broker.port}\\): the broker refused the connection: (not authorized|bad user name or password) \\(reason code 13[45]\\)`,
        ),
      );
      expect(run.stderr).not.toContain('wrong-password');
    }
  });
});
