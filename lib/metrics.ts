// Metrics: per-stage counters that the runtimes increment as plain numbers, latency histograms fed on a sample of
// messages, and their Prometheus exposition through prom-client, which reads everything at scrape time (never per
// message). Also the small API for code outside the core (the wasm operators): counter and histogram families with a
// stage label.
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { SubscribeScope } from './subscribeScope';

/** Where a stage sits in a pipeline: the `role` label. */
export type StageRole = 'source' | 'operator' | 'sink' | 'dead_letter';

export type Labels = Record<string, string>;

/** Upper bounds (seconds) of the latency histograms: 100 µs to 1 min. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** A histogram that costs a few comparisons per observation; prom-client reads it at scrape time. */
export class Histogram {
  /** Per bucket, not cumulative; the last one is +Inf. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[] = LATENCY_BUCKETS) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Records one value (seconds for the latency histograms). */
  observe(value: number): void {
    const bounds = this.bounds;
    const last = bounds.length;
    let i = 0;
    while (i < last && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }

  /** Adds `other`'s observations (same bounds) to this one. */
  merge(other: Histogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i];
    this.sum += other.sum;
    this.count += other.count;
  }
}

/** Below this many events a second, every event is timed; above it, one in SAMPLED_EVERY. */
export const FULL_TIMING_RATE = 2000;
export const SAMPLED_EVERY = 64;

/**
 * Decides which events to time, so that a clock read (~50-150 ns here) is not paid on every message at high rates:
 * every event below FULL_TIMING_RATE a second, one in SAMPLED_EVERY above it. The rate is re-estimated every 256
 * events from one clock read, so the decision itself costs an increment and a mask.
 */
export class Sampler {
  private sequence = 0;
  private mask = 0;
  private checkedAt = performance.now();

  /** True when this event should be timed. */
  sample(): boolean {
    const sequence = ++this.sequence;
    if ((sequence & 255) === 0) this.adapt();
    return (sequence & this.mask) === 0;
  }

  private adapt(): void {
    const now = performance.now();
    const elapsed = now - this.checkedAt;
    this.checkedAt = now;
    // 256 events in less than 256/FULL_TIMING_RATE seconds: a high rate
    this.mask = elapsed < (256 * 1000) / FULL_TIMING_RATE ? SAMPLED_EVERY - 1 : 0;
  }
}

/** Point-in-time values of a stage, read when metrics or stats are collected. */
export interface StageGauges {
  /** Messages received and not yet settled (sources). */
  inFlight?: number;
  maxInFlight?: number;
  /** Messages waiting for a write, or for a retry (sinks). */
  queued?: number;
  /** Writes in progress (sinks). */
  writing?: number;
  /** Connected / listening (the `ready` getter of the driver). */
  ready?: boolean;
}

/** A stage's counters as `pipeline.stats()` reports them. */
export interface StageStats extends StageGauges {
  role: StageRole;
  /** The operator's name, or the source's or sink's URI (secrets redacted). */
  stage: string;
  /** The connector's scheme; empty for operators. */
  scheme: string;
  received: number;
  emitted: number;
  acked: number;
  nacked: number;
  dropped: number;
  deadLettered: number;
  timedOut: number;
  givenUp: number;
  unrouted: number;
  /** Errors by kind: `write_retryable`, `ack_timeout`, `handler`, ... */
  errors: Record<string, number>;
}

/** The counters of a stage, in the order the stats list them: what is summed when stages are added together. */
export const STAGE_COUNTERS = [
  'received',
  'emitted',
  'acked',
  'nacked',
  'dropped',
  'deadLettered',
  'timedOut',
  'givenUp',
  'unrouted',
] as const;

/** A stage's stats with every counter at zero and no gauges, to add to. */
export function emptyStageStats(role: StageRole, stage: string, scheme: string): StageStats {
  return {
    role,
    stage,
    scheme,
    received: 0,
    emitted: 0,
    acked: 0,
    nacked: 0,
    dropped: 0,
    deadLettered: 0,
    timedOut: 0,
    givenUp: 0,
    unrouted: 0,
    errors: {},
  };
}

