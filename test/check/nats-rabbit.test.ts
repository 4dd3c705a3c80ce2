// `wasm-pipes check` against the NATS (JetStream) and RabbitMQ servers running on this machine: what exists passes, what
// is missing or refused is a problem with its fix, and nothing is consumed, published or created.
import type { NatsConnection } from '@nats-io/transport-node';
import { AckPolicy } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { runCheck } from './helpers';
import { natsConnection, jetstreamManager, createStream, deleteStream, uniqueSubject, NATS_URL } from '../nats/helpers';
import { rabbitAdmin, type RabbitAdmin, uniqueQueue, RABBIT_URL } from '../rabbit/helpers';

describe('wasm-pipes check: NATS', () => {
  let connection: NatsConnection;
  let manager: JetStreamManager;
  let stream: string;
  let subject: string;
  beforeAll(async () => {
    connection = await natsConnection();
    manager = await jetstreamManager(connection);
    stream = uniqueSubject('CHECK');
    subject = `check.${stream}`;
    await createStream(manager, stream, [`${subject}.>`]);
  });
  afterAll(async () => {
    await deleteStream(manager, stream);
    await connection.close();
  });

  test('a JetStream stream and consumer, a subject a stream captures, a core subject: exit 0, and no consumer is created', async () => {
    await manager.consumers.add(stream, { durable_name: 'relay', ack_policy: AckPolicy.Explicit, filter_subject: `${subject}.in` });
    const run = await runCheck({
      NATS_SERVER_URL: NATS_URL,
      SOURCE_URI: `nats://${subject}.in?stream=${stream}&consumer=relay`,
      SINK_URI: `nats://${subject}.out?jetstream=true,nats://plain.${stream}`,
    });
    expect(run.problems).toEqual([]);
    expect(run.status).toBe(0);
    expect(run.ok).toEqual([
      `ok  SOURCE_URI      nats://${subject}.in?stream=${stream}&consumer=relay  NATS ${NATS_URL}: stream '${stream}' (0 messages), consumer 'relay' (0 pending, 0 unacked)`,
      `ok  SINK_URI        nats://${subject}.out?jetstream=true  NATS ${NATS_URL}: stream '${stream}' captures '${subject}.out' (0 messages)`,
      `ok  SINK_URI        nats://plain.${stream}  NATS ${NATS_URL}: connected, publishes to 'plain.${stream}' (core NATS)`,
    ]);
    // a consumer the source would create is reported, not made
    const later = await runCheck({
      NATS_SERVER_URL: NATS_URL,
      SOURCE_URI: `nats://${subject}.in?stream=${stream}&consumer=fresh`,
      SINK_URI: 'stdout://',
    });
    expect(later.status).toBe(0);
    expect(later.ok[0]).toContain("consumer 'fresh' does not exist yet: the source creates it at start");
    const consumers: string[] = [];
    for await (const page of manager.consumers.list(stream)) consumers.push(page.name);
    expect(consumers).toEqual(['relay']);
  });

  test('a missing stream, a subject no stream captures, a server out of reach: exit 2, a line each', async () => {
    const run = await runCheck({
      NATS_SERVER_URL: NATS_URL,
      SOURCE_URI: `nats://${subject}.in?stream=NO_${stream}&consumer=relay`,
      SINK_URI: `nats://nowhere.${stream}?jetstream=true`,
    });
    expect(run.status).toBe(2);
    expect(run.problems).toEqual([
      `wasm-pipes check: SOURCE_URI nats://${subject}.in?stream=NO_${stream}&consumer=relay: stream 'NO_${stream}' does not exist; create it first, for example: nats stream add NO_${stream} --subjects '${subject}.in'`,
      expect.stringMatching(
        new RegExp(
          `^wasm-pipes check: SINK_URI nats://nowhere\\.${stream}\\?jetstream=true: no stream captures 'nowhere\\.${stream}' .*; create one, for example: nats stream add`,
        ),
      ),
    ]);
    const refused = await runCheck({ NATS_SERVER_URL: '127.0.0.1:1', SOURCE_URI: `nats://${subject}.in`, SINK_URI: 'stdout://' });
    expect(refused.status).toBe(2);
    expect(refused.problems).toEqual([
      `wasm-pipes check: SOURCE_URI nats://${subject}.in: cannot connect to NATS at 127.0.0.1:1 (connection refused); start the server, or fix NATS_SERVER_URL`,
    ]);
  });
});

