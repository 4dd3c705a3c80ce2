// redis-stream:// through the bin: exit 2 with one line naming the problem for a bad URI, a missing group and
// refused credentials; and a relay that outlives a SIGKILL and restart of its (private) redis-server (kill -9 of the
// bin mid-way is the conformance suite's crash test).
import { BinProcess, httpSourceOnFreePort, runBinToEnd } from '../helpers/bin';
import { missingIds } from '../helpers/crash';
import { sleep, waitFor } from '../helpers/wait';
import { PrivateRedis, StreamAdmin, REDIS_URL } from './helpers';

const admin = new StreamAdmin();
const bins: BinProcess[] = [];
const servers: PrivateRedis[] = [];

beforeAll(async () => {
  await admin.client.connect();
});
afterEach(async () => {
  for (const bin of bins.splice(0)) await bin.kill();
  for (const server of servers.splice(0)) await server.stop();
});
afterAll(async () => {
  await admin.close();
});

/** The ids (`id` field) of the entries of `stream`. */
async function entryIds(client: StreamAdmin, stream: string): Promise<Set<string>> {
  return new Set((await client.entries(stream)).map((entry) => entry.fields.id));
}

describe('exit 2 with one line that names the problem', () => {
  test('a source without a group', async () => {
    const run = await runBinToEnd({ SOURCE_URI: 'redis-stream://readings', SINK_URI: 'stdout://', REDIS_SERVER_URL: REDIS_URL });
    expect(run.status).toBe(2);
    // (query values of URIs are masked in what the bin prints, unless the redaction knows them as structural)
    expect(run.stderr).toContain(
      'wasm-pipes: SOURCE_URI: a Redis stream source reads through a consumer group: name it, for example redis-stream://readings?group=',
    );
  });

  test('a missing group, found at start-up', async () => {
    const stream = admin.stream('bin-nogroup');
    await admin.add(stream, [{ body: 'x' }]);
    const run = await runBinToEnd({
      SOURCE_URI: `redis-stream://${stream}?group=relay`,
      SINK_URI: 'stdout://',
      REDIS_SERVER_URL: REDIS_URL,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`wasm-pipes: redis-stream (127.0.0.1:6379): stream '${stream}' has no consumer group 'relay'`);
    expect(run.stderr).toContain('?create_group=true');
  });

  test('refused credentials, for a source and for a sink, the password never printed', async () => {
    const server = new PrivateRedis({ password: 'right-password' });
    servers.push(server);
    await server.start();
    const url = `redis://:wrong-password@127.0.0.1:${server.port}/0`;
    for (const uris of [
      { SOURCE_URI: 'redis-stream://readings?group=relay', SINK_URI: 'stdout://' },
      { SOURCE_URI: await httpSourceOnFreePort(), SINK_URI: 'redis-stream://readings' },
    ]) {
      const run = await runBinToEnd({ ...uris, REDIS_SERVER_URL: url });
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(
        `wasm-pipes: REDIS_SERVER_URL: redis-stream (127.0.0.1:${server.port}): the server refused the credentials`,
      );
      expect(run.stderr).not.toContain('wrong-password');
    }
  });
});

test('the relay outlives a SIGKILL and restart of its redis-server, and loses nothing', async () => {
  const server = new PrivateRedis({ appendonly: true });
  servers.push(server);
  await server.start();
  const own = new StreamAdmin(server.url);
  try {
    await own.client.connect();
    await own.createGroup('in', 'relay');
    const bin = new BinProcess({
      REDIS_SERVER_URL: server.url,
      SOURCE_URI: 'redis-stream://in?group=relay&consumer=relay-1&claim_idle=1s',
      SINK_URI: 'redis-stream://out',
    });
    bins.push(bin);
    await bin.started();
    await own.add(
      'in',
      Array.from({ length: 200 }, (_, i) => ({ body: 'before', id: `restart-${i}` })),
    );
    await waitFor(async () => (await own.length('out')) >= 200, 'the first 200 relayed');
    await server.kill();
    await sleep(300);
    await server.start();
    await own.add(
      'in',
      Array.from({ length: 200 }, (_, i) => ({ body: 'after', id: `restart-${200 + i}` })),
    );
    await waitFor(async () => (await entryIds(own, 'out')).size >= 400, 'the 200 added after the restart', 30_000, 100);
    expect(bin.running).toBe(true);
    expect(missingIds(await entryIds(own, 'out'), 'restart-', 400)).toEqual([]);
    expect(await bin.terminate()).toBe(0);
  } finally {
    own.client.disconnect();
  }
});
