// Helpers of the MQTT tests: clients of the shared Mosquitto (127.0.0.1:1883) to publish and read with, topics unique
// to the test, removal of the persistent sessions a test's sources left on the broker, and a private mosquitto on a
// free port (its own config, persistence, password file or TLS files in a temporary folder), stopped by its PID.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient, type IClientOptions, type IPublishPacket } from 'mqtt';
import { freePort, sleep, uniqueName, waitFor } from '../helpers/wait';

export const MQTT_URL = 'mqtt://127.0.0.1:1883';
export const env = { MQTT_SERVER_URL: MQTT_URL };

/** A topic prefix unique to this run: `wp-test/<name>`. */
export function uniqueTopic(prefix: string): string {
  return `wp-test/${uniqueName(prefix)}`;
}

/** A connected client (MQTT 5 unless `options` says otherwise). */
export async function connectClient(url = MQTT_URL, options: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, clientId: uniqueName('wp-test-client'), ...options });
}

/** Publishes each body (or [body, options]) with QoS 1 and waits for every PUBACK. */
export async function publish(
  client: MqttClient,
  topic: string,
  bodies: readonly (string | Buffer)[],
  options: mqtt.IClientPublishOptions = {},
): Promise<void> {
  await Promise.all(bodies.map((body) => client.publishAsync(topic, body, { qos: 1, ...options })));
}

/** Subscribes `client` to `filter` and keeps what arrives. */
export async function collectFrom(client: MqttClient, filter: string): Promise<IPublishPacket[]> {
  const received: IPublishPacket[] = [];
  client.on('message', (_topic, _payload, packet) => received.push(packet));
  await client.subscribeAsync(filter, { qos: 1 });
  return received;
}

/** Ends the persistent session of `clientId` on the broker: connects with a clean start and no session expiry. */
export async function removeSession(clientId: string, url = MQTT_URL, options: IClientOptions = {}): Promise<void> {
  const client = await mqtt.connectAsync(url, {
    protocolVersion: 5,
    clientId,
    clean: true,
    reconnectPeriod: 0,
    properties: { sessionExpiryInterval: 0 },
    ...options,
  });
  await client.endAsync();
}

function waitForLog(read: () => string, pattern: RegExp, child: ChildProcess, timeoutMs: number): Promise<void> {
  return waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`mosquitto exited: ${read()}`);
      return pattern.test(read());
    },
    `mosquitto to listen (${pattern})`,
    timeoutMs,
  );
}

export interface PrivateMosquittoOptions {
  /** user -> password: anonymous clients are refused. */
  users?: Record<string, string>;
  /** Serve TLS with a CA, a server certificate and (requireClientCert) client certificates made here with openssl. */
  tls?: { requireClientCert: boolean };
  /** Most QoS 1 messages queued for an offline session (mosquitto's default is 1000; 0 = no limit). */
  maxQueuedMessages?: number;
  /** Most unacked QoS 1 messages in flight to one client (mosquitto's default is 20; 0 = no limit). */
  maxInflightMessages?: number;
}

/** Files of the private broker's TLS: the CA, and a client certificate it signed. */
export interface TlsFixture {
  ca: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate from another CA: the broker refuses it. */
  strangerCert: string;
  strangerKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

/** A CA, a server certificate for 127.0.0.1 and localhost, a client certificate, and a client certificate of another CA. */
function makeCertificates(dir: string): TlsFixture & { serverCert: string; serverKey: string } {
  const subject = (name: string): string[] => ['-subj', `/CN=${name}`];
  // every key is a new unencrypted RSA key, every certificate good for two days
  const newKey = (name: string): string[] => ['-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`];
  const validity = ['-days', '2'];
  for (const ca of ['ca', 'other-ca']) {
    openssl(['req', '-x509', ...newKey(ca), ...validity, '-out', `${ca}.pem`, ...subject(`wasm-pipes test ${ca}`)], dir);
  }
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const issue = (name: string, ca: string, ext?: string): void => {
    openssl(['req', ...newKey(name), '-out', `${name}.csr`, ...subject(name)], dir);
    const signedBy = ['-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial'];
    openssl(
      ['x509', '-req', '-in', `${name}.csr`, ...signedBy, ...validity, '-out', `${name}.pem`, ...(ext ? ['-extfile', ext] : [])],
      dir,
    );
  };
  issue('server', 'ca', 'server.ext');
  issue('client', 'ca');
  issue('stranger', 'other-ca');
  const file = (name: string): string => path.join(dir, name);
  return {
    ca: file('ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
    strangerCert: file('stranger.pem'),
    strangerKey: file('stranger.key'),
  };
}

/** A mosquitto of our own on a free port of 127.0.0.1, with persistence in a temporary folder. */
export class PrivateMosquitto {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-mosquitto-'));
  port = 0;
  tlsFiles: TlsFixture | undefined;
  private child: ChildProcess | undefined;
  private log = '';

  constructor(private readonly options: PrivateMosquittoOptions = {}) {}

  get url(): string {
    return `${this.options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    if (!fs.existsSync(path.join(this.dir, 'mosquitto.conf'))) this.writeConfig();
    this.log = '';
    const child = spawn('mosquitto', ['-c', path.join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.on('data', (chunk) => (this.log += String(chunk)));
    child.stderr?.on('data', (chunk) => (this.log += String(chunk)));
    await waitForLog(() => this.log, new RegExp(`Opening ipv4 listen socket on port ${this.port}`), child, 15_000);
    await sleep(50);
  }

  private writeConfig(): void {
    const lines = [
      `listener ${this.port} 127.0.0.1`,
      // started as root, mosquitto would switch to the mosquitto user, who cannot read this private folder
      `user ${os.userInfo().username}`,
      'persistence true',
      `persistence_location ${this.dir}/`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      `max_queued_messages ${this.options.maxQueuedMessages ?? 1000}`,
      `max_inflight_messages ${this.options.maxInflightMessages ?? 20}`,
    ];
    if (this.options.users !== undefined) {
      const passwords = path.join(this.dir, 'passwords');
      fs.writeFileSync(passwords, '');
      for (const [user, password] of Object.entries(this.options.users))
        execFileSync('mosquitto_passwd', ['-b', passwords, user, password], { stdio: 'ignore' });
      lines.push('allow_anonymous false', `password_file ${passwords}`);
    } else if (this.options.tls === undefined) {
      lines.push('allow_anonymous true');
    }
    if (this.options.tls !== undefined) {
      const files = makeCertificates(this.dir);
      this.tlsFiles = files;
      lines.push(`cafile ${files.ca}`, `certfile ${files.serverCert}`, `keyfile ${files.serverKey}`);
      if (this.options.tls.requireClientCert) lines.push('require_certificate true', 'use_identity_as_username true');
      else if (this.options.users === undefined) lines.push('allow_anonymous true');
    }
    fs.writeFileSync(path.join(this.dir, 'mosquitto.conf'), `${lines.join('\n')}\n`);
  }

  /** SIGKILL by PID: no goodbye to the clients, the sessions as last saved. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGTERM by PID: mosquitto saves its persistence file (sessions, queued messages) and exits. */
  async terminate(): Promise<void> {
    await this.signal('SIGTERM');
  }

  /** Sends `signal` to the running broker by PID and waits for it to exit; nothing when it is not running. */
  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid as number, signal);
    await exited;
    this.child = undefined;
  }

  async stop(): Promise<void> {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
