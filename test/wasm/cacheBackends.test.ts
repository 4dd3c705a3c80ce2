// The cache inside wasm modules on every backend: memory://, and redis:// and nats-kv:// on the real servers. A
// module that counts per-name occurrences in the cache (native ABI, and the Go prototype's) gives the same counts on
// each; a 1 MiB value comes back whole through cache_get's grow-and-retry protocol; and a backend that stops
// answering while modules wait on it fails those messages only (nack), the pipeline goes on.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Subject } from 'rxjs';
import { cache, type Cache, MemoryCache } from '../../lib/cache';
import type { SyncCacheOperations } from '../../lib/cache/types';
import { Message } from '../../lib/message';
import { ConnectorError } from '../../lib/errors';
import { loadWasm, type WasmModule } from '../../lib/wasm/load';
import { wasmTransform } from '../../operators';
import { buildAs, through, type Outcome } from './helpers';
import {
  capturingLogger,
  deleteKvBuckets,
  deleteRedisPrefix,
  freePort,
  NATS_ENV,
  REDIS_URL,
  sleep,
  startRedis,
  stopChild,
  uniqueName,
  waitForPort,
} from '../cache/helpers';

const { logger } = capturingLogger('error');

const NAMES = ['ann', 'bob', 'cy', 'dee', 'eve', 'fay'];
/** 120 messages over six names in a scrambled order; each message's key is its name. */
const INPUTS = Array.from({ length: 120 }, (_, i) => NAMES[(i * 7 + (i >> 3)) % NAMES.length]);

/** What any correct run gives: per name, the outputs `<name>=1`, `<name>=2`, ... in input order, and the final counts. */
function expected(): { perName: Record<string, string[]>; counts: Record<string, string> } {
  const perName: Record<string, string[]> = {};
  for (const name of INPUTS) {
    perName[name] ??= [];
    perName[name].push(`${name}=${perName[name].length + 1}`);
  }
  const counts = Object.fromEntries(Object.entries(perName).map(([name, outputs]) => [name, String(outputs.length)]));
  return { perName, counts };
}

function byName(outputs: Message[]): Record<string, string[]> {
  const perName: Record<string, string[]> = {};
  for (const output of outputs) {
    const text = output.text();
    const name = text.split('=')[0];
    expect(output.key).toBe(name); // the output keeps its input's key
    (perName[name] ??= []).push(text);
  }
  return perName;
}

async function storedCounts(store: Cache): Promise<Record<string, string>> {
  const counts: Record<string, string> = {};
  for (const name of NAMES) counts[name] = (await store.get(`count:${name}`))?.toString() ?? '(missing)';
  return counts;
}

/** Counts the reads that reach the backend (a decorator of our own Cache interface, not of a client library). */
class CountingCache implements Cache {
  reads = 0;
  readonly sync?: SyncCacheOperations;
  readonly getMany?: (keys: readonly string[]) => Promise<(Buffer | undefined)[]>;

  constructor(private readonly inner: Cache) {
    const sync = inner.sync;
    if (sync !== undefined) {
      this.sync = {
        ...sync,
        get: (key) => {
          this.reads++;
          return sync.get(key);
        },
      };
    }
    const getMany = inner.getMany?.bind(inner);
    if (getMany !== undefined) {
      this.getMany = (keys) => {
        this.reads += keys.length;
        return getMany(keys);
      };
    }
  }

