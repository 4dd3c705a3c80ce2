// WORKERS: what it accepts, which sources several workers can share, how each worker names itself to its broker, and
// how the primary combines the workers' metrics, counts and readiness.
import { ConfigError } from '../../lib/errors';
import { parseWorkers, planWorkers, sourceUriForWorker } from '../../bin/workers';
import { aggregateMetricsText, countersOf, foldSnapshots, groupReadiness, sumStats, type MetricsSnapshot } from '../../lib/admin/cluster';
import { emptyStats, type PipelineStats } from '../../lib/run';
import { emptyStageStats } from '../../lib/metrics';

describe('WORKERS', () => {
  test('a number, or auto for one per core', () => {
    expect(parseWorkers(undefined, 4)).toEqual({ count: 1, auto: false });
    expect(parseWorkers('3', 4)).toEqual({ count: 3, auto: false });
    expect(parseWorkers(' auto ', 4)).toEqual({ count: 4, auto: true });
    for (const bad of ['0', '-1', 'two', '1.5', '65']) {
      expect(() => parseWorkers(bad, 4)).toThrow(ConfigError);
    }
    expect(() => parseWorkers('two', 4)).toThrow(/WORKERS: 'two' is not a number of workers; use a whole number from 1 to 64 .*or auto/);
  });

  test('in-process inputs refuse N > 1, naming the fix; auto falls back to one process for them', () => {
    for (const uri of ['mem://in', 'stdin://', 'file:///tmp/input.jsonl']) {
      expect(() => planWorkers({ count: 2, auto: false }, [uri], {})).toThrow(/WORKERS: .* is an input of one process .*Set WORKERS=1/);
      expect(planWorkers({ count: 2, auto: true }, [uri], {})).toEqual({ count: 1, note: expect.stringMatching(/one process/) });
    }
    // one in-process input among several sources is enough
    expect(() => planWorkers({ count: 2, auto: false }, ['nats://a?queue=q', 'mem://b'], {})).toThrow(ConfigError);
  });

  test('sources that would give every worker every message refuse N > 1 until they name a group', () => {
    expect(() => planWorkers({ count: 2, auto: false }, ['nats://orders.>'], {})).toThrow(
      /without a queue group.*nats:\/\/orders\.>\?queue=relay/,
    );
    expect(() => planWorkers({ count: 2, auto: false }, ['nats://orders?queue='], {})).toThrow(/queue group/);
    expect(() => planWorkers({ count: 2, auto: false }, ['mqtt://sensors/#'], {})).toThrow(/\?share=relay/);
    for (const uri of [
      'nats://orders.>?queue=relay',
      'nats://orders.>?stream=ORDERS&consumer=relay',
      'nats://orders?jetstream=true&consumer=relay',
      'http://:9000/events',
      'rabbit://orders',
      'kafka://group?topic=t',
      'mqtt://sensors/#?share=relay',
      'mqtt://$share/relay/sensors/#',
      'redis-stream://events?group=relay',
      'awssqs://queue',
    ]) {
      expect(planWorkers({ count: 2, auto: false }, [uri], {})).toEqual({ count: 2 });
    }
  });

  test('a rate limit per process would multiply by N: refused unless shared', () => {
    expect(() => planWorkers({ count: 2, auto: false }, ['http://:9000/events'], { RATE_LIMIT: '100/s' })).toThrow(
      /RATE_LIMIT=100\/s would hold for each of the 2 workers.*RATE_LIMIT_SHARED=true/,
    );
    expect(planWorkers({ count: 2, auto: false }, ['http://:9000/events'], { RATE_LIMIT: '100/s', RATE_LIMIT_SHARED: 'true' })).toEqual({
      count: 2,
    });
  });

  test('members of a group get names of their own; worker 1 keeps the single process one', () => {
    expect(sourceUriForWorker('mqtt://sensors/#?share=relay&client_id=relay', 1)).toBe('mqtt://sensors/#?share=relay&client_id=relay');
    expect(sourceUriForWorker('mqtt://sensors/#?share=relay&client_id=relay', 2)).toBe('mqtt://sensors/#?share=relay&client_id=relay-w2');
    expect(sourceUriForWorker('mqtt://sensors/#?share=relay', 3)).toMatch(
      /^mqtt:\/\/sensors\/#\?share=relay&client_id=wasm-pipes-.+-[0-9a-f]{10}-w3$/,
    );
    expect(sourceUriForWorker('redis-stream://events?group=g&consumer=c', 2)).toBe('redis-stream://events?group=g&consumer=c-w2');
    // no name given: the connector's default (host and pid) differs per worker already
    expect(sourceUriForWorker('redis-stream://events?group=g', 2)).toBe('redis-stream://events?group=g');
    expect(sourceUriForWorker('nats://orders?stream=S&consumer=relay', 2)).toBe('nats://orders?stream=S&consumer=relay');
  });
});

