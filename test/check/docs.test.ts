// The examples of `wasm-pipes check` in docs/operating.md, run as written: the same variables and the same output, with
// the stream, subject and queue names made unique to this run (tests never share broker names).
import fs from 'node:fs';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { AckPolicy } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { runCheck } from './helpers';
import { natsConnection, jetstreamManager, createStream, deleteStream, uniqueSubject } from '../nats/helpers';
import { rabbitAdmin, type RabbitAdmin, uniqueQueue } from '../rabbit/helpers';

const page = fs.readFileSync(path.resolve(__dirname, '../../docs/operating.md'), 'utf8');
const section = page.slice(page.indexOf('## Checking a configuration'), page.indexOf('## Stopping it'));
const blocks = [...section.matchAll(/```\n([\s\S]*?)```/g)].map((match) => match[1].trim().split('\n'));

describe('docs/operating.md: wasm-pipes check', () => {
  let connection: NatsConnection;
  let manager: JetStreamManager;
  let admin: RabbitAdmin;
  const stream = uniqueSubject('DOCS');
  const subject = `docs.${stream}`;
  const queue = uniqueQueue('docs');
  /** The documented names, made unique. */
  const unique = (text: string): string =>
    text.replaceAll('orders.created', subject).replaceAll('ORDERS', stream).replaceAll('audit', queue);

  beforeAll(async () => {
    connection = await natsConnection();
    manager = await jetstreamManager(connection);
    await createStream(manager, stream, [subject]);
    await manager.consumers.add(stream, { durable_name: 'relay', ack_policy: AckPolicy.Explicit, filter_subject: subject });
    admin = await rabbitAdmin();
    await admin.channel.assertQueue(queue, { durable: false });
  });
  afterAll(async () => {
    await deleteStream(manager, stream);
    await connection.close();
    await admin.channel.deleteQueue(queue).catch(() => undefined);
    await admin.close();
  });

  test('the example prints what the page shows and exits 0; without the queue, the problem line it shows', async () => {
    const [example, problem] = blocks;
    const command = example[0];
    expect(command).toMatch(/^\$ .*\.\/wasm-pipes check$/);
    const env: Record<string, string> = {};
    for (const match of command.matchAll(/([A-Z_]+)='([^']*)'/g)) env[match[1]] = unique(match[2]);
    expect(Object.keys(env)).toEqual(['SOURCE_URI', 'SINK_URI']);
    const run = await runCheck(env);
    expect(run.ok).toEqual(example.slice(1, example.indexOf('$ echo $?')).map(unique));
    expect(String(run.status)).toBe(example[example.length - 1]);

    await admin.channel.deleteQueue(queue);
    const failed = await runCheck(env);
    expect(failed.status).toBe(2);
    expect(failed.problems).toEqual(problem.map(unique));
  });
});
