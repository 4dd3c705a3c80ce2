// The postgres:// connector in process, on the shared PostgreSQL: the sink's idempotent inserts and per-message
// failures, the outbox source's wake-up by NOTIFY, its leases (a slow message is not taken by another relay), ack
// as delete or mark, and the documented INSERT of an application read back as a message.
import type { Pool } from 'pg';
import { sink, source } from '../../lib/endpoints';
import { start } from '../../lib/run';
import { memTopic } from '../../lib/connectors/local/mem';
import { PermanentError } from '../../lib/errors';
import type { Message } from '../../lib/message';
import { capturingLogger, sleep, waitFor } from '../helpers/wait';
import { collectingSink, send, TestEndpoints } from '../helpers/endpoints';
import { adminPool, createTable, documentedInsert, fillOutbox, pgUri, rowCount, uniqueTable } from './helpers';

let pool: Pool;
const endpoints = new TestEndpoints(process.env);
const drops: (() => Promise<void>)[] = [];

beforeAll(() => {
  pool = adminPool();
});

afterEach(async () => {
  await endpoints.closeAll();
  for (const drop of drops.splice(0)) await drop();
});

afterAll(async () => {
  await pool.end();
});

async function table(shape: 'outbox' | 'events'): Promise<string> {
  const created = await createTable(pool, shape);
  drops.push(created.drop);
  return created.name;
}

describe('sink', () => {
  test('a batch is stored once per id: a redelivered message is acked and not stored twice', async () => {
    const name = await table('events');
    const out = endpoints.openSink(pgUri(name));
    const messages = Array.from({ length: 50 }, (_, i) => ({
      id: `m-${i}`,
      body: `{"n":${i}}`,
      key: `k${i % 3}`,
      metadata: { n: String(i) },
    }));
    expect(await send(out, messages)).toEqual(messages.map(() => undefined));
    expect(await send(out, messages.slice(0, 10))).toEqual(messages.slice(0, 10).map(() => undefined));
    expect(await rowCount(pool, name)).toBe(50);
    const row = (await pool.query(`SELECT convert_from(body, 'UTF8') AS body, key, metadata FROM ${name} WHERE id = 'm-7'`)).rows[0];
    expect(row).toEqual({ body: '{"n":7}', key: 'k1', metadata: { n: '7' } });
  });

  test('a value the table refuses fails only its own message, permanently; the rest of the batch is stored', async () => {
    const name = uniqueTable('jsonbody');
    await pool.query(`CREATE TABLE ${name} (id text PRIMARY KEY, body jsonb NOT NULL, key text CHECK (key <> 'forbidden'))`);
    drops.push(async () => void (await pool.query(`DROP TABLE ${name}`)));
    const out = endpoints.openSink(pgUri(name), { retry: { maxAttempts: 1 } });
    const outcomes = await send(out, [
      { id: 'a', body: '{"ok":true}' },
      { id: 'b', body: 'not json' },
      { id: 'c', body: '[1,2]', key: 'forbidden' },
      { id: 'd', body: '"text"' },
    ]);
    expect(outcomes[0]).toBeUndefined();
    expect(outcomes[1]).toBeInstanceOf(PermanentError);
    expect(outcomes[1]?.message).toContain('not JSON');
    expect(outcomes[2]).toBeInstanceOf(PermanentError);
    expect(outcomes[2]?.message).toContain('check constraint');
    expect(outcomes[3]).toBeUndefined();
    expect((await pool.query(`SELECT id FROM ${name} ORDER BY id`)).rows.map((row) => row.id)).toEqual(['a', 'd']);
  });

  test('a table without a unique id is refused: redeliveries would be stored twice', async () => {
    const name = uniqueTable('nounique');
    await pool.query(`CREATE TABLE ${name} (id text, body bytea)`);
    drops.push(async () => void (await pool.query(`DROP TABLE ${name}`)));
    const out = sink(pgUri(name));
    await expect((out as unknown as { start(): Promise<void> }).start()).rejects.toThrow(`ALTER TABLE "${name}" ADD PRIMARY KEY (id)`);
    await out.close();
  });
});