  get name(): string {
    return this.inner.name;
  }
  get(key: string): Promise<Buffer | undefined> {
    this.reads++;
    return this.inner.get(key);
  }
  set(key: string, value: Buffer, ttlMs?: number): Promise<void> {
    return this.inner.set(key, value, ttlMs);
  }
  add(key: string, value: Buffer, ttlMs?: number): Promise<boolean> {
    return this.inner.add(key, value, ttlMs);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Backend {
  name: string;
  open(): Cache;
  cleanup(): Promise<void>;
}

const backends: Backend[] = [
  { name: 'memory://', open: () => new MemoryCache(), cleanup: async () => undefined },
  (() => {
    const prefix = `${uniqueName('wasmcache')}:`;
    return {
      name: 'redis://',
      open: () => cache(`${REDIS_URL}?prefix=${prefix}`, { logger }),
      cleanup: () => deleteRedisPrefix(prefix),
    };
  })(),
  (() => {
    const bucket = uniqueName('wasmcache');
    return {
      name: 'nats-kv://',
      open: () => cache(`nats-kv://${bucket}?storage=memory`, { env: NATS_ENV, logger }),
      cleanup: () => deleteKvBuckets(bucket),
    };
  })(),
];

let nativeCount: string;
let goCount: string;
const results: Record<string, { native: Record<string, string[]>; go: Record<string, string[]> }> = {};

beforeAll(async () => {
  [nativeCount, goCount] = await Promise.all([
    buildAs('count.ts'),
    buildAs('go/count.ts', ['-O3', '--runtime', 'stub', '--use', 'abort=']),
  ]);
});

describe.each(backends)('wasm modules on the $name cache', (backend) => {
  const opened: Cache[] = [];
  const open = (): Cache => {
    const store = backend.open();
    opened.push(store);
    return store;
  };
  afterAll(async () => {
    await Promise.all(opened.map((store) => store.close()));
    await backend.cleanup();
  });

  /**
   * Runs INPUTS (each name as its own key) through `module` on `store`, its counters reset first; every message is
   * acked and the outputs and the stored counts are the expected ones. Resolves with the outputs by name.
   */
  async function countThrough(
    store: Cache,
    module: WasmModule,
    options: { prefetch?: (message: Message) => string } = {},
  ): Promise<Record<string, string[]>> {
    await Promise.all(NAMES.map((name) => store.delete(`count:${name}`)));
    const { outputs, outcomes } = await through(
      wasmTransform(module, { cache: store, poolSize: 4, logger, ...options }),
      INPUTS.map((name) => ({ body: name, key: name })),
    );
    expect(outcomes.every((outcome) => outcome === 'ack')).toBe(true);
    const { perName, counts } = expected();
    expect(byName(outputs)).toEqual(perName);
    expect(await storedCounts(store)).toEqual(counts);
    return byName(outputs);
  }

  test('a native module counting per name gives the exact counts (messages of one key never overlap)', async () => {
    const store = open();
    const module = await loadWasm(nativeCount);
    const outputs = await countThrough(store, module);
    if (store.sync === undefined) {
      // it really waited on the backend, several messages at once
      expect(module.stats.suspensions).toBeGreaterThanOrEqual(INPUTS.length * 2);
      expect(module.stats.instantiations).toBe(4);
    } else {
      expect(module.stats.suspensions).toBe(0);
    }
    (results[backend.name] ??= { native: {}, go: {} }).native = outputs;
  });

  test('with a prefetch hint naming the key it reads, the module gives the same counts', async () => {
    const store = open();
    const module = await loadWasm(nativeCount);
    await countThrough(store, module, { prefetch: (m) => `count:${m.text()}` });
    // with an asynchronous backend the module waited only for its writes
    expect(module.stats.suspensions).toBe(store.sync === undefined ? INPUTS.length : 0);
  });

  test('a Go-prototype module (cache.get / cache.set) counting per name gives the same counts', async () => {
    const store = open();
    const module = await loadWasm(goCount);
    (results[backend.name] ??= { native: {}, go: {} }).go = await countThrough(store, module);
  });

  test('a 1 MiB binary value comes back whole through cache_get, grown and retried without a second read', async () => {
    const store = open();
    const value = randomBytes(1024 * 1024);
    await store.set('big-value', value);
    const counting = new CountingCache(store);
    const module = await loadWasm(nativeCount);
    const { outputs, outcomes } = await through(wasmTransform(module, { cache: counting, logger }), ['big:big-value']);
    expect(outcomes).toEqual(['ack']);
    expect(outputs).toHaveLength(1);
    expect(outputs[0].body.length).toBe(value.length);
    expect(Buffer.compare(outputs[0].body, value)).toBe(0);
    expect(counting.reads).toBe(1);
    await store.delete('big-value');
  });
});

test('the three backends gave the same outputs, for both ABIs', () => {
  expect(Object.keys(results).sort()).toEqual(backends.map((backend) => backend.name).sort());
  const [first, ...others] = Object.values(results);
  for (const other of others) expect(other).toEqual(first);
  expect(first.native).toEqual(expected().perName);
  expect(first.go).toEqual(expected().perName);
});

/**
 * Stops a server of ours (SIGSTOP) and waits until every thread of it is stopped: a thread still on a CPU could
 * otherwise answer the next request, and the test would not show a wait that fails.
 */
async function freeze(child: ChildProcess): Promise<void> {
  const pid = child.pid as number;
  process.kill(pid, 'SIGSTOP');
  const stopped = (): boolean =>
    fs.readdirSync(`/proc/${pid}/task`).every((task) => {
      const stat = fs.readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      return /^\d+ \(.*\) [Tt] /.test(stat);
    });
  for (let tries = 0; !stopped(); tries++) {
    if (tries > 500) throw new Error(`the server ${pid} did not stop`);
    await sleep(2);
  }
}

/** A server of our own that the test can freeze (SIGSTOP) while a module waits on it, and thaw (SIGCONT). */
interface Frozen {
  name: string;
  start(): Promise<{ uri: string; env: NodeJS.ProcessEnv; child: ChildProcess; cleanup(): void }>;
}

const frozenBackends: Frozen[] = [
  {
    name: 'redis://',
    async start() {
      const port = await freePort();
      const child = await startRedis(port);
      return { uri: `redis://127.0.0.1:${port}/0?timeout=1s`, env: {}, child, cleanup: () => undefined };
    },
  },
  {
    name: 'nats-kv://',
    async start() {
      const port = await freePort();
      const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wp-wasmcache-nats-'));
      const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: 'ignore' });
      await waitForPort(port);
      return {
        uri: `nats-kv://${uniqueName('frozen')}?storage=memory&timeout=1s`,
        env: { NATS_SERVER_URL: `127.0.0.1:${port}` },
        child,
        cleanup: () => fs.rmSync(storeDir, { recursive: true, force: true }),
      };
    },
  },
];

