// The conformance suite on the shared PostgreSQL (127.0.0.1:5432, database test): the sink inserts into an outbox
// table made from the documented SQL (unique name per test, dropped afterwards), and the source works that table as
// a queue.
import type { Pool } from 'pg';
import { conformanceSuite, type ConformanceEndpoints } from './suite';
import { adminPool, createTable, pgUri } from '../postgres/helpers';

let pool: Pool;

/** An outbox table of its own; `params` go on the source URI. */
async function outboxEndpoints(params: Record<string, string>): Promise<ConformanceEndpoints> {
  const table = await createTable(pool, 'outbox', 'conformance');
  return {
    sourceUri: pgUri(table.name, { nack_delay: '100ms', ...params }),
    sinkUri: pgUri(table.name),
    cleanup: () => table.drop(),
  };
}

conformanceSuite({
  name: 'postgres:// (insert sink -> outbox source)',
  redelivery: true,
  subscribeFirst: false,
  keys: true,
  missing: {
    name: 'conformance_no_such_table',
    sourceUri: pgUri('conformance_no_such_table'),
    sinkUri: pgUri('conformance_no_such_table'),
  },
  // a text column cannot hold a NUL character
  refused: { body: 'x', key: 'nul\u0000key' },
  // a short lease, so that the rows the killed process held come back within seconds
  crash: { endpoints: () => outboxEndpoints({ visibility: '2s' }) },
  async beforeAll() {
    pool = adminPool();
  },
  async afterAll() {
    await pool.end();
  },
  endpoints: () => outboxEndpoints({}),
});
