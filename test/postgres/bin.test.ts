// The wasm-pipes bin on PostgreSQL, spawned as users run it: two relays sharing one outbox never handle a row twice
// while both live (a relay killed with SIGKILL is the conformance suite's crash test), the documented example
// `SOURCE_URI=postgres://.../outbox SINK_URI=kafka://events` relays to Kafka (librdkafka's mock cluster), and bad
// configuration stops the start with exit 2 and one line saying what to fix.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Pool } from 'pg';
import { source } from '../../lib/endpoints';
import { BinProcess, runBinToEnd } from '../helpers/bin';
import { missingIds } from '../helpers/crash';
import { uniqueName, waitFor } from '../helpers/wait';
import { startedForTests } from '../helpers/fixture';
import { collectTopic, startKafkaFixture } from '../kafka/helpers';
import { adminPool, createTable, documentedInsert, fillOutbox, pgUri, rowCount, uniqueTable } from './helpers';
import { PrivatePostgres } from './privateServer';

let pool: Pool;
const bins: BinProcess[] = [];
const drops: (() => Promise<void>)[] = [];
let directory: string;

beforeAll(() => {
  pool = adminPool();
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-pg-bin-'));
});

afterEach(async () => {
  for (const bin of bins.splice(0)) await bin.kill();
  for (const drop of drops.splice(0)) await drop();
});

afterAll(async () => {
  await pool.end();
  fs.rmSync(directory, { recursive: true, force: true });
});

async function outbox(): Promise<string> {
  const created = await createTable(pool, 'outbox');
  drops.push(created.drop);
  return created.name;
}

/** The ids in a file:// sink's JSON lines, one entry per line (duplicates kept). */
function idsIn(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as { id: string }).id);
}

test('two relays sharing one outbox: every row is relayed once, by one of them, while both live', async () => {
  const table = await outbox();
  const files = [path.join(directory, `${table}-a.jsonl`), path.join(directory, `${table}-b.jsonl`)];
  // small windows and claims, so that both relays take part many times over
  for (const file of files) {
    const bin = new BinProcess({ SOURCE_URI: pgUri(table, { batch: '20' }), SINK_URI: `file://${file}`, MAX_IN_FLIGHT: '40' });
    bins.push(bin);
    await bin.started();
  }
  const total = 4000;
  await fillOutbox(pool, table, total, 'shared-');
  await waitFor(() => idsIn(files[0]).length + idsIn(files[1]).length >= total, `${total} relayed rows`, 60_000);
  await waitFor(async () => (await rowCount(pool, table)) === 0, 'the outbox emptied');
  const [a, b] = files.map(idsIn);
  const all = [...a, ...b];
  expect(all).toHaveLength(total); // no row twice
  expect(missingIds(new Set(all), 'shared-', total)).toEqual([]);
  expect(a.length).toBeGreaterThan(0);
  expect(b.length).toBeGreaterThan(0);
  for (const bin of bins) expect(await bin.terminate()).toBe(0);
});

test('a relay killed while it holds rows gives them back at once, long before their visibility would', async () => {
  const table = await outbox();
  const total = 300;
  await fillOutbox(pool, table, total, 'held-');
  // a webhook that never answers a POST: the rows stay in flight in the relay, held in its claims' transactions
  const hanging = http.createServer((request, response) => {
    if (request.method !== 'POST') response.writeHead(405).end();
  });
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  drops.push(
    () =>
      new Promise<void>((resolve) => {
        hanging.closeAllConnections();
        hanging.close(() => resolve());
      }),
  );
  const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook`;
  const killed = new BinProcess({ SOURCE_URI: pgUri(table, { visibility: '2m', hold: '1m' }), SINK_URI: url, MAX_IN_FLIGHT: '1000' });
  bins.push(killed);
  await killed.started();
  // every row locked by the relay: a claim of our own finds none
  const lockable = async (): Promise<number> =>
    Number((await pool.query(`SELECT count(*) AS n FROM (SELECT 1 FROM ${table} FOR UPDATE SKIP LOCKED) AS free`)).rows[0].n);
  await waitFor(async () => (await lockable()) === 0, 'every row held by the relay');
  expect(await rowCount(pool, table, 'deliveries = 0')).toBe(total); // held, not leased
  await killed.kill();
  const killedAt = Date.now();
  const seen = new Set<string>();
  const subscription = source(pgUri(table, { poll: '100ms' })).subscribe((message) => {
    seen.add(message.id);
    message.ack();
  });
  try {
    await waitFor(() => seen.size === total, 'every row from a second relay', 15_000);
  } finally {
    subscription.unsubscribe();
  }
  // with leases they would have come back after two minutes
  expect(Date.now() - killedAt).toBeLessThan(15_000);
  expect(missingIds(seen, 'held-', total)).toEqual([]);
  await waitFor(async () => (await rowCount(pool, table)) === 0, 'the outbox emptied');
});

describe('the documented example with Kafka', () => {
  const kafka = startedForTests(startKafkaFixture);

  test('SOURCE_URI=postgres://.../outbox SINK_URI=kafka://events relays the rows the application inserted', async () => {
    const table = await outbox();
    const topic = uniqueName('events');
    await kafka().cluster.createTopic(topic, 1);
    const collected = await collectTopic(kafka().kafka, topic, uniqueName('pg-check'));
    for (let i = 0; i < 3; i++) await pool.query(documentedInsert(table));
    const bin = new BinProcess({ SOURCE_URI: pgUri(table), SINK_URI: `kafka://${topic}`, KAFKA_BROKERS: kafka().cluster.bootstrap });
    bins.push(bin);
    await bin.started();
    await waitFor(() => collected.records.length >= 3, 'three records in Kafka', 30_000);
    await waitFor(async () => (await rowCount(pool, table)) === 0, 'the outbox emptied');
    expect(await bin.terminate()).toBe(0);
    await collected.stop();
    const record = collected.records[0];
    expect(record.value.toString()).toBe('{"order":42,"status":"paid"}');
    expect(record.key).toBe('order-42');
    expect(record.headers.type).toBe('order.paid');
    expect(new Set(collected.records.map((entry) => entry.headers['x-message-id'])).size).toBe(3);
  });
});

