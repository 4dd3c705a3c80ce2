// PG1: the cost of wasm-pipes around pg for the transactional outbox. The candidate relays postgres://.../outbox into
// mem:// (claims held in a transaction, the acked rows deleted in it); the baseline is the loop one writes by
// hand with pg (BEGIN; SELECT ... FOR UPDATE SKIP LOCKED LIMIT 256; hand the rows over; DELETE them; COMMIT). Both
// empty the same kind of table of the same rows on the machine's PostgreSQL (127.0.0.1:5432, database test), a fresh
// table per round. Both clocks start at the first row handed over, as KAFKA's do: the loop's connection is open
// before its clock starts, and the relay's start-up (its connections, the table's check, LISTEN: 50-80 ms, an eighth
// of a 20 000-row round) is not what is compared.
import { Pool } from 'pg';
import { tap } from 'rxjs';
import type { Scenario } from '../harness';
import { source, sink, start } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import { createTable, fillOutbox, rowCount } from '../../test/postgres/helpers';

const BATCH = 256;
let pool: Pool;
let round = 0;
const problems: string[] = [];

/** A fresh outbox of `messages` rows, and a mem:// topic for what comes out. */
async function prepare(messages: number): Promise<{ table: string; drop(): Promise<void>; topic: ReturnType<typeof memTopic> }> {
  const created = await createTable(pool, 'outbox', `pg1_${round++}`);
  await fillOutbox(pool, created.name, messages, 'pg1-');
  await pool.query(`VACUUM ANALYZE ${created.name}`);
  return { table: created.name, drop: created.drop, topic: memTopic(`pg1-out-${created.name}`) };
}

export const pg1: Scenario = {
  id: 'PG1',
  title: 'postgres:// outbox -> mem:// vs a hand-written pg loop (FOR UPDATE SKIP LOCKED LIMIT 256, hand over, DELETE, COMMIT)',
  messages: 20_000,
  quickMessages: 2_000,
  target: 0.8,
  async setup() {
    pool = new Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', max: 4 });
  },
  async teardown() {
    await pool.end();
  },
  baseline: {
    name: 'pg loop: BEGIN; SELECT ... FOR UPDATE SKIP LOCKED LIMIT 256; publish; DELETE; COMMIT',
    async run(messages) {
      const { table, drop, topic } = await prepare(messages);
      const client = await pool.connect();
      let began = 0;
      let moved = 0;
      try {
        while (moved < messages) {
          await client.query('BEGIN');
          const { rows } = await client.query<{ id: string; body: Buffer; key: string | null; metadata: Record<string, string> }>(
            `SELECT id, body, key, metadata FROM ${table} WHERE visible_at <= now() ORDER BY visible_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED`,
          );
          if (began === 0) began = performance.now();
          for (const row of rows) topic.publish({ id: row.id, body: row.body, key: row.key ?? undefined, metadata: row.metadata });
          await client.query(`DELETE FROM ${table} WHERE id = ANY($1::text[])`, [rows.map((row) => row.id)]);
          await client.query('COMMIT');
          moved += rows.length;
        }
      } finally {
        client.release();
      }
      const elapsed = performance.now() - began;
      if (topic.length !== messages) problems.push(`baseline: ${topic.length} of ${messages} in the topic`);
      topic.delete();
      await drop();
      return elapsed;
    },
  },
  candidate: {
    name: `wasm-pipes postgres://.../outbox?batch=${BATCH} -> mem://`,
    async run(messages) {
      const { table, drop, topic } = await prepare(messages);
      let began = 0;
      const running = start(
        source(`postgres://postgres@127.0.0.1:5432/test/${table}?batch=${BATCH}`, { maxInFlight: 1024 }).pipe(
          tap(() => {
            if (began === 0) began = performance.now();
          }),
        ),
        sink(`mem://${topic.name}`),
        { handleSignals: false },
      );
      while (running.stats().acked < messages) await new Promise((resolve) => setTimeout(resolve, 2));
      await running.stop(); // counted: it sends the last deletes, as the baseline's loop commits its own
      const elapsed = performance.now() - began;
      const left = await rowCount(pool, table);
      if (left !== 0 || topic.length !== messages)
        problems.push(`candidate: ${left} rows left, ${topic.length} of ${messages} in the topic`);
      topic.delete();
      await drop();
      return elapsed;
    },
  },
  async verify() {
    return problems.length === 0 ? ['every row relayed once and deleted, on both sides'] : problems.map((problem) => `FAIL: ${problem}`);
  },
};