/**
 * The counters of one pipeline stage (a source, an operator or a sink). The runtimes increment the fields directly:
 * - `received`: messages that came in (a source: from the service);
 * - `emitted`: messages passed on downstream (an operator's outputs; a source: handed to the pipeline);
 * - `acked` / `nacked`: settled as done / failed (a source: acked to the service; a sink: confirmed writes / gave up;
 *   an operator: nacked when its function threw);
 * - `dropped`: filtered out on purpose (acked) by an operator;
 * - `deadLettered`: sent to the dead letter;
 * - `timedOut`: nacked by the ackTimeout (sources);
 * - `givenUp`: dropped past maxDeliveries with no dead letter, by a source that cannot keep them (stdin://, file://).
 */
export class StageMetrics {
  received = 0;
  emitted = 0;
  acked = 0;
  nacked = 0;
  dropped = 0;
  deadLettered = 0;
  timedOut = 0;
  /** Sources: given up past maxDeliveries with no dead letter and nowhere to redeliver from (in-process sources). */
  givenUp = 0;
  /** route(): messages that matched no case and had no default (acked, or dead-lettered when asked). */
  unrouted = 0;
  readonly errors: Record<string, number> = {};
  /** Sources: receive -> ack and receive -> nack, in seconds. */
  settleLatency: { ack: Histogram; nack: Histogram } | undefined = undefined;
  /** Sinks: one write (a batch), in seconds, by outcome. */
  writeLatency: { ok: Histogram; error: Histogram } | undefined = undefined;
  /** Read at collection time. */
  gauges: (() => StageGauges) | undefined = undefined;

  /** The name asked for; `stage` is the name it got (`mapMessages#2` when `mapMessages` was taken). */
  readonly baseName: string;

  constructor(
    public role: StageRole,
    /** @internal start() may swap the numbered names of a pipeline's stages so that they count in pipeline order */
    public stage: string,
    readonly scheme: string = '',
    baseName?: string,
  ) {
    this.baseName = baseName ?? stage;
  }

  /** Counts one error of `kind` (cold paths only: it looks up a property by name). */
  error(kind: string, count = 1): void {
    this.errors[kind] = (this.errors[kind] ?? 0) + count;
  }

  get key(): string {
    return `${this.role}\u0000${this.stage}\u0000${this.scheme}`;
  }

  snapshot(): StageStats {
    const stats = emptyStageStats(this.role, this.stage, this.scheme);
    for (const field of STAGE_COUNTERS) stats[field] = this[field];
    stats.errors = { ...this.errors };
    if (this.gauges !== undefined) Object.assign(stats, this.gauges());
    return stats;
  }

  /** Adds `other`'s counters and histograms into this one (when `other` retires). */
  absorb(other: StageMetrics): void {
    for (const field of STAGE_COUNTERS) this[field] += other[field];
    for (const [kind, count] of Object.entries(other.errors)) this.error(kind, count);
    if (other.settleLatency !== undefined) {
      this.settleLatency ??= { ack: new Histogram(), nack: new Histogram() };
      this.settleLatency.ack.merge(other.settleLatency.ack);
      this.settleLatency.nack.merge(other.settleLatency.nack);
    }
    if (other.writeLatency !== undefined) {
      this.writeLatency ??= { ok: new Histogram(), error: new Histogram() };
      this.writeLatency.ok.merge(other.writeLatency.ok);
      this.writeLatency.error.merge(other.writeLatency.error);
    }
  }
}

/** Whoever wants the stages of a pipeline (start()) collects them here while it subscribes. */
export interface StageCollector {
  register(stage: StageMetrics): void;
}

const liveStages = new Set<StageMetrics>();
/** Counters of closed stages, by labels, so that a Prometheus counter never goes backwards. */
const retiredStages = new Map<string, StageMetrics>();
const collectorScope = new SubscribeScope<StageCollector>();

