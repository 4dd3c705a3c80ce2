// Scale-out: two bin processes share the work the way the broker shares it (a core NATS queue group, a JetStream
// durable consumer, a RabbitMQ queue). 10 000 messages: the union of what they wrote is complete and each took a share.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { BinProcess } from '../helpers/bin';
import { natsConnection, jetstreamManager, createStream, deleteStream, uniqueSubject, NATS_URL } from './helpers';
import { rabbitAdmin, uniqueQueue, RABBIT_URL } from '../rabbit/helpers';
import { uniqueName, waitFor } from '../helpers/wait';

const TOTAL = 10_000;
let connection: NatsConnection;
const bins: BinProcess[] = [];
const files: string[] = [];

beforeAll(async () => {
  connection = await natsConnection();
});

afterEach(async () => {
  for (const bin of bins.splice(0)) await bin.kill();
  for (const file of files.splice(0)) fs.rmSync(file, { force: true });
});

afterAll(async () => {
  await connection.close();
});

function idsIn(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.endsWith('}'))
    .map((line) => (JSON.parse(line) as { id: string }).id);
}

/** Starts two bins reading `sourceUri` into a file each; resolves with the files once both are running. */
async function twoRelays(env: Record<string, string>, sourceUri: string): Promise<[string, string]> {
  const out = [0, 1].map((i) => path.join(os.tmpdir(), `${uniqueName(`scale-${i}`)}.jsonl`)) as [string, string];
  files.push(...out);
  const started = out.map((file) => {
    const bin = new BinProcess({ ...env, SOURCE_URI: sourceUri, SINK_URI: `file://${file}`, MAX_IN_FLIGHT: '64' });
    bins.push(bin);
    return bin.started();
  });
  await Promise.all(started);
  return out;
}

async function expectSharedAndComplete(files: [string, string], prefix: string): Promise<void> {
  const expected = Array.from({ length: TOTAL }, (_, i) => `${prefix}-${i}`);
  let union = new Set<string>();
  await waitFor(
    () => {
      union = new Set([...idsIn(files[0]), ...idsIn(files[1])]);
      return union.size >= TOTAL;
    },
    `all ${TOTAL} ids in the two files`,
    60_000,
  );
  expect(expected.filter((id) => !union.has(id))).toEqual([]);
  const shares = files.map((file) => new Set(idsIn(file)).size);
  console.log(`${prefix}: shares ${shares.join(' + ')}`);
  for (const share of shares) expect(share).toBeGreaterThanOrEqual(TOTAL / 10);
  for (const bin of bins) expect(await bin.terminate()).toBe(0);
}

test('core NATS: two processes in one queue group split 10 000 messages', async () => {
  const subject = `scale.${uniqueSubject('core')}`;
  const out = await twoRelays({ NATS_SERVER_URL: NATS_URL }, `nats://${subject}?queue=relays`);
  for (let i = 0; i < TOTAL; i++) {
    const headers = natsHeaders();
    headers.set('Nats-Msg-Id', `core-${i}`);
    connection.publish(subject, `{"n":${i}}`, { headers });
    if (i % 1000 === 999) await connection.flush();
  }
  await connection.flush();
  await expectSharedAndComplete(out, 'core');
});

test('JetStream: two processes on one durable consumer split 10 000 messages', async () => {
  const manager = await jetstreamManager(connection);
  const stream = uniqueSubject('SCALE');
  const subject = `scale.${stream}`;
  await createStream(manager, stream, [subject]);
  try {
    const out = await twoRelays({ NATS_SERVER_URL: NATS_URL }, `nats://${subject}?stream=${stream}&consumer=relays`);
    const js = jetstream(connection);
    for (let start = 0; start < TOTAL; start += 1000) {
      await Promise.all(Array.from({ length: 1000 }, (_, i) => js.publish(subject, `{"n":${start + i}}`, { msgID: `js-${start + i}` })));
    }
    await expectSharedAndComplete(out, 'js');
  } finally {
    await deleteStream(manager, stream);
  }
});

test('RabbitMQ: two processes on one queue split 10 000 messages', async () => {
  const admin = await rabbitAdmin();
  const queue = uniqueQueue('scale');
  await admin.channel.assertQueue(queue, { durable: false });
  try {
    const out = await twoRelays({ RABBIT_SERVER_URL: RABBIT_URL }, `rabbit://${queue}`);
    const publisher = await admin.connection.createConfirmChannel();
    for (let i = 0; i < TOTAL; i++) publisher.sendToQueue(queue, Buffer.from(`{"n":${i}}`), { messageId: `rabbit-${i}` });
    await publisher.waitForConfirms();
    await publisher.close();
    await expectSharedAndComplete(out, 'rabbit');
  } finally {
    await admin.channel.deleteQueue(queue).catch(() => undefined);
    await admin.close();
  }
});