/** The message of the bin's fatal log line (the reason it did not start), or its plain usage line. */
function fatal(stderr: string): string {
  for (const line of stderr.split('\n')) {
    if (line.startsWith('wasm-pipes: ')) return line;
    if (!line.startsWith('{')) continue;
    const record = JSON.parse(line) as { level: number; msg: string };
    if (record.level === 60) return record.msg;
  }
  return '';
}

describe('start-up errors: exit 2 and one line with the fix', () => {
  test('a URI that names no table', async () => {
    const run = await runBinToEnd({ SOURCE_URI: 'postgres://127.0.0.1:5432/', SINK_URI: 'stdout://' });
    expect(run.status).toBe(2);
    expect(fatal(run.stderr)).toContain('does not name a table: write postgres://user@host:port/database/table');
  });

  test('a table that does not exist, as source or as sink', async () => {
    const missing = uniqueTable('missing');
    const asSource = await runBinToEnd({ SOURCE_URI: pgUri(missing), SINK_URI: 'stdout://' });
    expect(asSource.status).toBe(2);
    expect(fatal(asSource.stderr)).toContain(`table '${missing}' does not exist; create it with the SQL in docs/connectors/postgres.md`);
    const asSink = await runBinToEnd({ SOURCE_URI: 'stdin://', SINK_URI: pgUri(missing) }, 'one\n');
    expect(asSink.status).toBe(2);
    expect(fatal(asSink.stderr)).toContain(`table '${missing}' does not exist`);
  });

  test('a sink-shaped table used as an outbox: the columns to add', async () => {
    const created = await createTable(pool, 'events');
    drops.push(created.drop);
    const run = await runBinToEnd({ SOURCE_URI: pgUri(created.name), SINK_URI: 'stdout://' });
    expect(run.status).toBe(2);
    expect(fatal(run.stderr)).toContain(`ALTER TABLE "${created.name}" ADD COLUMN deliveries integer NOT NULL DEFAULT 0;`);
  });

  test('a database that does not exist', async () => {
    const run = await runBinToEnd({ SOURCE_URI: `postgres://postgres@127.0.0.1:5432/no_such_db_wasm_pipes/outbox`, SINK_URI: 'stdout://' });
    expect(run.status).toBe(2);
    expect(fatal(run.stderr)).toContain("database 'no_such_db_wasm_pipes' does not exist");
  });

  describe('on a server with password authentication', () => {
    let server: PrivatePostgres;

    beforeAll(async () => {
      server = await PrivatePostgres.start('right-password');
    }, 60_000);

    afterAll(async () => {
      await server?.stop();
    });

    test('refused credentials, without showing the password', async () => {
      const run = await runBinToEnd(
        {
          SOURCE_URI: 'stdin://',
          SINK_URI: `postgres://postgres:wrong-password@127.0.0.1:${server.port}/postgres/events`,
        },
        'one\n',
      );
      expect(run.status).toBe(2);
      expect(fatal(run.stderr)).toContain("refused the credentials of user 'postgres'");
      expect(fatal(run.stderr)).toContain('check the user and password in the URI');
      expect(run.stderr).not.toContain('wrong-password');
    });

    test('the right password from PGPASSWORD works', async () => {
      const run = await runBinToEnd(
        {
          SOURCE_URI: 'stdin://',
          SINK_URI: `postgres://postgres@127.0.0.1:${server.port}/postgres/pg_class`,
          PGPASSWORD: 'right-password',
        },
        'one\n',
      );
      // it got past the credentials to the table check: pg_class has no id column
      expect(run.status).toBe(2);
      expect(fatal(run.stderr)).toContain("has no column 'id'");
    });
  });
});
