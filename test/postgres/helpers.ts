// Helpers of the PostgreSQL tests: an admin pool on the shared server (127.0.0.1:5432, database test, trust auth),
// tables of unique names made from the SQL of docs/connectors/postgres.md (so the documented SQL is what is tested)
// and dropped afterwards, and rows put in or read out with plain SQL, independently of the connector.
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'pg';
import { uniqueName } from '../helpers/wait';
import { repositoryRoot } from '../fixtures/root';

export const PG_HOST = '127.0.0.1:5432';
export const PG_DATABASE = 'test';
export const PG_USER = 'postgres';
/** The URI of `table` on the shared server, with extra query parameters. */
export function pgUri(table: string, params: Record<string, string> = {}): string {
  const query = new URLSearchParams(params).toString();
  return `postgres://${PG_USER}@${PG_HOST}/${PG_DATABASE}/${table}${query ? `?${query}` : ''}`;
}

export function adminPool(): Pool {
  return new Pool({ host: '127.0.0.1', port: 5432, user: PG_USER, database: PG_DATABASE, max: 4 });
}

// from the repository root, so that the benchmarks' build (dist/) finds the page too
const DOCS = path.join(repositoryRoot(), 'docs', 'connectors', 'postgres.md');

/** The ```sql blocks of the docs page. */
function documentedSql(): string[] {
  const text = fs.readFileSync(DOCS, 'utf8');
  return [...text.matchAll(/```sql\n([\s\S]*?)```/g)].map((match) => match[1]);
}

/** The documented block that starts with `CREATE TABLE <name>`, with every `name` (a whole word) renamed. */
export function documentedTable(documented: 'outbox' | 'events', table: string): string {
  const block = documentedSql().find((sql) => sql.startsWith(`CREATE TABLE ${documented} `));
  if (block === undefined) throw new Error(`docs/connectors/postgres.md has no CREATE TABLE ${documented}`);
  return block.replace(new RegExp(`\\b${documented}\\b`, 'g'), table).replace(new RegExp(`\\b${documented}_`, 'g'), `${table}_`);
}

/** The documented INSERT of an application into the outbox, for `table`. */
export function documentedInsert(table: string): string {
  const block = documentedSql().find((sql) => sql.startsWith('INSERT INTO outbox'));
  if (block === undefined) throw new Error('docs/connectors/postgres.md has no INSERT INTO outbox');
  return block.replace(/\boutbox\b/g, table);
}

export function uniqueTable(prefix: string): string {
  return uniqueName(`wp_${prefix}`).replace(/-/g, '_').toLowerCase();
}

/** Creates a table of the documented shape under a unique name; `drop()` removes it and its trigger function. */
export async function createTable(
  pool: Pool,
  shape: 'outbox' | 'events',
  prefix: string = shape,
): Promise<{ name: string; drop(): Promise<void> }> {
  const name = uniqueTable(prefix);
  await pool.query(documentedTable(shape, name));
  return {
    name,
    drop: async () => {
      await pool.query(`DROP TABLE IF EXISTS ${name}`);
      await pool.query(`DROP FUNCTION IF EXISTS ${name}_notify()`);
    },
  };
}

/** Inserts `count` rows into an outbox in one statement: ids `${prefix}0..`, bodies `{"n":i}`. */
export async function fillOutbox(pool: Pool, table: string, count: number, prefix = 'row-', from = 0): Promise<void> {
  for (let start = from; start < from + count; start += 5000) {
    const end = Math.min(from + count, start + 5000);
    await pool.query(
      `INSERT INTO ${table} (id, body, key, metadata) SELECT $1 || n, convert_to('{"n":' || n || '}', 'UTF8'), 'k' || (n % 7), ` +
        `jsonb_build_object('n', n::text) FROM generate_series($2::int, $3::int) AS n`,
      [prefix, start, end - 1],
    );
  }
}

export async function rowCount(pool: Pool, table: string, where = 'true'): Promise<number> {
  const result = await pool.query<{ count: string }>(`SELECT count(*) AS count FROM ${table} WHERE ${where}`);
  return Number(result.rows[0].count);
}