/** Runs `subscribe` with `collector` receiving every stage opened synchronously inside it. */
export function withStageCollector<T>(collector: StageCollector, subscribe: () => T): T {
  return collectorScope.run(collector, subscribe);
}

/** The collector of the pipeline being subscribed now, for an operator that opens its stage later (after a load). */
export function currentStageCollector(): StageCollector | undefined {
  return collectorScope.current;
}

/**
 * Opens the counters of a stage: they show in /metrics and, when opened while start() subscribes (an operator's
 * subscribe function), in that pipeline's `stats()`. Close them with closeStage() when the stage ends.
 *
 * @example
 * // in an operator's subscribe function
 * const stage = openStage('operator', name);
 * stage.received++; ... stage.emitted++;       // plain increments on the hot path
 * return () => closeStage(stage);
 */
export function openStage(role: StageRole, name: string, scheme = ''): StageMetrics {
  // two live stages with the same labels (two mapMessages in one pipeline) would be summed into one series: number them
  let unique = name;
  for (let n = 2; isOpen(role, unique, scheme); n++) unique = `${name}#${n}`;
  const stage = new StageMetrics(role, unique, scheme, name);
  liveStages.add(stage);
  collectorScope.current?.register(stage);
  return stage;
}

function isOpen(role: StageRole, name: string, scheme: string): boolean {
  for (const stage of liveStages) if (stage.stage === name && stage.role === role && stage.scheme === scheme) return true;
  return false;
}

/** Moves a stage's counters to the retired totals (its gauges stop); safe to call more than once. */
export function closeStage(stage: StageMetrics): void {
  if (!liveStages.delete(stage)) return;
  addToTotals(retiredStages, stage);
}

/** Adds the counters of `stage` to the total of its labels in `totals`, creating that total the first time. */
function addToTotals(totals: Map<string, StageMetrics>, stage: StageMetrics): void {
  let total = totals.get(stage.key);
  if (total === undefined) {
    total = new StageMetrics(stage.role, stage.stage, stage.scheme);
    totals.set(stage.key, total);
  }
  total.absorb(stage);
}

/**
 * Operators subscribe from the last to the first, so the numbered names of same-named stages of one pipeline come out
 * backwards (`mapMessages#2` first). Swaps them so that they number in pipeline order; `stages` is in that order.
 */
export function numberInOrder(stages: readonly StageMetrics[]): void {
  const byBase = new Map<string, StageMetrics[]>();
  for (const stage of stages) {
    const key = `${stage.role}\u0000${stage.baseName}\u0000${stage.scheme}`;
    byBase.set(key, [...(byBase.get(key) ?? []), stage]);
  }
  for (const group of byBase.values()) {
    if (group.length < 2) continue;
    const base = group[0].baseName;
    const rank = (name: string): number => (name === base ? 1 : Number(name.slice(base.length + 1)));
    const names = group.map((stage) => stage.stage).sort((a, b) => rank(a) - rank(b));
    group.forEach((stage, index) => {
      stage.stage = names[index];
    });
  }
}

/** Every stage open in the process. */
export function openStages(): StageMetrics[] {
  return [...liveStages];
}

// ---- readiness probes outside pipelines (the cache) ----

export interface ReadyProbe {
  role: string;
  name: string;
  scheme: string;
  ready(): boolean;
}

const readyProbes = new Set<ReadyProbe>();

/** Adds a component to the `wasm_pipes_ready` gauge; returns the function that removes it. */
export function addReadyProbe(probe: ReadyProbe): () => void {
  readyProbes.add(probe);
  return () => readyProbes.delete(probe);
}

// ---- metric families and their exposition ----

/** One Prometheus metric family, as prom-client's Registry reads it (`get()` at scrape time). */
interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: Sample[] }>;
}

interface Sample {
  metricName?: string;
  labels: Labels;
  value: number;
}

const families = new Map<string, Family>();
let registry: Registry | undefined;

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((name) => `${name}\u0000${labels[name]}`)
    .join('\u0001');
}

