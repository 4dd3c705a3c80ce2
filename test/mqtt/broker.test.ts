// mqtt:// against private mosquitto copies on free ports: user and password, TLS with the broker's CA and a client
// certificate (one from another CA is refused), and a relay that outlives a restart of its broker: it reconnects,
// resumes its session, PUBACKs what it settled meanwhile without delivering it twice, and loses nothing.
import { firstValueFrom } from 'rxjs';
import { source } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { ConfigError, ConnectorError } from '../../lib/errors';
import type { Message } from '../../lib/message';
import type { Sink } from '../../lib/sink';
import { TestEndpoints, send } from '../helpers/endpoints';
import { sleep, waitFor } from '../helpers/wait';
import { PrivateMosquitto, collectFrom, connectClient } from './helpers';

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function broker(options: ConstructorParameters<typeof PrivateMosquitto>[0] = {}): Promise<PrivateMosquitto> {
  const started = new PrivateMosquitto(options);
  stops.push(() => started.stop());
  await started.start();
  return started;
}

function endpoints(env: NodeJS.ProcessEnv): TestEndpoints {
  const opened = new TestEndpoints(env);
  stops.push(() => opened.closeAll());
  return opened;
}

async function startError(uri: string, env: NodeJS.ProcessEnv): Promise<Error> {
  try {
    await firstValueFrom(source(uri, { env }));
  } catch (error) {
    return error as Error;
  }
  throw new Error('the source started');
}

test('user and password: accepted ones relay, refused ones stop the start with a ConfigError', async () => {
  const server = await broker({ users: { relay: 'right-password' } });
  const env = { MQTT_SERVER_URL: server.url, MQTT_USERNAME: 'relay', MQTT_PASSWORD: 'right-password' };
  const opened = endpoints(env);
  const received = opened.collect('mqtt://auth/test?client_id=auth-source');
  await sleep(300);
  // the credentials may also be in the URL
  const out = opened.openSink('mqtt://auth/test', { env: { MQTT_SERVER_URL: `mqtt://relay:right-password@127.0.0.1:${server.port}` } });
  expect(await send(out, [{ body: 'signed in' }])).toEqual([undefined]);
  await waitFor(() => received.length === 1, 'the message');
  received[0].ack();

  const refused = await startError('mqtt://auth/test', { ...env, MQTT_PASSWORD: 'wrong-password' });
  expect(refused).toBeInstanceOf(ConfigError);
  expect(refused.message).toMatch(/the broker refused the connection: (not authorized|bad user name or password)/);
});

test('TLS: mqtts:// with the broker CA (MQTT_TLS_CA) and a client certificate (MQTT_TLS_CERT, MQTT_TLS_KEY)', async () => {
  const server = await broker({ tls: { requireClientCert: true } });
  const files = server.tlsFiles as NonNullable<typeof server.tlsFiles>;
  const env = {
    MQTT_SERVER_URL: `127.0.0.1:${server.port}`,
    MQTT_TLS_CA: files.ca,
    MQTT_TLS_CERT: files.clientCert,
    MQTT_TLS_KEY: files.clientKey,
  };
  const opened = endpoints(env);
  const received = opened.collect('mqtts://secure/readings?client_id=tls-source');
  await sleep(300);
  expect(await send(opened.openSink('mqtts://secure/readings'), [{ body: 'over TLS' }])).toEqual([undefined]);
  await waitFor(() => received.length === 1, 'the message over TLS');
  expect(received[0].text()).toBe('over TLS');
  received[0].ack();

  // a certificate the broker's CA did not sign: the handshake fails until MQTT_CONNECT_TIMEOUT
  const stranger = await startError('mqtts://secure/readings', {
    ...env,
    MQTT_TLS_CERT: files.strangerCert,
    MQTT_TLS_KEY: files.strangerKey,
    MQTT_CONNECT_TIMEOUT: '1500ms',
  });
  expect(stranger).toBeInstanceOf(ConnectorError);
  expect(stranger.message).toContain(`mqtts (127.0.0.1:${server.port}): could not connect within MQTT_CONNECT_TIMEOUT`);
  // a key that is not the certificate's is a ConfigError before any connection
  expect(() => source('mqtts://secure/readings', { env: { ...env, MQTT_TLS_KEY: files.strangerKey } })).toThrow(/not a valid PEM pair/);
});

test('a broker restart: the relay reconnects, resumes its session, settles what it held without taking it twice, and loses nothing', async () => {
  const server = await broker();
  const env = { MQTT_SERVER_URL: server.url };
  const written: Message[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  // a sink that holds the first messages until the broker was restarted
  const holding: Sink = {
    name: 'holding',
    ready: true,
    next: (message) => {
      written.push(message);
      if (written.length <= 3) void released.then(() => message.ack());
      else message.ack();
    },
    error: () => undefined,
    complete: () => undefined,
    close: async () => undefined,
  };
  const running = start(source('mqtt://plant/+/pressure?client_id=restart-relay', { env }), holding, { handleSignals: false });
  stops.push(() => running.stop());
  await running.started;
  const publisher = await connectClient(server.url, { reconnectPeriod: 200 });
  stops.push(() => publisher.endAsync());
  for (let i = 0; i < 3; i++) await publisher.publishAsync(`plant/${i}/pressure`, `before-${i}`, { qos: 1 });
  await waitFor(() => written.length === 3, 'three messages held by the sink');

  await server.terminate(); // mosquitto saves its sessions and the three unacked messages on the way out
  release(); // settled while the broker is away: their PUBACKs wait for the resumed session
  await sleep(300);
  await server.start();
  await waitFor(() => publisher.connected, 'the publisher back');
  for (let i = 0; i < 3; i++) await publisher.publishAsync(`plant/${i}/pressure`, `after-${i}`, { qos: 1 });
  await waitFor(() => written.length >= 6, 'the messages published after the restart');
  await sleep(500);
  // the broker sent the three unacked ones again on the resumed session: PUBACKed, not delivered twice
  expect(written.map((message) => message.text()).sort()).toEqual(['after-0', 'after-1', 'after-2', 'before-0', 'before-1', 'before-2']);
  await running.stop();

  // nothing left unacked in the session: a new run of the same relay gets nothing
  const again = endpoints(env).collect('mqtt://plant/+/pressure?client_id=restart-relay');
  await sleep(800);
  expect(again).toHaveLength(0);
  const probe = await connectClient(server.url);
  const echoed = await collectFrom(probe, 'plant/#');
  await publisher.publishAsync('plant/9/pressure', 'probe', { qos: 1 });
  await waitFor(() => echoed.length === 1 && again.length === 1, 'the session still subscribed');
  again[0].ack();
  await probe.endAsync();
});