describe('outbox source', () => {
  test("the application's documented INSERT arrives as a message: id, body, key and metadata", async () => {
    const name = await table('outbox');
    await pool.query(documentedInsert(name));
    const received = endpoints.collect(pgUri(name));
    await waitFor(() => received.length === 1, 'the row');
    const [message] = received;
    expect(message.text()).toBe('{"order":42,"status":"paid"}');
    expect(message.key).toBe('order-42');
    expect(message.metadata).toEqual({ type: 'order.paid' });
    const [row] = (await pool.query(`SELECT id, deliveries FROM ${name}`)).rows;
    expect(message.id).toBe(row.id);
    // held in the claim's transaction: the row is locked, not leased, and its own count has not moved
    expect(row.deliveries).toBe(0);
    message.ack();
    await waitFor(async () => (await rowCount(pool, name)) === 0, 'the row deleted');
  });

  test('a NOTIFY wakes an idle source at once, long before its poll', async () => {
    const name = await table('outbox');
    const received = endpoints.collect(pgUri(name, { poll: '10m' }));
    // idle: its first claim found nothing and it sleeps on the poll; only the trigger's NOTIFY can wake it in time
    await sleep(300);
    await fillOutbox(pool, name, 3);
    await waitFor(() => received.length === 3, 'the three rows', 10_000);
    for (const message of received) message.ack();
  });

  test('without a channel it polls: rows are found within the poll interval', async () => {
    const name = await table('outbox');
    const received = endpoints.collect(pgUri(name, { channel: '', poll: '100ms' }));
    await sleep(200);
    await fillOutbox(pool, name, 2);
    await waitFor(() => received.length === 2, 'the two rows', 10_000);
    for (const message of received) message.ack();
  });

  test('a message held longer than the visibility timeout keeps its lease: a second relay does not get it', async () => {
    const name = await table('outbox');
    await fillOutbox(pool, name, 1, 'slow-');
    const first = endpoints.collect(pgUri(name, { visibility: '1s', poll: '50ms' }));
    await waitFor(() => first.length === 1, 'the row');
    const second = endpoints.collect(pgUri(name, { visibility: '1s', poll: '50ms' }));
    await sleep(3000); // three visibility timeouts: without renewals the row would have come back twice
    expect(second).toHaveLength(0);
    expect(first).toHaveLength(1);
    first[0].ack();
    await waitFor(async () => (await rowCount(pool, name)) === 0, 'the row deleted');
  });

  test('claims run at once (claims=3) and never take one row twice; every row is deleted once acked', async () => {
    const name = await table('outbox');
    await fillOutbox(pool, name, 2000, 'many-');
    const seen = new Map<string, number>();
    // small claims, so that the three receivers overlap many times over
    const subscription = source(pgUri(name, { batch: '20', claims: '3', channel: '' }), { maxInFlight: 200 }).subscribe((message) => {
      seen.set(message.id, (seen.get(message.id) ?? 0) + 1);
      message.ack();
    });
    endpoints.subscriptions.push(subscription);
    await waitFor(() => seen.size === 2000, 'every row', 30_000);
    await waitFor(async () => (await rowCount(pool, name)) === 0, 'every row deleted', 30_000);
    expect([...seen.values()].filter((count) => count > 1)).toEqual([]);
  });

  test("a batch settled while its claim is held costs no lease: its rows are deleted in the claim's own transaction", async () => {
    const name = await table('outbox');
    await fillOutbox(pool, name, 2000, 'held-');
    // statement triggers note the transaction of every UPDATE (a lease or a release) and every deletion
    const log = `${name}_log`;
    await pool.query(`CREATE TABLE ${log} (kind text, tx bigint)`);
    await pool.query(
      `CREATE FUNCTION ${log}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ` +
        `INSERT INTO ${log} VALUES (TG_OP, txid_current()); RETURN NULL; END $$`,
    );
    await pool.query(`CREATE TRIGGER ${log}_update AFTER UPDATE ON ${name} FOR EACH STATEMENT EXECUTE FUNCTION ${log}()`);
    await pool.query(`CREATE TRIGGER ${log}_delete AFTER DELETE ON ${name} FOR EACH STATEMENT EXECUTE FUNCTION ${log}()`);
    drops.push(async () => {
      await pool.query(`DROP TABLE IF EXISTS ${log}`);
      await pool.query(`DROP FUNCTION IF EXISTS ${log}()`);
    });
    const seen = new Set<string>();
    // connections for every claim the window holds (4) and every claim running (3): no claim waits for one, so none
    // takes it from a held claim
    const subscription = source(pgUri(name, { batch: '50', channel: '', pool: '8' }), { maxInFlight: 200 }).subscribe((message) => {
      seen.add(message.id);
      message.ack();
    });
    endpoints.subscriptions.push(subscription);
    await waitFor(async () => (await rowCount(pool, name)) === 0, 'every row deleted', 30_000);
    expect(seen.size).toBe(2000);
    const { rows } = await pool.query<{ kind: string; transactions: number }>(
      `SELECT kind, count(DISTINCT tx)::int AS transactions FROM ${log} GROUP BY kind ORDER BY kind`,
    );
    // 40 claims of 50, each deleting its rows in its own transaction, at most once; and not one lease
    expect(rows.map((row) => row.kind)).toEqual(['DELETE']);
    expect(rows[0].transactions).toBeLessThanOrEqual(40);
  });

  test('a held transaction left idle longer than visibility is ended by the server: its rows come back', async () => {
    const name = await table('outbox');
    await fillOutbox(pool, name, 3, 'stalled-');
    const { logger, lines } = capturingLogger('warn');
    const deliveries: string[] = [];
    let stalled = false;
    const subscription = source(pgUri(name, { visibility: '1s', poll: '50ms', channel: '' }), { logger }).subscribe((message) => {
      deliveries.push(message.id);
      if (!stalled) {
        // the event loop stops for 2.5 s, as a relay cut off from the server would: the hold (0.5 s) cannot end
        stalled = true;
        const until = Date.now() + 2500;
        while (Date.now() < until);
      }
      message.ack();
    });
    endpoints.subscriptions.push(subscription);
    await waitFor(async () => (await rowCount(pool, name)) === 0, 'the rows deleted after all', 15_000);
    // the first claim's transaction was ended by the server after 1 s idle, so its acks were lost: delivered again
    expect(lines().some((line) => line.msg.includes('ending a claim of'))).toBe(true);
    expect(deliveries.length).toBeGreaterThanOrEqual(6);
    expect(new Set(deliveries).size).toBe(3);
  });

  test('a held claim whose connection the server ends is reported, not thrown: the relay goes on and its rows come back', async () => {
    const name = await table('outbox');
    await fillOutbox(pool, name, 2, 'ended-');
    const { logger, lines } = capturingLogger('warn');
    const received: Message[] = [];
    const uri = pgUri(name, { visibility: '60s', hold: '20s', poll: '50ms', channel: '', claims: '1' });
    const subscription = source(uri, { logger }).subscribe((message) => received.push(message));
    endpoints.subscriptions.push(subscription);
    await waitFor(() => received.length === 2, 'both rows, held in one claim');
    const held = received.slice();
    // the claim's connection sits idle in its transaction, taken from the pool, and its backend is ended under it;
    // a claim that found nothing is idle in its transaction too, for the moment before its COMMIT
    await sleep(300);
    const ended = await pool.query(
      'SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity ' +
        `WHERE state = 'idle in transaction' AND state_change < now() - interval '200 milliseconds' AND query LIKE '%${name}%'`,
    );
    expect(ended.rows).toEqual([{ ended: true }]);
    await waitFor(() => lines().some((line) => line.msg.includes('a connection failed')), 'the failure reported');
    // the transaction died with its connection: the acks cannot end it, and both rows are delivered again
    for (const message of held) message.ack();
    await waitFor(() => received.length === 4, 'both rows again');
    expect(
      received
        .slice(2)
        .map((message) => message.id)
        .sort(),
    ).toEqual(['ended-0', 'ended-1']);
    for (const message of received.slice(2)) message.ack();
    await waitFor(async () => (await rowCount(pool, name)) === 0, 'the rows deleted');
  });

  test('hold=0 leases every claimed row at once: its delivery is counted before its message settles', async () => {
    const name = await table('outbox');
    await fillOutbox(pool, name, 3, 'nohold-');
    const received = endpoints.collect(pgUri(name, { hold: '0', poll: '50ms' }));
    await waitFor(() => received.length === 3, 'three rows');
    await waitFor(
      async () => (await rowCount(pool, name, "deliveries = 1 AND visible_at > now() + interval '20 seconds'")) === 3,
      'three leases',
    );
    for (const message of received) message.ack();
    await waitFor(async () => (await rowCount(pool, name)) === 0, 'the rows deleted');
  });

  test('a claim needing a connection takes it from a held claim, which leases its rows: a window larger than the pool keeps filling', async () => {
    const name = await table('outbox');
    await fillOutbox(pool, name, 600, 'lease-');
    // one connection, nothing acked: every claim after the first ends the hold of the one before it
    const received: Message[] = endpoints.collect(pgUri(name, { batch: '100', claims: '1', pool: '1', channel: '' }), {
      maxInFlight: 1000,
    });
    await waitFor(() => received.length === 600, 'every row, long before six holds of a second', 4000);
    // the first five claims leased their rows; the last is still held (no lease, not counted yet)
    expect(await rowCount(pool, name, 'deliveries = 1')).toBe(500);
    for (const message of received) message.ack();
    await waitFor(async () => (await rowCount(pool, name)) === 0, 'every row deleted');
  });

  test('an idle source sends an ack at once, with no claim to carry it', async () => {
    const name = await table('outbox');
    await fillOutbox(pool, name, 1, 'idle-');
    // no NOTIFY and a long poll: after the first claim, no other comes for ten minutes
    const received = endpoints.collect(pgUri(name, { channel: '', poll: '10m' }));
    await waitFor(() => received.length === 1, 'the row');
    await sleep(200);
    const acked = Date.now();
    received[0].ack();
    await waitFor(async () => (await rowCount(pool, name)) === 0, 'the row deleted', 5000);
    expect(Date.now() - acked).toBeLessThan(2000);
  });

  test('a stop sends every settlement before it resolves: no acked row is left', async () => {
    const name = await table('outbox');
    await fillOutbox(pool, name, 600, 'stop-');
    const out = collectingSink((message) => message.ack());
    const running = start(source(pgUri(name, { batch: '100' }), { maxInFlight: 300 }), out, { handleSignals: false });
    await waitFor(() => running.stats().acked === 600, 'every row acked', 30_000);
    await running.stop();
    expect(await rowCount(pool, name)).toBe(0);
  });

  test('a claim prepared while the outbox was empty still finds a backlog through the index, and leases it, without reading the table', async () => {
    const name = await table('outbox');
    // nothing is acked until the end: with one connection, every claim takes it from the claim before, which leases
    // its rows by the versions it locked, in a statement that must not read the table either
    const received: Message[] = endpoints.collect(pgUri(name, { channel: '', poll: '10ms', claims: '1', pool: '1', batch: '1000' }), {
      maxInFlight: 60_000,
    });
    await sleep(400); // tens of claims on the empty table: a cached generic plan would be made for an empty table
    // rows read by sequential scans of the table (the idle polls read the empty table: none)
    const rowsScanned = async (): Promise<number> => {
      await sleep(1200); // backends report their counters at most once a second
      await pool.query('SELECT pg_stat_clear_snapshot()');
      const { rows } = await pool.query<{ read: string }>(
        `SELECT seq_tup_read AS read FROM pg_stat_user_tables WHERE relid = '${name}'::regclass`,
      );
      return Number(rows[0].read);
    };
    const before = await rowsScanned();
    await fillOutbox(pool, name, 50_000, 'backlog-');
    await waitFor(() => received.length === 50_000, 'the backlog', 50_000);
    // a claim that read the whole backlog would show here, up to 50 000 rows at a time
    expect((await rowsScanned()) - before).toBeLessThan(50_000);
    for (const message of received) message.ack();
  });

  test('claims beyond the pool are a ConfigError that names both', async () => {
    const name = await table('outbox');
    expect(() => source(pgUri(name, { claims: '5', pool: '2' }))).toThrow(/claims=5 is more than pool=2 connections/);
  });

  test('on_ack=mark keeps the row, done, and never delivers it again', async () => {
    const name = await table('outbox');
    await fillOutbox(pool, name, 2, 'mark-');
    const received = endpoints.collect(pgUri(name, { on_ack: 'mark', poll: '50ms' }));
    await waitFor(() => received.length === 2, 'two rows');
    for (const message of received) message.ack();
    await waitFor(async () => (await rowCount(pool, name, 'done_at IS NOT NULL')) === 2, 'two rows marked done');
    await sleep(300);
    expect(received).toHaveLength(2);
    expect(await rowCount(pool, name, "visible_at = 'infinity'")).toBe(2);
  });

  test('each delivery is counted (deliveryCount feeds MAX_DELIVERIES) and a nack delays the next one', async () => {
    const name = await table('outbox');
    await fillOutbox(pool, name, 1, 'count-');
    const received: Message[] = endpoints.collect(pgUri(name, { nack_delay: '200ms', poll: '50ms' }));
    await waitFor(() => received.length === 1, 'the first delivery');
    received[0].nack(new Error('on purpose'));
    const nacked = Date.now();
    await waitFor(() => received.length === 2, 'the redelivery');
    expect(Date.now() - nacked).toBeGreaterThanOrEqual(150);
    // the nack counted the first delivery; the second is held in its claim's transaction, not counted yet
    expect((await pool.query(`SELECT deliveries FROM ${name}`)).rows[0].deliveries).toBe(1);
    received[1].ack();
  });

  test('past MAX_DELIVERIES a row goes to the dead letter, and is then deleted', async () => {
    const name = await table('outbox');
    await fillOutbox(pool, name, 1, 'poison-');
    const deadLetter = memTopic(`${name}-dead`);
    const dead = sink(`mem://${deadLetter.name}`);
    const received: Message[] = endpoints.collect(pgUri(name, { nack_delay: '0', poll: '20ms' }), { maxDeliveries: 2, deadLetter: dead });
    await waitFor(() => {
      for (const message of received) if (!message.settled) message.nack(new Error('poison'));
      return deadLetter.length === 1;
    }, 'the row in the dead letter');
    expect(received).toHaveLength(2); // delivered twice; the third delivery went to the dead letter
    await waitFor(async () => (await rowCount(pool, name)) === 0, 'the row deleted once dead-lettered');
    await dead.close();
    deadLetter.delete();
  });
});