function addFamily<T extends Family>(family: T): T {
  const existing = families.get(family.name);
  if (existing !== undefined) {
    if (existing.type !== family.type) throw new Error(`metric ${family.name} is already defined as a ${existing.type}`);
    return existing as T;
  }
  families.set(family.name, family);
  registry?.registerMetric(family as unknown as Parameters<Registry['registerMetric']>[0]);
  return family;
}

function histogramSamples(name: string, labels: Labels, histogram: Histogram, into: Sample[]): void {
  let cumulative = 0;
  for (let i = 0; i < histogram.bounds.length; i++) {
    cumulative += histogram.counts[i];
    into.push({ metricName: `${name}_bucket`, labels: { ...labels, le: String(histogram.bounds[i]) }, value: cumulative });
  }
  cumulative += histogram.counts[histogram.bounds.length];
  into.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  into.push({ metricName: `${name}_sum`, labels, value: histogram.sum });
  into.push({ metricName: `${name}_count`, labels, value: histogram.count });
}

/** A family whose samples are computed at scrape time. */
class CollectedFamily implements Family {
  readonly aggregator = 'sum' as const;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly collect: () => Sample[],
  ) {}

  async get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: Sample[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.collect() };
  }
}

/** One labelled counter of a CounterFamily: keep it and call inc() (a plain addition). */
export class CounterChild {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

/** A counter family for code outside the core; `labels()` returns a child to keep and increment. */
export class CounterFamily {
  private readonly children = new Map<string, { labels: Labels; child: CounterChild }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {
    addFamily(
      new CollectedFamily(name, help, 'counter', () =>
        [...this.children.values()].map(({ labels, child }) => ({ labels, value: child.value })),
      ),
    );
  }

  /** The counter for these label values (the same object for the same values). */
  labels(labels: Labels): CounterChild {
    const key = labelKey(labels);
    let entry = this.children.get(key);
    if (entry === undefined) {
      entry = { labels: { ...labels }, child: new CounterChild() };
      this.children.set(key, entry);
    }
    return entry.child;
  }
}

/** A histogram family for code outside the core; `labels()` returns a Histogram to keep and observe(). */
export class HistogramFamily {
  private readonly children = new Map<string, { labels: Labels; child: Histogram }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[] = LATENCY_BUCKETS,
  ) {
    addFamily(
      new CollectedFamily(name, help, 'histogram', () => {
        const samples: Sample[] = [];
        for (const { labels, child } of this.children.values()) histogramSamples(name, labels, child, samples);
        return samples;
      }),
    );
  }

  labels(labels: Labels): Histogram {
    const key = labelKey(labels);
    let entry = this.children.get(key);
    if (entry === undefined) {
      entry = { labels: { ...labels }, child: new Histogram(this.buckets) };
      this.children.set(key, entry);
    }
    return entry.child;
  }
}

const counterFamilies = new Map<string, CounterFamily>();
const histogramFamilies = new Map<string, HistogramFamily>();

/**
 * A counter family (name ending in `_total`), defined once per process: calling it again with the same name returns
 * the same family.
 *
 * @example
 * const traps = counterFamily('wasm_pipes_wasm_traps_total', 'WebAssembly traps').labels({ stage: 'redact.wasm' });
 * traps.inc();
 */
export function counterFamily(name: string, help: string): CounterFamily {
  let family = counterFamilies.get(name);
  if (family === undefined) {
    family = new CounterFamily(name, help);
    counterFamilies.set(name, family);
  }
  return family;
}

/**
 * A histogram family (seconds by default: LATENCY_BUCKETS), defined once per process.
 *
 * @example
 * const calls = histogramFamily('wasm_pipes_wasm_call_seconds', 'one call into a module').labels({ stage: 'redact.wasm' });
 * calls.observe(0.000012);
 */
export function histogramFamily(name: string, help: string, buckets: readonly number[] = LATENCY_BUCKETS): HistogramFamily {
  let family = histogramFamilies.get(name);
  if (family === undefined) {
    family = new HistogramFamily(name, help, buckets);
    histogramFamilies.set(name, family);
  }
  return family;
}

