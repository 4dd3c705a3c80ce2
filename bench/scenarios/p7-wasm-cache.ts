// P7: mem:// -> wasmTransform(enrich-from-cache) -> mem:// with the cache on Redis (127.0.0.1:6379) against the same
// pipeline with the memory cache. The module is examples/enrich: for every event it reads "profile:<user>" with
// cache_get. Events are keyed by user (order is kept per key). With Redis the candidate names that key with the
// `prefetch` hint, a key template that reads the body's "user" field (lib/keyTemplate.ts, WASM_PREFETCH in the bin),
// so that the stage fetches the keys of many messages in one MGET before the module runs. Measured after the rounds
// and reported as notes: a hint function that parses the body (m.json()), a key-only hint (m.key), and no hint (the
// module's read suspends it, asyncify, a pool of instances), whose target is 0.5.
import type { OperatorFunction } from 'rxjs';
import path from 'node:path';
import type { Scenario } from '../harness';
import { median } from '../harness';
import { source, sink, start, cache, type Cache, type Message } from '../../lib';
import { memTopic } from '../../lib/connectors/local/mem';
import { loadWasm, type WasmModule } from '../../lib/wasm/load';
import type { WasmOperatorOptions } from '../../lib/wasm/stage';
import { wasmTransform } from '../../operators';

const ROOT = path.join(__dirname, '..', '..', '..');

const builder = require(path.join(ROOT, 'scripts', 'wasm-build.js')) as {
  build(spec: { lang: 'as'; source: string }): Promise<string>;
};

const USERS = 1000;
const MAX_IN_FLIGHT = 1024;
const profiles = Array.from({ length: USERS }, (_, i) =>
  Buffer.from(JSON.stringify({ name: `user ${i}`, tier: i % 3 === 0 ? 'gold' : 'basic' })),
);
const bodies = Array.from({ length: USERS }, (_, i) =>
  Buffer.from(JSON.stringify({ user: `u${i}`, event_type: 'page_view', path: '/products/widgets/blue-widget', ts: 1700000000000 })),
);

const redisPrefix = `bench-p7-${process.pid}:`;
const memory = cache(`memory://?max=${USERS * 2}`);
for (let i = 0; i < USERS; i++) memory.sync?.set(`profile:u${i}`, profiles[i]);
let redis: Cache | undefined;
let forMemory: WasmModule | undefined;
let forRedis: WasmModule | undefined;
let round = 0;
let checked = 0;
let wrong = 0;
/** The message counts of the baseline's rounds: verify() measures the variants with the same. */
const baselineRuns: number[] = [];

/** Runs mem:// -> stage -> mem:// over `messages` messages and resolves to the elapsed ms; checks every output. */
async function throughMem(label: string, stage: OperatorFunction<Message, Message>, messages: number): Promise<number> {
  const name = `bench-p7-${label}-${process.pid}-${round++}`;
  const input = memTopic(`${name}-in`);
  // the sink first: it creates the output topic with room for every message (memTopic() would use the default)
  const output = sink(`mem://${name}-out?max_backlog=${messages + 1}`);
  const outputTopic = memTopic(`${name}-out`);
  for (let i = 0; i < messages; i++) input.publish({ body: bodies[i % USERS], key: `u${i % USERS}` });
  const began = performance.now();
  const running = start(source(`mem://${name}-in`, { maxInFlight: MAX_IN_FLIGHT }).pipe(stage), output, { handleSignals: false });
  // polled with a timer, not setImmediate: a spinning event loop would compete for the 2 vCPUs with the Redis
  // server that the candidate waits on, and count as time spent by the pipeline
  while (outputTopic.length < messages) await new Promise((resolve) => setTimeout(resolve, 1));
  const elapsed = performance.now() - began;
  await running.stop();
  // every output must carry its profile: a lookup that silently missed would make the candidate look faster
  const reader = source(`mem://${name}-out`).subscribe((message) => {
    checked++;
    if (message.metadata.enriched !== 'true' || !message.body.includes(`"profile":{"name":"user ${message.key?.slice(1)}"`)) wrong++;
    message.ack();
  });
  while (outputTopic.length > 0) await new Promise((resolve) => setTimeout(resolve, 1));
  reader.unsubscribe();
  input.delete();
  outputTopic.delete();
  return elapsed;
}

