// Helpers of the NATS tests: a management connection to the shared server, streams with unique names, reading what a
// stream holds, and a private nats-server started on a free port (for tests that stop it), stopped by its PID.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, AckPolicy, StorageType, type ConsumerConfig, type JetStreamManager } from '@nats-io/jetstream';
import { uniqueName } from '../helpers/wait';
import { PrivateNatsServer } from '../helpers/natsServer';
import type { BinProcess } from '../helpers/bin';
import { TestEndpoints } from '../helpers/endpoints';

export const NATS_URL = '127.0.0.1:4222';

export async function natsConnection(servers = NATS_URL): Promise<NatsConnection> {
  return connect({ servers, name: 'wasm-pipes tests' });
}

/** A subject and a stream name unique to this run (subjects with dots, stream names without). */
export function uniqueSubject(prefix: string): string {
  return uniqueName(prefix).replace(/[^a-zA-Z0-9]+/g, '_');
}

export async function createStream(
  manager: JetStreamManager,
  name: string,
  subjects: string[],
  storage: 'memory' | 'file' = 'memory',
): Promise<void> {
  await manager.streams.add({ name, subjects, storage: storage === 'memory' ? StorageType.Memory : StorageType.File });
}

export async function deleteStream(manager: JetStreamManager, name: string): Promise<void> {
  await manager.streams.delete(name).catch(() => undefined);
}

/** A message as a stream stores it: the id (x-message-id, else Nats-Msg-Id), the Nats-Msg-Id, the subject, the body. */
export interface StoredMessage {
  id: string;
  dedupeId: string;
  subject: string;
  body: string;
}

/** Every message of a stream, read with a throwaway consumer that acks nothing. */
export async function readStream(connection: NatsConnection, stream: string): Promise<StoredMessage[]> {
  const manager = await jetstreamManager(connection);
  const info = await manager.streams.info(stream);
  const total = info.state.messages;
  const name = uniqueSubject('reader');
  await manager.consumers.add(stream, { name, ack_policy: AckPolicy.None, inactive_threshold: 60_000_000_000 });
  const consumer = await manager.jetstream().consumers.get(stream, name);
  const out: StoredMessage[] = [];
  while (out.length < total) {
    const batch = await consumer.fetch({ max_messages: Math.min(5000, total - out.length), expires: 2000 });
    let got = 0;
    for await (const message of batch) {
      got++;
      const dedupeId = message.headers?.get('Nats-Msg-Id') ?? '';
      out.push({ id: message.headers?.get('x-message-id') || dedupeId, dedupeId, subject: message.subject, body: message.string() });
    }
    if (got === 0) break;
  }
  await manager.consumers.delete(stream, name).catch(() => undefined);
  return out;
}

export { jetstreamManager, PrivateNatsServer };

/**
 * A private server for a test file that runs the bin against it: started before the file's tests; after them, the
 * bins pushed into `bins` are killed and the server is stopped.
 */
export function privateNatsServerForFile(): { server: PrivateNatsServer; bins: BinProcess[] } {
  const server = new PrivateNatsServer();
  const bins: BinProcess[] = [];
  beforeAll(async () => {
    await server.start();
  });
  afterAll(async () => {
    for (const bin of bins) await bin.kill();
    await server.stop();
  });
  return { server, bins };
}

/** The shared server as a test file that makes JetStream streams sees it: see sharedJetStreamForFile(). */
export class SharedJetStream {
  readonly env = { NATS_SERVER_URL: NATS_URL };
  readonly endpoints = new TestEndpoints(this.env);
  /** A management connection, open from before the file's first test until after its last. */
  connection!: NatsConnection;
  manager!: JetStreamManager;
  /** Streams to delete after the current test. */
  readonly streams: string[] = [];

  /**
   * A stream of a unique name (memory storage) that captures `test.<its name>`, deleted after the test, holding
   * `messages` numbered messages (see publishNumbered()).
   */
  readonly newStream = async (prefix: string, messages = 0): Promise<{ stream: string; subject: string }> => {
    const stream = uniqueSubject(prefix);
    const subject = `test.${stream}`;
    await createStream(this.manager, stream, [subject]);
    this.streams.push(stream);
    await this.publishNumbered(subject, 0, messages);
    return { stream, subject };
  };

  /** Publishes `count` messages m<from>, m<from + 1>... with the message ids m-<from>, m-<from + 1>..., in that order. */
  readonly publishNumbered = async (subject: string, from: number, count: number): Promise<void> => {
    const js = jetstream(this.connection);
    await Promise.all(Array.from({ length: count }, (_, i) => js.publish(subject, `m${from + i}`, { msgID: `m-${from + i}` })));
  };

  /** Adds the durable consumer `relay` with explicit acks and `config`, as an earlier copy of the pipeline could have. */
  readonly addRelayConsumer = async (stream: string, config: Partial<ConsumerConfig>): Promise<void> => {
    await this.manager.consumers.add(stream, { durable_name: 'relay', ack_policy: AckPolicy.Explicit, ...config });
  };
}

/**
 * The shared server for a test file that makes JetStream streams: the management connection is opened before the
 * file's tests and closed after them; after each test, the endpoints are closed and the streams deleted.
 */
export function sharedJetStreamForFile(): SharedJetStream {
  const shared = new SharedJetStream();
  beforeAll(async () => {
    shared.connection = await natsConnection();
    shared.manager = await jetstreamManager(shared.connection);
  });
  afterEach(async () => {
    await shared.endpoints.closeAll();
    for (const stream of shared.streams.splice(0)) await deleteStream(shared.manager, stream);
  });
  afterAll(async () => {
    await shared.connection.close();
  });
  return shared;
}