function family(
  name: string,
  type: string,
  values: { labels: Record<string, string>; value: number; metricName?: string }[],
  aggregator = 'sum',
): MetricsSnapshot[number] {
  return { name, help: `${name} help`, type, aggregator, values } as unknown as MetricsSnapshot[number];
}

describe('the primary combines its workers', () => {
  const labels = { role: 'source', stage: 'nats://in', scheme: 'nats' };
  const worker = (received: number, inFlight: number, ready: number): MetricsSnapshot => [
    family('wasm_pipes_messages_received_total', 'counter', [{ labels, value: received }]),
    family('wasm_pipes_in_flight', 'gauge', [{ labels, value: inFlight }]),
    family('wasm_pipes_ready', 'gauge', [{ labels, value: ready }]),
    family('wasm_pipes_info', 'gauge', [{ labels: { version: '0.1.0' }, value: 1 }]),
    family('wasm_pipes_message_latency_seconds', 'histogram', [
      { metricName: 'wasm_pipes_message_latency_seconds_bucket', labels: { ...labels, le: '0.001' }, value: received },
      { metricName: 'wasm_pipes_message_latency_seconds_count', labels, value: received },
    ]),
    family('process_start_time_seconds', 'gauge', [{ labels: {}, value: 1700000000 }], 'omit'),
  ];

  test('/metrics: counters, histograms and in-flight summed, ready the lowest, the version once', async () => {
    const text = await aggregateMetricsText([worker(10, 3, 1), worker(32, 4, 0)]);
    expect(text).toContain('wasm_pipes_messages_received_total{role="source",stage="nats://in",scheme="nats"} 42');
    expect(text).toContain('wasm_pipes_in_flight{role="source",stage="nats://in",scheme="nats"} 7');
    expect(text).toContain('wasm_pipes_ready{role="source",stage="nats://in",scheme="nats"} 0');
    expect(text).toContain('wasm_pipes_info{version="0.1.0"} 1');
    expect(text).toContain('wasm_pipes_message_latency_seconds_bucket{role="source",stage="nats://in",scheme="nats",le="0.001"} 42');
    expect(text).not.toContain('process_start_time_seconds');
  });

  test('a dead worker leaves its counters (not its gauges), so that totals never go backwards', async () => {
    const retired = await foldSnapshots([countersOf(worker(10, 3, 1)), countersOf(worker(5, 1, 1))]);
    expect(retired.map((each) => each.name).sort()).toEqual(['wasm_pipes_message_latency_seconds', 'wasm_pipes_messages_received_total']);
    const text = await aggregateMetricsText([worker(7, 2, 1), retired]);
    expect(text).toContain('wasm_pipes_messages_received_total{role="source",stage="nats://in",scheme="nats"} 22');
    expect(text).toContain('wasm_pipes_in_flight{role="source",stage="nats://in",scheme="nats"} 2');
  });

  test('stats: counts of live and dead workers summed, gauges of live ones only', () => {
    const stats = (received: number, inFlight: number): PipelineStats => ({
      ...emptyStats(),
      received,
      acked: received,
      written: received,
      inFlight,
      maxInFlight: 1024,
      stages: [
        {
          ...emptyStageStats('source', 'nats://in', 'nats'),
          received,
          emitted: received,
          acked: received,
          errors: { handler: 1 },
          inFlight,
        },
      ],
    });
    const total = sumStats([stats(10, 3), stats(20, 4)], [stats(5, 99)]);
    expect(total).toMatchObject({ received: 35, acked: 35, written: 35, inFlight: 7, maxInFlight: 2048 });
    expect(total.stages).toEqual([expect.objectContaining({ stage: 'nats://in', received: 35, inFlight: 7, errors: { handler: 3 } })]);
  });

  test('/ready: ready only when the group runs and every worker is', () => {
    const ready = {
      ready: true,
      state: 'running' as const,
      notReady: [],
      checks: [{ role: 'source' as const, name: 'nats://in', ready: true }],
    };
    expect(
      groupReadiness('running', [
        { worker: 1, report: ready },
        { worker: 2, report: ready },
      ]).ready,
    ).toBe(true);
    const restarting = groupReadiness('running', [
      { worker: 1, report: ready },
      { worker: 2, reason: 'restarting in 900 ms' },
    ]);
    expect(restarting.ready).toBe(false);
    expect(restarting.notReady).toEqual([{ role: 'pipeline', name: 'worker 2', worker: 2, ready: false, reason: 'restarting in 900 ms' }]);
    expect(groupReadiness('draining', [{ worker: 1, report: ready }]).ready).toBe(false);
  });
});