function onMemory(): OperatorFunction<Message, Message> {
  return wasmTransform(forMemory as WasmModule, { cache: memory });
}

function onRedis(options: WasmOperatorOptions): OperatorFunction<Message, Message> {
  return wasmTransform(forRedis as WasmModule, { cache: redis, ...options });
}

/** The same pipeline with other options, three rounds: a note with msg/s and the ratio against the baseline's median. */
async function variant(
  topic: string,
  label: string,
  options: WasmOperatorOptions,
  messages: number,
): Promise<{ note: string; ratio: number }> {
  // alternating with the baseline, as the rounds do: measured back to back, a pipeline ran in a quieter heap than the
  // candidate's rounds, and looked up to 0.15 better than it is
  const rates: number[] = [];
  const baselineRates: number[] = [];
  const collect = (): void => (globalThis as { gc?: () => void }).gc?.(); // as the harness does before each run
  for (let i = 0; i < 3; i++) {
    collect();
    baselineRates.push((messages / (await throughMem('memory', onMemory(), messages))) * 1000);
    collect();
    rates.push((messages / (await throughMem(topic, onRedis(options), messages))) * 1000);
  }
  const rate = median(rates);
  const ratio = rate / median(baselineRates);
  return { note: `${label}: ${Math.round(rate).toLocaleString('en-US')} msg/s, ratio ${ratio.toFixed(2)}`, ratio };
}

/** The target of the pipeline without a hint (issue 17); the candidate's, with a hint that reads the body, is 0.8. */
const NO_HINT_TARGET = 0.5;

export const p7: Scenario = {
  id: 'P7',
  title: 'mem:// -> wasmTransform(enrich-from-cache) -> mem:// with redis://127.0.0.1:6379 vs with memory://',
  messages: 200_000,
  quickMessages: 20_000,
  target: 0.8,
  async setup() {
    const file = await builder.build({ lang: 'as', source: path.join(ROOT, 'examples', 'enrich', 'enrich.ts') });
    forMemory = await loadWasm(file);
    forRedis = await loadWasm(file, { asyncCache: true });
    redis = cache(`redis://127.0.0.1:6379/0?prefix=${redisPrefix}`);
    await redis.connect?.();
    await Promise.all(profiles.map((profile, i) => (redis as Cache).set(`profile:u${i}`, profile, 3_600_000)));
  },
  async teardown() {
    if (redis === undefined) return;
    await Promise.all(profiles.map((_, i) => (redis as Cache).delete(`profile:u${i}`)));
    await redis.close();
  },
  baseline: {
    name: 'wasmTransform(enrich) with memory://',
    async run(messages) {
      const elapsed = await throughMem('memory', onMemory(), messages);
      baselineRuns.push(messages);
      return elapsed;
    },
  },
  candidate: {
    name: "wasmTransform(enrich) with redis://, prefetch: 'profile:{json.user}' (reads the body)",
    run: (messages) => throughMem('redis', onRedis({ prefetch: 'profile:{json.user}' }), messages),
  },
  async verify() {
    const stats = (forRedis as WasmModule).stats;
    const notes = [`redis: ${stats.instantiations} instances, ${stats.suspensions} suspensions for ${stats.calls} calls`];
    const messages = Math.max(...baselineRuns);
    const parsing = await variant(
      'json-hint',
      "prefetch: (m) => 'profile:' + m.json().user (parses the body)",
      { prefetch: (m) => `profile:${m.json<{ user: string }>().user}` },
      messages,
    );
    const keyOnly = await variant(
      'key-hint',
      "prefetch: (m) => 'profile:' + m.key (the message key)",
      { prefetch: (m) => `profile:${m.key}` },
      messages,
    );
    const noHint = await variant('no-hint', 'no prefetch (the read suspends the module; the default pool of instances)', {}, messages);
    notes.push(parsing.note, keyOnly.note, `${noHint.note} (target ${NO_HINT_TARGET})`);
    if (noHint.ratio < NO_HINT_TARGET)
      notes.push(`FAIL: without a hint the ratio is ${noHint.ratio.toFixed(2)}, below its target of ${NO_HINT_TARGET}`);
    notes.push(`${checked} outputs checked, ${wrong} without their profile`);
    if (wrong > 0) notes.push(`FAIL: ${wrong} outputs without their profile`);
    return notes;
  },
};
