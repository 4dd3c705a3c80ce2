// The conformance suite on the shared NATS server (127.0.0.1:4222): core NATS (at most once, so no redelivery) and
// JetStream (a durable consumer fed by the PubAck-confirming sink), each test on its own subject and stream.
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import { conformanceSuite } from './suite';
import { natsConnection, uniqueSubject, createStream, deleteStream, jetstreamManager, NATS_URL } from '../nats/helpers';

const env = { NATS_SERVER_URL: NATS_URL };

conformanceSuite({
  name: 'nats:// (core NATS)',
  redelivery: false,
  subscribeFirst: true,
  keys: true,
  sourceOptions: { env },
  sinkOptions: { env },
  async endpoints() {
    const subject = `conformance.${uniqueSubject('core')}`;
    return { sourceUri: `nats://${subject}`, sinkUri: `nats://${subject}` };
  },
});

let connection: NatsConnection;
let manager: JetStreamManager;

conformanceSuite({
  name: 'nats:// (JetStream durable consumer <- ?jetstream=true sink)',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  sourceOptions: { env },
  sinkOptions: { env },
  async beforeAll() {
    connection = await natsConnection();
    manager = await jetstreamManager(connection);
  },
  async afterAll() {
    await connection.close();
  },
  async endpoints() {
    const stream = uniqueSubject('CONF');
    const subject = `conformance.${stream}`;
    await createStream(manager, stream, [subject]);
    return {
      sourceUri: `nats://${subject}?stream=${stream}&consumer=relay&nak_delay=100ms`,
      sinkUri: `nats://${subject}?jetstream=true`,
      cleanup: () => deleteStream(manager, stream),
    };
  },
});