describe('wasm-pipes check: RabbitMQ', () => {
  let admin: RabbitAdmin;
  let queue: string;
  beforeAll(async () => {
    admin = await rabbitAdmin();
    queue = uniqueQueue('check');
    await admin.channel.assertQueue(queue, { durable: false });
    admin.channel.sendToQueue(queue, Buffer.from('left alone'));
  });
  afterAll(async () => {
    await admin.channel.deleteQueue(queue).catch(() => undefined);
    await admin.close();
  });

  test('a queue to consume, an exchange and a queue to publish to: exit 0, and the waiting message is still there', async () => {
    const run = await runCheck({
      RABBIT_SERVER_URL: RABBIT_URL,
      SOURCE_URI: `rabbit://${queue}`,
      SINK_URI: `rabbit://amq.topic,rabbit://?routing_key=${queue}`,
    });
    expect(run.problems).toEqual([]);
    expect(run.status).toBe(0);
    expect(run.ok).toEqual([
      `ok  SOURCE_URI      rabbit://${queue}  RabbitMQ 127.0.0.1:5672: queue '${queue}' exists (1 messages, 0 consumers)`,
      `ok  SINK_URI        rabbit://amq.topic  RabbitMQ 127.0.0.1:5672: exchange 'amq.topic' exists`,
      `ok  SINK_URI        rabbit://?routing_key=${queue}  RabbitMQ 127.0.0.1:5672: default exchange, queue '${queue}' exists (1 messages, 0 consumers)`,
    ]);
    expect((await admin.channel.checkQueue(queue)).messageCount).toBe(1);
  });

  test('a missing queue, a missing exchange, refused credentials: exit 2, a line each, and nothing is declared', async () => {
    const missing = `${queue}-missing`;
    const run = await runCheck({ RABBIT_SERVER_URL: RABBIT_URL, SOURCE_URI: `rabbit://${missing}`, SINK_URI: `rabbit://${missing}-x` });
    expect(run.status).toBe(2);
    expect(run.problems).toEqual([
      `wasm-pipes check: SOURCE_URI rabbit://${missing}: queue '${missing}' does not exist; declare it first, for example: rabbitmqadmin declare queue name=${missing} durable=true`,
      `wasm-pipes check: SINK_URI rabbit://${missing}-x: exchange '${missing}-x' does not exist; declare it (for example: rabbitmqadmin declare exchange name=${missing}-x type=topic), or publish straight to a queue with rabbit://?routing_key=QUEUE`,
    ]);
    const refused = await runCheck({
      RABBIT_SERVER_URL: 'amqp://guest:wrong-password@127.0.0.1:5672/',
      SOURCE_URI: `rabbit://${queue}`,
      SINK_URI: 'stdout://',
    });
    expect(refused.status).toBe(2);
    expect(refused.problems).toEqual([
      `wasm-pipes check: SOURCE_URI rabbit://${queue}: RabbitMQ at 127.0.0.1:5672 refused the user and password of RABBIT_SERVER_URL (or the vhost is not theirs); fix RABBIT_SERVER_URL`,
    ]);
    const probe = await rabbitAdmin();
    probe.connection.on('error', () => undefined);
    probe.channel.on('error', () => undefined);
    await expect(probe.channel.checkQueue(missing)).rejects.toThrow(/NOT_FOUND/);
    await probe.connection.close().catch(() => undefined);
  });
});
