// /metrics after a run: a pipeline with a filter, a cache lookup, a map that fails once, a fan-out to a mem:// sink
// and a flaky sink with a dead letter; every counter on /metrics and in pipeline.stats() must say what happened.
import { source, sink } from '../../lib/endpoints';
import { start, type RunningPipeline } from '../../lib/run';
import { type Message } from '../../lib/message';
import { SinkRuntime, type SinkDriver, type WriteResult } from '../../lib/sink';
import { ConnectorError, PermanentError } from '../../lib/errors';
import { memTopic } from '../../lib/connectors/local/mem';
import { cache as openCacheUri, type Cache } from '../../lib/cache';
import { startAdminServer, pipelineReadiness, type AdminServer } from '../../lib/admin/server';
import { Histogram, Sampler, counterFamily } from '../../lib/metrics';
import { wasmMetrics } from '../../lib/wasm/metrics';
import { filterMessages, mapMessages, cacheLookup } from '../../operators';
import { uniqueName, waitFor } from '../helpers/wait';
import { parseProm, sampleValue, type PromSample } from './helpers';

/** A sink that fails n=9 permanently and n=11 once (retryable). */
class FlakyDriver implements SinkDriver {
  readonly scheme = 'flaky';
  private failedOnce = false;
  write(batch: readonly Message[]): WriteResult {
    return batch.map((message) => {
      // the bodies were upper-cased on the way: {"N":9}
      const n = JSON.parse(message.text().toLowerCase()).n as number;
      if (n === 9) return new PermanentError('n=9 is refused');
      if (n === 11 && !this.failedOnce) {
        this.failedOnce = true;
        return new ConnectorError('busy', { scheme: 'flaky' });
      }
      return undefined;
    });
  }
  async close(): Promise<void> {}
}

