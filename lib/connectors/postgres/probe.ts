// `wasm-pipes check` for postgres://: connects once and describes the table with the privileges the endpoint needs
// (a source claims, marks and deletes rows: SELECT and UPDATE, and DELETE with on_ack=delete; a sink INSERTs), the
// same look-up the connector does at start. No row is read, claimed or written.
import type { EndpointUri } from '../../registry';
import { parsePgUri } from './config';
import { checkTable, createPool } from './client';

async function describe(uri: EndpointUri, env: NodeJS.ProcessEnv, privileges: readonly string[]): Promise<string> {
  const settings = parsePgUri(uri, env);
  const pool = createPool(settings, 1, () => undefined);
  try {
    const shape = await checkTable(pool, settings, privileges);
    return `PostgreSQL ${settings.host}: table '${settings.table.name}' (${shape.columns.size} columns), ${privileges.join(', ')} granted`;
  } catch (error) {
    // the check line names the variable already
    throw new Error((error as Error).message.replace(/^[A-Z_]+: /, ''), { cause: error });
  } finally {
    await pool.end().catch(() => undefined);
  }
}

export function probeSource(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  return describe(uri, env, ['SELECT', 'UPDATE', ...((uri.params.get('on_ack') ?? 'delete') === 'delete' ? ['DELETE'] : [])]);
}

export function probeSink(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  return describe(uri, env, ['INSERT']);
}
