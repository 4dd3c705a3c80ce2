// The conformance suite on the shared NATS server (127.0.0.1:4222): core NATS (at most once, so no redelivery) and
// JetStream (a durable consumer fed by the PubAck-confirming sink), each test on its own subject and stream.
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import { conformanceSuite, type ConformanceEndpoints } from './suite';
import { natsConnection, uniqueSubject, createStream, deleteStream, jetstreamManager, NATS_URL } from '../nats/helpers';

const env = { NATS_SERVER_URL: NATS_URL };
// larger than the server's max_payload (1 MiB)
const refused = { body: Buffer.alloc(2 * 1024 * 1024, 'x') };

conformanceSuite({
  name: 'nats:// (core NATS)',
  redelivery: false,
  subscribeFirst: true,
  keys: true,
  env,
  missing: { alwaysExists: 'a core NATS subject needs no declaration' },
  refused,
  async endpoints() {
    const subject = `conformance.${uniqueSubject('core')}`;
    return { sourceUri: `nats://${subject}`, sinkUri: `nats://${subject}` };
  },
});

let connection: NatsConnection;
let manager: JetStreamManager;
// a subject no stream captures, and a stream that does not exist, of one name
const MISSING = uniqueSubject('CONFORMANCE_MISSING');

/** A stream of its own; the crash test gives a short ack wait, so that what the killed process held comes back soon. */
async function streamEndpoints(ackWait?: string): Promise<ConformanceEndpoints> {
  const stream = uniqueSubject('CONF');
  const subject = `conformance.${stream}`;
  await createStream(manager, stream, [subject]);
  return {
    sourceUri: `nats://${subject}?stream=${stream}&consumer=relay&nak_delay=100ms${ackWait === undefined ? '' : `&ack_wait=${ackWait}`}`,
    sinkUri: `nats://${subject}?jetstream=true`,
    cleanup: () => deleteStream(manager, stream),
  };
}

conformanceSuite({
  name: 'nats:// (JetStream durable consumer <- ?jetstream=true sink)',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  env,
  missing: { name: MISSING, sourceUri: `nats://${MISSING}?stream=${MISSING}&consumer=relay`, sinkUri: `nats://${MISSING}?jetstream=true` },
  refused,
  async beforeAll() {
    connection = await natsConnection();
    manager = await jetstreamManager(connection);
  },
  async afterAll() {
    await connection.close();
  },
  endpoints: () => streamEndpoints(),
  crash: { endpoints: () => streamEndpoints('2s') },
});
