// Message ids of stdin:// and file://: new data never reuses an id of earlier data, because sinks that deduplicate by
// id (JetStream's Nats-Msg-Id, SQS FIFO, Service Bus) would silently drop it; an id given in the data is kept, and a
// redelivered message keeps its id.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import { source } from '../../lib/endpoints';
import type { Message } from '../../lib/message';
import { runBinToEnd } from '../helpers/bin';
import { uniqueName } from '../helpers/wait';
import { memTopic } from '../../lib/connectors/local/mem';
import { createStream, deleteStream, jetstreamManager, natsConnection, NATS_URL, readStream, uniqueSubject } from '../nats/helpers';

/** Reads a file:// source to its end, acking every message (or nacking the first delivery when `nackFirst`). */
function readAll(uri: string, options: { nackFirst?: boolean } = {}): Promise<Message[]> {
  return new Promise((resolve, reject) => {
    const received: Message[] = [];
    let nacked = !options.nackFirst;
    source(uri, { ackTimeout: 0 }).subscribe({
      next: (message) => {
        received.push(message);
        if (!nacked) {
          nacked = true;
          message.nack(new Error('once more'));
        } else {
          message.ack();
        }
      },
      error: reject,
      complete: () => resolve(received),
    });
  });
}

describe('stdin:// into a JetStream stream (which deduplicates by Nats-Msg-Id)', () => {
  let connection: NatsConnection;
  let manager: JetStreamManager;
  const stream = uniqueSubject('ids');
  const subject = `${stream}.in`;

  beforeAll(async () => {
    connection = await natsConnection();
    manager = await jetstreamManager(connection);
    await createStream(manager, stream, [subject]);
  });

  afterAll(async () => {
    await deleteStream(manager, stream);
    await connection.close();
  });

  test('two runs with the same lines are both stored; a line that carries its id keeps it (and is stored once)', async () => {
    const input = 'first\nsecond\n{"id":"order-7","body":"third"}\n';
    const env = { SOURCE_URI: 'stdin://', SINK_URI: `nats://${subject}?jetstream=true`, NATS_SERVER_URL: NATS_URL, LOG_LEVEL: 'warn' };
    for (let run = 1; run <= 2; run++) {
      const result = await runBinToEnd(env, input);
      expect({ run, status: result.status, stderr: result.stderr }).toEqual({ run, status: 0, stderr: '' });
    }
    const stored = await readStream(connection, stream);
    expect(stored.map((message) => message.body).sort()).toEqual(['first', 'first', 'second', 'second', 'third']);
    expect(new Set(stored.map((message) => message.id)).size).toBe(5);
    expect(stored.find((message) => message.body === 'third')?.id).toBe('order-7');
  });
});

describe('file:// ids', () => {
  const file = path.join(os.tmpdir(), `${uniqueName('ids')}.jsonl`);

  afterEach(() => fs.rmSync(file, { force: true }));

  test('the same file read twice gives the same ids; rewritten at the same path, it gives new ones', async () => {
    fs.writeFileSync(file, 'a\nb\n');
    const first = (await readAll(`file://${file}`)).map((message) => message.id);
    const again = (await readAll(`file://${file}`)).map((message) => message.id);
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(2);

    // the same inode, truncated and written again (as `>` in a shell does): new data, new ids
    fs.writeFileSync(file, 'c\nd\n');
    const rewritten = (await readAll(`file://${file}`)).map((message) => message.id);
    expect(rewritten.filter((id) => first.includes(id))).toEqual([]);
  });

  test('a redelivered line keeps its id; an envelope line keeps the id it carries', async () => {
    fs.writeFileSync(file, 'a\n{"id":"given","body":"b"}\n');
    const received = await readAll(`file://${file}`, { nackFirst: true });
    const bodies = received.map((message) => `${message.text()}=${message.id}`);
    expect(received).toHaveLength(3);
    expect(received.filter((message) => message.text() === 'a').map((message) => message.id)).toEqual([received[0].id, received[0].id]);
    expect(bodies).toContain('b=given');
  });
});

describe('mem://', () => {
  test('a message published without an id gets one of its own, and keeps it when redelivered', async () => {
    const topic = memTopic(uniqueName('ids'));
    topic.publish({ body: 'a' });
    topic.publish({ body: 'b' });
    topic.publish({ id: 'given', body: 'c' });
    const received: Message[] = [];
    await new Promise<void>((resolve) => {
      const subscription = source(`mem://${topic.name}?redelivery_delay=10ms`, { ackTimeout: 0 }).subscribe((message) => {
        received.push(message);
        if (received.length === 1) {
          message.nack(new Error('once more'));
          return;
        }
        message.ack();
        if (received.length === 4) {
          subscription.unsubscribe();
          resolve();
        }
      });
    });
    topic.delete();
    const idsOf = (text: string): string[] => received.filter((message) => message.text() === text).map((message) => message.id);
    const [first, again] = idsOf('a');
    expect(first).toMatch(/^[0-9a-z]+-[0-9a-z]+-[0-9a-z]+$/);
    expect(again).toBe(first);
    expect(idsOf('b')).toHaveLength(1);
    expect(idsOf('b')[0]).not.toBe(first);
    expect(idsOf('c')).toEqual(['given']);
  });
});