describe('metrics after a run', () => {
  const name = uniqueName('metrics');
  const inUri = `mem://${name}-in`;
  const outUri = `mem://${name}-out`;
  const deadUri = `mem://${name}-dead`;
  let running: RunningPipeline;
  let admin: AdminServer;
  let lookup: Cache;
  let samples: PromSample[];
  const thrown = new Set<number>();

  beforeAll(async () => {
    const input = memTopic(`${name}-in`);
    for (let n = 0; n < 100; n++) input.publish({ id: `m${n}`, body: JSON.stringify({ n }) });
    lookup = openCacheUri('memory://');
    for (let n = 0; n < 10; n++) await lookup.set(String(n), Buffer.from(`user-${n}`));
    const deadLetter = sink(deadUri);
    const flaky = new SinkRuntime('flaky://sink', new FlakyDriver(), { deadLetter, retry: { initialDelay: 5 } });
    running = start(
      source(inUri, { maxInFlight: 64 }).pipe(
        filterMessages((m) => m.json<{ n: number }>().n % 4 !== 0, 'keepSome'),
        cacheLookup(lookup, { key: (m) => String(m.json<{ n: number }>().n), into: { metadata: 'user' } }),
        mapMessages((m) => {
          const { n } = m.json<{ n: number }>();
          if (n === 7 && !thrown.has(7)) {
            thrown.add(7);
            throw new Error('seven fails once');
          }
          return { body: m.text().toUpperCase() };
        }, 'upper'),
      ),
      [sink(outUri), flaky],
      { handleSignals: false, deadLetter },
    );
    await running.started;
    admin = await startAdminServer({ port: 0, readiness: () => pipelineReadiness(running, { cache: lookup }) });
    await waitFor(() => running.stats().acked === 100, 'every message acked', 15_000);
    wasmMetrics.traps.labels({ stage: 'redact.wasm' }).inc();
    wasmMetrics.traps.labels({ stage: 'redact.wasm' }).inc();
    wasmMetrics.callSeconds.labels({ stage: 'redact.wasm' }).observe(0.00002);
    const response = await fetch(`${admin.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    samples = parseProm(await response.text());
  });

  afterAll(async () => {
    await running.stop();
    await admin.close();
    await lookup.close();
    for (const topic of [`${name}-in`, `${name}-out`, `${name}-dead`]) memTopic(topic).delete();
  });

  const value = (metric: string, labels: Record<string, string>): number | undefined => sampleValue(samples, metric, labels);

  test('the source: received (with the one redelivery), acked, nacked, in flight, window', () => {
    const labels = { role: 'source', stage: inUri, scheme: 'mem' };
    expect(value('wasm_pipes_messages_received_total', labels)).toBe(101);
    expect(value('wasm_pipes_messages_emitted_total', labels)).toBe(101);
    expect(value('wasm_pipes_messages_acked_total', labels)).toBe(100);
    expect(value('wasm_pipes_messages_nacked_total', labels)).toBe(1);
    expect(value('wasm_pipes_in_flight', labels)).toBe(0);
    expect(value('wasm_pipes_max_in_flight', labels)).toBe(64);
    expect(value('wasm_pipes_ready', labels)).toBe(1);
  });

  test('each operator: in, out, dropped, nacked, errors by kind', () => {
    const filter = { role: 'operator', stage: 'keepSome' };
    expect(value('wasm_pipes_messages_received_total', filter)).toBe(101);
    expect(value('wasm_pipes_messages_dropped_total', filter)).toBe(25);
    expect(value('wasm_pipes_messages_emitted_total', filter)).toBe(76);
    const lookupStage = { role: 'operator', stage: 'cacheLookup' };
    expect(value('wasm_pipes_messages_received_total', lookupStage)).toBe(76);
    expect(value('wasm_pipes_messages_emitted_total', lookupStage)).toBe(76);
    const upper = { role: 'operator', stage: 'upper' };
    expect(value('wasm_pipes_messages_received_total', upper)).toBe(76);
    expect(value('wasm_pipes_messages_emitted_total', upper)).toBe(75);
    expect(value('wasm_pipes_messages_nacked_total', upper)).toBe(1);
    expect(value('wasm_pipes_errors_total', { ...upper, kind: 'handler' })).toBe(1);
  });

  test('each sink: received, confirmed, dead-lettered, write errors by kind, and the dead letter itself', () => {
    const out = { role: 'sink', stage: outUri, scheme: 'mem' };
    expect(value('wasm_pipes_messages_received_total', out)).toBe(75);
    expect(value('wasm_pipes_messages_acked_total', out)).toBe(75);
    const flaky = { role: 'sink', stage: 'flaky://sink', scheme: 'flaky' };
    expect(value('wasm_pipes_messages_received_total', flaky)).toBe(75);
    expect(value('wasm_pipes_messages_acked_total', flaky)).toBe(74);
    expect(value('wasm_pipes_messages_dead_lettered_total', flaky)).toBe(1);
    expect(value('wasm_pipes_errors_total', { ...flaky, kind: 'write_permanent' })).toBe(1);
    expect(value('wasm_pipes_errors_total', { ...flaky, kind: 'write_retryable' })).toBe(1);
    expect(value('wasm_pipes_sink_queued', flaky)).toBe(0);
    const dead = { role: 'dead_letter', stage: deadUri, scheme: 'mem' };
    expect(value('wasm_pipes_messages_received_total', dead)).toBe(1);
    expect(value('wasm_pipes_messages_acked_total', dead)).toBe(1);
  });

  test('latency histograms: one receive -> settle observation per message at this rate, cumulative buckets', () => {
    const labels = { role: 'source', stage: inUri };
    expect(value('wasm_pipes_message_latency_seconds_count', { ...labels, outcome: 'ack' })).toBe(100);
    expect(value('wasm_pipes_message_latency_seconds_count', { ...labels, outcome: 'nack' })).toBe(1);
    expect(value('wasm_pipes_message_latency_seconds_bucket', { ...labels, outcome: 'ack', le: '+Inf' })).toBe(100);
    const buckets = samples.filter(
      (s) => s.name === 'wasm_pipes_message_latency_seconds_bucket' && s.labels.stage === inUri && s.labels.outcome === 'ack',
    );
    for (let i = 1; i < buckets.length; i++) expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
    expect(value('wasm_pipes_message_latency_seconds_sum', { ...labels, outcome: 'ack' })).toBeGreaterThan(0);
    // the flaky sink's writes: the two failures, and the rest confirmed
    expect(value('wasm_pipes_sink_write_seconds_count', { stage: 'flaky://sink', outcome: 'error' })).toBeGreaterThanOrEqual(1);
    expect(value('wasm_pipes_sink_write_seconds_count', { stage: outUri, outcome: 'ok' })).toBeGreaterThanOrEqual(1);
  });

  test('the cache: hits, misses and readiness', () => {
    // kept messages with n < 10 hit (1, 2, 3, 5, 6, 7, 9, and 7 again after its nack); the others miss
    expect(value('wasm_pipes_cache_hits_total', { cache: 'memory://' })).toBe(8);
    expect(value('wasm_pipes_cache_misses_total', { cache: 'memory://' })).toBe(68);
    expect(value('wasm_pipes_ready', { role: 'cache', stage: 'memory://' })).toBe(1);
  });

  test('wasm families fed through the API, process metrics, and the version', () => {
    expect(value('wasm_pipes_wasm_traps_total', { stage: 'redact.wasm' })).toBe(2);
    expect(value('wasm_pipes_wasm_call_seconds_count', { stage: 'redact.wasm' })).toBe(1);
    expect(value('wasm_pipes_wasm_call_seconds_bucket', { stage: 'redact.wasm', le: '0.0001' })).toBe(1);
    expect(samples.some((s) => s.name === 'process_cpu_seconds_total')).toBe(true);
    expect(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
    expect(samples.find((s) => s.name === 'wasm_pipes_info')?.labels.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('pipeline.stats(): the same counters per stage, in pipeline order, and the totals', () => {
    const stats = running.stats();
    expect(stats.stages.map((stage) => `${stage.role} ${stage.stage}`)).toEqual([
      `source ${inUri}`,
      'operator keepSome',
      'operator cacheLookup',
      'operator upper',
      `sink ${outUri}`,
      'sink flaky://sink',
      `dead_letter ${deadUri}`,
    ]);
    expect(stats).toMatchObject({
      received: 101,
      acked: 100,
      nacked: 1,
      written: 149,
      dropped: 25,
      deadLettered: 1,
      inFlight: 0,
      maxInFlight: 64,
    });
    const upper = stats.stages.find((stage) => stage.stage === 'upper');
    expect(upper).toMatchObject({ received: 76, emitted: 75, nacked: 1, errors: { handler: 1 } });
    const flaky = stats.stages.find((stage) => stage.stage === 'flaky://sink');
    expect(flaky).toMatchObject({ received: 75, acked: 74, deadLettered: 1, queued: 0, writing: 0, ready: true });
  });

  test('/ready lists every component and answers 200 while running', async () => {
    const response = await fetch(`${admin.url}/ready`);
    expect(response.status).toBe(200);
    const report = (await response.json()) as { ready: boolean; checks: { role: string; name: string; ready: boolean }[] };
    expect(report.ready).toBe(true);
    expect(report.checks.map((check) => `${check.role} ${check.name}`)).toEqual([
      'pipeline pipeline',
      `source ${inUri}`,
      `sink ${outUri}`,
      'sink flaky://sink',
      `dead_letter ${deadUri}`,
      'cache memory://',
    ]);
  });
});

describe('metrics building blocks', () => {
  test('a Histogram puts each value in the first bucket whose bound is at least the value', () => {
    const histogram = new Histogram([1, 2, 5]);
    for (const value of [0.5, 1, 1.5, 5, 7]) histogram.observe(value);
    expect(histogram.counts).toEqual([2, 1, 1, 1]);
    expect(histogram.count).toBe(5);
    expect(histogram.sum).toBe(15);
  });

  test('the Sampler times every event at a low rate, and one in 64 at a high rate', async () => {
    const slow = new Sampler();
    let timed = 0;
    for (let i = 0; i < 600; i++) {
      if (slow.sample()) timed++;
      if (i % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 70));
    }
    expect(timed).toBe(600);
    const fast = new Sampler();
    timed = 0;
    for (let i = 0; i < 256 * 100; i++) if (fast.sample()) timed++;
    // the first 256 are all timed, then one in 64
    expect(timed).toBeLessThan(256 + (256 * 99) / 64 + 2);
    expect(timed).toBeGreaterThan(256);
  });

  test('counter families are defined once per name; a child is the same object for the same labels', () => {
    const first = counterFamily('wasm_pipes_test_things_total', 'things');
    expect(counterFamily('wasm_pipes_test_things_total', 'things')).toBe(first);
    expect(first.labels({ stage: 'a' })).toBe(first.labels({ stage: 'a' }));
    expect(first.labels({ stage: 'a' })).not.toBe(first.labels({ stage: 'b' }));
  });
});

describe('stage names', () => {
  test('two operators with the same name in one pipeline get their own series: the second is numbered', async () => {
    const name = uniqueName('twice');
    const input = memTopic(`${name}-in`);
    for (let n = 0; n < 10; n++) input.publish({ body: String(n) });
    const running = start(
      source(`mem://${name}-in`).pipe(
        filterMessages((m) => Number(m.text()) % 2 === 0),
        filterMessages((m) => Number(m.text()) % 4 === 0),
      ),
      sink(`mem://${name}-out`),
      { handleSignals: false },
    );
    await waitFor(() => running.stats().acked === 10, 'every message acked');
    const operators = running.stats().stages.filter((stage) => stage.role === 'operator');
    expect(operators.map((stage) => [stage.stage, stage.received, stage.dropped])).toEqual([
      ['filterMessages', 10, 5],
      ['filterMessages#2', 5, 2],
    ]);
    await running.stop();
    memTopic(`${name}-in`).delete();
    memTopic(`${name}-out`).delete();
  });
});