/** A gauge family whose values `collect` computes at scrape time. */
export function gaugeFamily(name: string, help: string, collect: () => Iterable<{ labels: Labels; value: number }>): void {
  addFamily(new CollectedFamily(name, help, 'gauge', () => [...collect()].map(({ labels, value }) => ({ labels, value }))));
}

// ---- the core families, read from the stages ----

const ROLE_COUNTERS: Record<StageRole, readonly (keyof StageMetrics)[]> = {
  source: ['received', 'emitted', 'acked', 'nacked', 'deadLettered', 'timedOut', 'givenUp'],
  operator: ['received', 'emitted', 'dropped', 'nacked', 'deadLettered', 'unrouted'],
  sink: ['received', 'acked', 'nacked', 'deadLettered'],
  dead_letter: ['received', 'acked', 'nacked'],
};

/** Live and retired stages, summed by labels. */
function stagesByLabels(): StageMetrics[] {
  const sums = new Map<string, StageMetrics>();
  for (const stage of retiredStages.values()) addToTotals(sums, stage);
  for (const stage of liveStages) addToTotals(sums, stage);
  return [...sums.values()];
}

function stageLabels(stage: StageMetrics): Labels {
  return { role: stage.role, stage: stage.stage, scheme: stage.scheme };
}

function defineCoreCounter(field: keyof StageMetrics, name: string, help: string): void {
  addFamily(
    new CollectedFamily(name, help, 'counter', () =>
      stagesByLabels()
        .filter((stage) => ROLE_COUNTERS[stage.role].includes(field))
        .map((stage) => ({ labels: stageLabels(stage), value: (stage as unknown as Record<string, number>)[field] })),
    ),
  );
}

defineCoreCounter('received', 'wasm_pipes_messages_received_total', 'Messages that came into a stage (a source: from the service)');
defineCoreCounter('emitted', 'wasm_pipes_messages_emitted_total', 'Messages a stage passed on downstream (an operator: its outputs)');
defineCoreCounter(
  'acked',
  'wasm_pipes_messages_acked_total',
  'Messages settled as done: acked to the service (sources), confirmed by the service (sinks)',
);
defineCoreCounter(
  'nacked',
  'wasm_pipes_messages_nacked_total',
  'Messages settled as failed: nacked to the service (sources), given up (sinks), function threw (operators)',
);
defineCoreCounter('dropped', 'wasm_pipes_messages_dropped_total', 'Messages an operator filtered out (acked)');
defineCoreCounter(
  'deadLettered',
  'wasm_pipes_messages_dead_lettered_total',
  'Messages sent to the dead letter: after MAX_DELIVERIES (sources), after a failure (operators: WASM_ON_ERROR=deadLetter; sinks: permanent or retries exhausted)',
);
defineCoreCounter(
  'givenUp',
  'wasm_pipes_messages_given_up_total',
  'Messages an in-process input (stdin://, file://) gave up on after MAX_DELIVERIES with no dead letter: not delivered',
);
defineCoreCounter(
  'unrouted',
  'wasm_pipes_messages_unrouted_total',
  'Messages route() sent nowhere: they matched no case and there was no default',
);
defineCoreCounter('timedOut', 'wasm_pipes_messages_timed_out_total', 'Messages nacked because they were not settled within ACK_TIMEOUT');

addFamily(
  new CollectedFamily('wasm_pipes_errors_total', 'Errors by stage and kind', 'counter', () => {
    const samples: Sample[] = [];
    for (const stage of stagesByLabels()) {
      for (const [kind, count] of Object.entries(stage.errors)) samples.push({ labels: { ...stageLabels(stage), kind }, value: count });
    }
    return samples;
  }),
);

function gaugeSamples(pick: (gauges: StageGauges) => number | boolean | undefined): Sample[] {
  const samples: Sample[] = [];
  for (const stage of liveStages) {
    if (stage.gauges === undefined) continue;
    const value = pick(stage.gauges());
    if (value !== undefined) samples.push({ labels: stageLabels(stage), value: Number(value) });
  }
  return samples;
}

