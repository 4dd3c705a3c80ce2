// `wasm-pipes check` for redis-stream://: connects to REDIS_SERVER_URL with its credentials (one attempt), then asks,
// without changing anything: a source's stream and consumer group (XINFO GROUPS; a group the source creates with
// ?create_group=true may be missing), a sink's key (TYPE: a stream, or nothing when the sink may create it).
import type { EndpointUri } from '../../registry';
import { parseBoolean } from '../../config';
import { newRedisClient, redisErrorCode, redisServer, streamName } from './connection';

async function withClient<T>(
  env: NodeJS.ProcessEnv,
  use: (client: ReturnType<typeof newRedisClient>, address: string) => Promise<T>,
): Promise<T> {
  const server = redisServer(env);
  const client = newRedisClient(server, 'wasm-pipes check', {
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  // a refused AUTH arrives as an 'error' event; connect() then only says the connection closed
  let reported: unknown;
  client.on('error', (error) => {
    reported ??= error;
  });
  try {
    await client.connect();
  } catch (failure) {
    const error = redisErrorCode(reported) !== undefined ? reported : failure;
    const code = redisErrorCode(error);
    client.disconnect();
    if (code === 'WRONGPASS' || code === 'NOAUTH' || code === 'NOPERM') {
      throw new Error(
        `Redis at ${server.address} refused the credentials (${(error as Error).message}); fix REDIS_SERVER_URL or REDIS_USERNAME/REDIS_PASSWORD`,
        { cause: failure },
      );
    }
    throw new Error(
      `cannot connect to Redis at ${server.address} (${(error as Error).message}); start the server, or fix REDIS_SERVER_URL`,
      { cause: failure },
    );
  }
  try {
    return await use(client, server.address);
  } finally {
    client.disconnect();
  }
}

export function probeSource(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const stream = streamName(uri);
  const group = uri.params.get('group')?.trim() as string;
  const createText = uri.params.get('create_group');
  const createGroup = createText !== undefined && parseBoolean(createText, `${uri.variable} create_group`);
  return withClient(env, async (client, address) => {
    let groups: unknown[];
    try {
      groups = (await client.call('XINFO', 'GROUPS', stream)) as unknown[];
    } catch (error) {
      if (/no such key/i.test((error as Error).message)) {
        if (createGroup)
          return `Redis ${address}: stream '${stream}' does not exist yet: the source creates it with group '${group}' at start`;
        throw new Error(
          `stream '${stream}' does not exist; create it with its group (redis-cli XGROUP CREATE ${stream} ${group} $ MKSTREAM), or add &create_group=true`,
          { cause: error },
        );
      }
      throw new Error(`XINFO GROUPS ${stream} failed (${(error as Error).message}); is the key '${stream}' a stream?`, { cause: error });
    }
    const found = groups.find((entry) => Array.isArray(entry) && String(entry[1]) === group) as unknown[] | undefined;
    if (found === undefined) {
      if (createGroup) return `Redis ${address}: stream '${stream}'; group '${group}' does not exist yet: the source creates it at start`;
      throw new Error(
        `stream '${stream}' has no consumer group '${group}'; create it (redis-cli XGROUP CREATE ${stream} ${group} 0), or add &create_group=true`,
      );
    }
    const pendingAt = found.findIndex((field) => String(field) === 'pending');
    return `Redis ${address}: stream '${stream}', group '${group}' (${pendingAt >= 0 ? String(found[pendingAt + 1]) : '?'} pending)`;
  });
}

export function probeSink(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const stream = streamName(uri);
  const createText = uri.params.get('create');
  const create = createText === undefined || parseBoolean(createText, `${uri.variable} create`);
  return withClient(env, async (client, address) => {
    const type = await client.type(stream);
    if (type === 'stream') return `Redis ${address}: stream '${stream}' exists (${await client.xlen(stream)} entries)`;
    if (type !== 'none') throw new Error(`the key '${stream}' holds a ${type}, not a stream; choose another stream name`);
    if (create) return `Redis ${address}: stream '${stream}' does not exist yet: the first write creates it`;
    throw new Error(
      `stream '${stream}' does not exist and ?create=false; create it (redis-cli XGROUP CREATE ${stream} GROUP $ MKSTREAM), or drop ?create=false`,
    );
  });
}
