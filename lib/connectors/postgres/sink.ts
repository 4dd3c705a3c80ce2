// The postgres:// sink: each batch is one INSERT ... SELECT FROM unnest(arrays) ... ON CONFLICT DO NOTHING, so that a
// redelivered message (same id) is stored once. Acked when the statement committed. A value that a column refuses
// (a data error) fails only its own message: the batch is then inserted row by row to find it.
import type { Pool } from 'pg';
import type { SinkDriver, SinkOptions, WriteResult } from '../../sink';
import type { Message } from '../../message';
import { ConfigError, ConnectorError, PermanentError } from '../../errors';
import { rootLogger, type Logger } from '../../logging/logger';
import { SCHEME, type PgSettings } from './config';
import {
  type BodyEncoding,
  type TableShape,
  bodyEncoding,
  checkColumnType,
  checkTable,
  createPool,
  encodeBody,
  isDataError,
  pgError,
  sqlState,
} from './client';

/** The statement for this table's columns: the optional key and metadata columns are written when present. */
interface InsertPlan {
  sql: string;
  encoding: BodyEncoding;
  key: boolean;
  metadata: boolean;
}

/**
 * The cast from the array's element type to the column's. None to text-like columns: an explicit cast to
 * varchar(n) would cut a long value silently, where the insert's own assignment refuses it (a data error).
 */
function castTo(type: string): string {
  return type === 'text' || type === 'bytea' || type.startsWith('character') ? '' : `::${type}`;
}

function insertPlan(shape: TableShape, settings: PgSettings): InsertPlan {
  const { table, variable } = settings;
  const idType = shape.columns.get('id');
  if (idType === undefined) {
    throw new ConfigError(
      `table '${table.name}' has no column 'id' (the message id); see docs/connectors/postgres.md for the expected table`,
      { variable },
    );
  }
  if (!shape.unique.has('id')) {
    // without it ON CONFLICT DO NOTHING has nothing to conflict on: a redelivered message would be stored twice
    throw new ConfigError(
      `column id of '${table.name}' has no unique index, so a redelivered message would be stored twice; ALTER TABLE ${table.sql} ADD PRIMARY KEY (id)`,
      { variable },
    );
  }
  const encoding = bodyEncoding(shape, table, variable);
  const key = checkColumnType(shape, table, 'key', ['text', 'character varying'], variable);
  const metadata = checkColumnType(shape, table, 'metadata', ['jsonb', 'json'], variable);
  const bodyType = shape.columns.get('body') as string;
  const columns = ['id', 'body'];
  const arrays = [`$1::text[]`, encoding === 'bytea' ? '$2::bytea[]' : '$2::text[]'];
  const values = [`u.id${castTo(idType)}`, `u.body${castTo(bodyType)}`];
  if (key) {
    columns.push('key');
    arrays.push(`$${arrays.length + 1}::text[]`);
    values.push('u.key');
  }
  if (metadata) {
    columns.push('metadata');
    arrays.push(`$${arrays.length + 1}::text[]`);
    values.push(`u.metadata${castTo(shape.columns.get('metadata') as string)}`);
  }
  const names = columns.map((column) => `"${column}"`);
  return {
    sql:
      `INSERT INTO ${table.sql} (${names.join(', ')}) SELECT ${values.join(', ')} ` +
      `FROM unnest(${arrays.join(', ')}) AS u(${columns.join(', ')}) ON CONFLICT DO NOTHING`,
    encoding,
    key,
    metadata,
  };
}

export class PgSink implements SinkDriver {
  readonly scheme = SCHEME;
  private readonly pool: Pool;
  private plan: Promise<InsertPlan> | undefined;
  private readonly logger: Logger;
  private connected = false;

  constructor(
    private readonly settings: PgSettings,
    options: SinkOptions,
    poolSize: number,
  ) {
    this.logger = (options.logger ?? rootLogger()).child({ sink: 'postgres', table: settings.table.name });
    this.pool = createPool(settings, poolSize, (error) => {
      this.connected = false;
      this.logger.warn({ err: error }, `postgres (${settings.host}): a connection failed: ${error.message}`);
    });
  }

  get ready(): boolean {
    return this.connected;
  }

  /** The start-up check: the table exists with usable columns, and we may insert into it. */
  async start(): Promise<void> {
    await this.insertPlan(true);
  }

  /** The statement, from the table's columns (looked up once; again after a failed look-up). */
  private insertPlan(atStart = false): Promise<InsertPlan> {
    this.plan ??= checkTable(this.pool, this.settings, ['INSERT']).then(
      (shape) => {
        this.connected = true;
        return insertPlan(shape, this.settings);
      },
      (error: unknown) => {
        this.plan = undefined;
        // past the start, a missing table is the service's failure (for this batch), not a usage error
        if (!atStart && error instanceof ConfigError) {
          throw new ConnectorError(error.message.replace(/^[A-Z_]+: /, ''), {
            scheme: SCHEME,
            host: this.settings.host,
            retryable: false,
            cause: error,
          });
        }
        throw error;
      },
    );
    return this.plan;
  }

  async write(batch: readonly Message[]): Promise<WriteResult> {
    const plan = await this.insertPlan();
    const results: (Error | undefined)[] = new Array(batch.length).fill(undefined);
    const rows: Message[] = [];
    const bodies: (Buffer | string)[] = [];
    for (let i = 0; i < batch.length; i++) {
      const body = encodeBody(batch[i].body, plan.encoding);
      if (body instanceof PermanentError) {
        results[i] = body;
        continue;
      }
      rows.push(batch[i]);
      bodies.push(body);
    }
    if (rows.length === 0) return results;
    try {
      await this.insert(plan, rows, bodies);
      this.connected = true;
    } catch (error) {
      if (!isDataError(error)) {
        if (sqlState(error) === undefined) this.connected = false;
        throw pgError(error, this.settings, 'inserting into');
      }
      // one value the table refuses (a check, NOT NULL, a type): find it, and store the others
      await this.insertEach(plan, rows, bodies, batch, results);
      return results;
    }
    return rows.length === batch.length ? undefined : results;
  }

  private async insert(plan: InsertPlan, rows: readonly Message[], bodies: readonly (Buffer | string)[]): Promise<void> {
    const params: unknown[] = [rows.map((message) => message.id), bodies];
    if (plan.key) params.push(rows.map((message) => message.key ?? null));
    if (plan.metadata) params.push(rows.map((message) => JSON.stringify(message.metadata)));
    await this.pool.query(plan.sql, params);
  }

  private async insertEach(
    plan: InsertPlan,
    rows: readonly Message[],
    bodies: readonly (Buffer | string)[],
    batch: readonly Message[],
    results: (Error | undefined)[],
  ): Promise<void> {
    for (let i = 0; i < rows.length; i++) {
      const index = batch.indexOf(rows[i]);
      try {
        await this.insert(plan, [rows[i]], [bodies[i]]);
      } catch (error) {
        results[index] = isDataError(error)
          ? new PermanentError(`${this.settings.table.name} refused message ${rows[i].id}: ${(error as Error).message}`, { cause: error })
          : pgError(error, this.settings, 'inserting into');
      }
    }
  }

  async close(): Promise<void> {
    this.connected = false;
    await this.pool.end();
  }
}