addFamily(
  new CollectedFamily('wasm_pipes_in_flight', 'Messages received by a source and not yet settled', 'gauge', () =>
    gaugeSamples((g) => g.inFlight),
  ),
);
addFamily(
  new CollectedFamily('wasm_pipes_max_in_flight', 'The credit window of a source (MAX_IN_FLIGHT)', 'gauge', () =>
    gaugeSamples((g) => g.maxInFlight),
  ),
);
addFamily(
  new CollectedFamily('wasm_pipes_sink_queued', 'Messages waiting in a sink for a write or a retry', 'gauge', () =>
    gaugeSamples((g) => g.queued),
  ),
);
addFamily(
  new CollectedFamily('wasm_pipes_sink_writes_in_progress', 'Writes in progress in a sink', 'gauge', () => gaugeSamples((g) => g.writing)),
);
addFamily(
  new CollectedFamily(
    'wasm_pipes_ready',
    'Connection state: 1 when the source, sink or cache is connected (listening), else 0',
    'gauge',
    () => {
      const samples = gaugeSamples((g) => g.ready);
      for (const probe of readyProbes) {
        samples.push({ labels: { role: probe.role, stage: probe.name, scheme: probe.scheme }, value: probe.ready() ? 1 : 0 });
      }
      return samples;
    },
  ),
);

/**
 * Adds a histogram family with one series per stage and outcome: `histograms(stage)` holds a stage's histogram of each
 * outcome (in that order), or is undefined for a stage that keeps none.
 */
function addOutcomeHistograms<Outcome extends string>(
  name: string,
  help: string,
  outcomes: readonly Outcome[],
  histograms: (stage: StageMetrics) => Record<Outcome, Histogram> | undefined,
): void {
  addFamily(
    new CollectedFamily(name, help, 'histogram', () => {
      const samples: Sample[] = [];
      for (const stage of stagesByLabels()) {
        const byOutcome = histograms(stage);
        if (byOutcome === undefined) continue;
        for (const outcome of outcomes) histogramSamples(name, { ...stageLabels(stage), outcome }, byOutcome[outcome], samples);
      }
      return samples;
    }),
  );
}

addOutcomeHistograms(
  'wasm_pipes_message_latency_seconds',
  'Time from receipt at the source to ack or nack (every message below 2000/s, one in 64 above)',
  ['ack', 'nack'],
  (stage) => stage.settleLatency,
);

addOutcomeHistograms(
  'wasm_pipes_sink_write_seconds',
  'Duration of one sink write (a batch) until the service answered; outcome error when any message of it failed (sampled like the latency)',
  ['ok', 'error'],
  (stage) => stage.writeLatency,
);

function packageVersion(): string {
  // dist/lib/metrics.js when built, lib/metrics.ts under ts-jest
  for (const relative of ['../../package.json', '../package.json']) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const found = require(relative) as { name?: string; version?: string };
      if (found.name === 'wasm-pipes' && found.version !== undefined) return found.version;
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}

addFamily(
  new CollectedFamily('wasm_pipes_info', 'Always 1; the version label says which wasm-pipes runs', 'gauge', () => [
    { labels: { version: packageVersion(), node: process.version }, value: 1 },
  ]),
);

/**
 * The process-wide prom-client Registry: every wasm-pipes family, plus prom-client's default process metrics
 * (CPU, memory, event loop lag, GC). Created on first use, so that a process that never exposes metrics pays nothing.
 * Mount it on your own server with `await metricsRegistry().metrics()`.
 */
export function metricsRegistry(): Registry {
  if (registry === undefined) {
    const client = require('prom-client') as typeof import('prom-client');
    const created = new client.Registry();
    client.collectDefaultMetrics({ register: created });
    for (const family of families.values()) created.registerMetric(family as unknown as Parameters<Registry['registerMetric']>[0]);
    registry = created;
  }
  return registry;
}

/** The Prometheus text exposition of every metric. */
export function metricsText(): Promise<string> {
  return metricsRegistry().metrics();
}

/** The content type of metricsText(). */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
