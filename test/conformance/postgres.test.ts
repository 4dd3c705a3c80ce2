// The conformance suite on the shared PostgreSQL (127.0.0.1:5432, database test): the sink inserts into an outbox
// table made from the documented SQL (unique name per test, dropped afterwards), and the source works that table as
// a queue.
import type { Pool } from 'pg';
import { conformanceSuite } from './suite';
import { adminPool, createTable, pgUri } from '../postgres/helpers';

let pool: Pool;

conformanceSuite({
  name: 'postgres:// (insert sink -> outbox source)',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  async beforeAll() {
    pool = adminPool();
  },
  async afterAll() {
    await pool.end();
  },
  async endpoints() {
    const table = await createTable(pool, 'outbox', 'conformance');
    return {
      sourceUri: pgUri(table.name, { nack_delay: '100ms' }),
      sinkUri: pgUri(table.name),
      cleanup: () => table.drop(),
    };
  },
});
