// One admin view of several processes running the same pipeline (the bin's WORKERS=N): their metrics, counts and
// readiness, combined. Each worker sends what it knows as plain data (prom-client's JSON form of its families,
// its PipelineStats, its ReadinessReport); the primary keeps the counters of workers that died, so that a total never
// goes backwards when one is replaced.
import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client';
import { emptyStats, type PipelineStats } from '../run';
import { emptyStageStats, STAGE_COUNTERS, type StageStats } from '../metrics';
import type { ReadinessCheck, ReadinessReport } from './server';

/** One metric family as prom-client's getMetricsAsJSON() gives it. */
export type MetricFamilyJson = MetricObjectWithValues<MetricValue<string>>;
/** Every family of one process. */
export type MetricsSnapshot = MetricFamilyJson[];

type AggregatorName = 'sum' | 'first' | 'min' | 'max' | 'average' | 'omit';

/**
 * How the families whose sum would be wrong combine across workers. Everything else keeps the aggregator its family
 * declares: the wasm-pipes counters, histograms and the in-flight, queued and writing gauges are sums (the group's
 * total), and prom-client's process metrics say their own (CPU and memory sum, event loop lag averages, the start
 * time is left out).
 */
const AGGREGATORS: Record<string, AggregatorName> = {
  // 1 when connected: the group is connected when every worker is (a sum would read 2 for two connected workers)
  wasm_pipes_ready: 'min',
  // the version: the same in every worker
  wasm_pipes_info: 'first',
};

/** The families of `snapshot` that count since the process started (counters and histograms): what a dead worker leaves. */
export function countersOf(snapshot: MetricsSnapshot): MetricsSnapshot {
  return snapshot.filter((family) => String(family.type) === 'counter' || String(family.type) === 'histogram');
}

function withAggregator(family: MetricFamilyJson): MetricFamilyJson {
  const name = AGGREGATORS[family.name];
  return name === undefined ? family : { ...family, aggregator: name };
}

function aggregateRegistry(snapshots: readonly MetricsSnapshot[]): Registry {
  const { AggregatorRegistry } = require('prom-client') as typeof import('prom-client');
  // prom-client's own combination (families by name, samples by name and labels), with our aggregators
  return AggregatorRegistry.aggregate(snapshots.map((snapshot) => snapshot.map(withAggregator)));
}

/** The Prometheus text of several processes' metrics combined (see AGGREGATORS). */
export function aggregateMetricsText(snapshots: readonly MetricsSnapshot[]): Promise<string> {
  return aggregateRegistry(snapshots).metrics();
}

/** Several snapshots folded into one (summed), to keep the counters of dead workers as a single snapshot. */
export async function foldSnapshots(snapshots: readonly MetricsSnapshot[]): Promise<MetricsSnapshot> {
  const nonEmpty = snapshots.filter((snapshot) => snapshot.length > 0);
  if (nonEmpty.length === 0) return [];
  return countersOf(await aggregateRegistry(nonEmpty).getMetricsAsJSON());
}

function stageKey(stage: StageStats): string {
  return `${stage.role}\u0000${stage.stage}\u0000${stage.scheme}`;
}

const COUNTS = ['received', 'acked', 'nacked', 'deadLettered', 'timedOut', 'givenUp', 'written', 'dropped', 'unrouted'] as const;

/**
 * The stats of several processes as one: counts and gauges summed (in flight and the window are the group's), stages
 * matched by role, name and scheme. `countsOnly` entries (dead workers) add their counts but no gauges.
 */
export function sumStats(live: readonly PipelineStats[], countsOnly: readonly PipelineStats[] = []): PipelineStats {
  const total = emptyStats();
  const stages = new Map<string, StageStats>();
  const add = (stats: PipelineStats, gauges: boolean): void => {
    for (const field of COUNTS) total[field] += stats[field];
    if (gauges) {
      total.inFlight += stats.inFlight;
      total.maxInFlight += stats.maxInFlight;
    }
    for (const stage of stats.stages) {
      const key = stageKey(stage);
      let sum = stages.get(key);
      if (sum === undefined) {
        sum = emptyStageStats(stage.role, stage.stage, stage.scheme);
        stages.set(key, sum);
      }
      for (const field of STAGE_COUNTERS) sum[field] += stage[field];
      for (const [kind, count] of Object.entries(stage.errors)) sum.errors[kind] = (sum.errors[kind] ?? 0) + count;
      if (gauges) {
        for (const gauge of ['inFlight', 'maxInFlight', 'queued', 'writing'] as const) {
          if (stage[gauge] !== undefined) sum[gauge] = (sum[gauge] ?? 0) + stage[gauge];
        }
        if (stage.ready !== undefined) sum.ready = (sum.ready ?? true) && stage.ready;
      }
    }
  };
  for (const stats of countsOnly) add(stats, false);
  for (const stats of live) add(stats, true);
  total.stages = [...stages.values()];
  return total;
}

/** The counts of `stats` only (what a worker that died leaves behind: its gauges no longer mean anything). */
export function countsOfStats(stats: PipelineStats): PipelineStats {
  return sumStats([], [stats]);
}

/** One worker as the primary sees it, for /ready. */
export interface WorkerReadiness {
  /** 1..N */
  worker: number;
  pid?: number;
  /** Its answer, or undefined when it has none (not started yet, restarting, not answering). */
  report?: ReadinessReport;
  /** Why there is no report: `starting`, `restarting in 2 s`, `not answering`. */
  reason?: string;
}

/**
 * /ready of the group: ready when the primary runs and every worker is ready. The checks are each worker's (with its
 * number), plus one per worker that has no answer.
 */
export function groupReadiness(state: ReadinessReport['state'], workers: readonly WorkerReadiness[]): ReadinessReport {
  const checks: ReadinessCheck[] = [
    { role: 'pipeline', name: 'pipeline', ready: state === 'running', ...(state === 'running' ? {} : { reason: state }) },
  ];
  for (const worker of workers) {
    if (worker.report === undefined) {
      checks.push({
        role: 'pipeline',
        name: `worker ${worker.worker}`,
        worker: worker.worker,
        ready: false,
        reason: worker.reason ?? 'no answer',
      });
      continue;
    }
    for (const check of worker.report.checks) checks.push({ ...check, worker: worker.worker });
  }
  const notReady = checks.filter((check) => !check.ready);
  return { ready: notReady.length === 0, state, notReady, checks };
}