describe.each(frozenBackends)('a $name backend that stops answering while modules wait on it', (backend) => {
  const children: ChildProcess[] = [];
  const cleanups: (() => void)[] = [];
  const caches: Cache[] = [];
  afterAll(async () => {
    for (const child of children) if (child.signalCode === null && child.exitCode === null) process.kill(child.pid as number, 'SIGCONT');
    await Promise.all(caches.map((open) => open.close()));
    await Promise.all(children.map((child) => stopChild(child, 'SIGKILL')));
    for (const cleanup of cleanups) cleanup();
  });

  test.each([
    ['native', () => nativeCount],
    ['Go-prototype', () => goCount],
  ])(
    '%s module: the waiting message is nacked with the backend error, the others pass, and the stage goes on',
    async (_abi, modulePath) => {
      const server = await backend.start();
      children.push(server.child);
      cleanups.push(server.cleanup);
      const store = cache(server.uri, { env: server.env, logger });
      caches.push(store);
      await store.connect?.();
      const module: WasmModule = await loadWasm(modulePath());

      const input = new Subject<Message>();
      const outputs: string[] = [];
      let stageError: unknown;
      input.pipe(wasmTransform(module, { cache: store, poolSize: 4, logger })).subscribe({
        next: (message) => {
          outputs.push(message.text());
          message.ack();
        },
        error: (error) => (stageError = error),
      });
      const send = (name: string): Promise<Outcome> =>
        new Promise((resolve) => input.next(Message.create({ body: name, key: name }, (error) => resolve(error ?? 'ack'))));

      expect(await send('ann')).toBe('ack');
      await freeze(server.child);
      // two messages of different keys wait on the frozen server at once
      const [bob, cy] = await Promise.all([send('bob'), send('cy')]);
      for (const outcome of [bob, cy]) {
        expect(outcome).toBeInstanceOf(ConnectorError);
        expect((outcome as Error).message).toMatch(/cache get 'count:(bob|cy)'.* failed: (Command timed out|timeout)/i);
      }
      process.kill(server.child.pid as number, 'SIGCONT');
      await sleep(50);
      // the same messages again (as the source would redeliver them), and another: all pass
      expect(await send('bob')).toBe('ack');
      expect(await send('cy')).toBe('ack');
      expect(await send('ann')).toBe('ack');
      expect(outputs).toEqual(['ann=1', 'bob=1', 'cy=1', 'ann=2']);
      expect(stageError).toBeUndefined();
      input.complete();
    },
  );
});
