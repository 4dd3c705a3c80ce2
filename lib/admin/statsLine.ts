// The stats line: one info line every interval while a pipeline runs, so that a person at a terminal sees progress
// (rates in and out, in flight, totals since start) and stalls (messages in flight, none settled).
import type { Logger } from '../logging/logger';
import { pipelineParts, type PipelineStats, type RunningPipeline } from '../run';

function rate(count: number, seconds: number): number {
  const perSecond = seconds > 0 ? count / seconds : 0;
  return perSecond >= 10 ? Math.round(perSecond) : Math.round(perSecond * 10) / 10;
}

function whole(value: number): string {
  return value.toLocaleString('en-US');
}

/** What one stats line says, as fields and as text. */
export function statsLine(
  stats: PipelineStats,
  previous: PipelineStats,
  seconds: number,
  oldest?: { ageMs?: number; lastSeenAfter: string },
): { fields: Record<string, number | string | boolean>; text: string } {
  const inRate = rate(stats.received - previous.received, seconds);
  const outRate = rate(stats.written - previous.written, seconds);
  const settled = stats.acked + stats.nacked - (previous.acked + previous.nacked);
  // messages waited through the whole interval (in flight at its start and at its end) and none settled
  const stalled = stats.inFlight > 0 && previous.inFlight > 0 && settled === 0;
  const fields: Record<string, number | string | boolean> = {
    inPerSecond: inRate,
    outPerSecond: outRate,
    inFlight: stats.inFlight,
    maxInFlight: stats.maxInFlight,
    received: stats.received,
    written: stats.written,
    acked: stats.acked,
    nacked: stats.nacked,
    deadLettered: stats.deadLettered,
    dropped: stats.dropped,
    timedOut: stats.timedOut,
  };
  let text =
    `stats: in ${whole(inRate)}/s, out ${whole(outRate)}/s, in flight ${whole(stats.inFlight)}/${whole(stats.maxInFlight)}; ` +
    `since start: acked ${whole(stats.acked)}, nacked ${whole(stats.nacked)}, dead-lettered ${whole(stats.deadLettered)}`;
  if (stats.dropped > 0) text += `, dropped ${whole(stats.dropped)}`;
  if (stats.timedOut > 0) text += `, timed out ${whole(stats.timedOut)}`;
  if (stalled) {
    fields.stalled = true;
    text += `; STALLED: no message settled in the last ${Math.round(seconds)}s`;
    if (oldest !== undefined) {
      fields.oldestLastSeenAfter = oldest.lastSeenAfter;
      if (oldest.ageMs !== undefined) fields.oldestAgeMs = oldest.ageMs;
      const age = oldest.ageMs === undefined ? '' : ` ${Math.round(oldest.ageMs / 1000)}s ago`;
      text +=
        oldest.lastSeenAfter === 'source'
          ? `; the oldest message came${age} and never left the source`
          : `; the oldest message came${age} and was last seen at '${oldest.lastSeenAfter}'`;
    }
  }
  return { fields, text };
}

/** What the stats line reads: a running pipeline, or several summed (the primary of the bin's WORKERS). */
export interface StatsSource {
  stats(): PipelineStats;
  /** The oldest message in flight and where it was last seen, for a stalled line. */
  oldestInFlight(): { ageMs?: number; lastSeenAfter: string } | undefined;
}

function oldestOfPipeline(running: RunningPipeline): { ageMs?: number; lastSeenAfter: string } | undefined {
  let oldest: { ageMs?: number; lastSeenAfter: string } | undefined;
  for (const source of pipelineParts(running).sources) {
    const candidate = source.oldestInFlight();
    if (candidate !== undefined && (oldest === undefined || (candidate.ageMs ?? 0) > (oldest.ageMs ?? 0))) oldest = candidate;
  }
  return oldest;
}

/**
 * Logs a stats line at info every `intervalMs` while `running` runs; returns the function that stops it. An idle
 * pipeline (nothing moved, nothing in flight) logs one line saying so, then stays quiet until traffic resumes.
 */
export function startStatsLine(running: RunningPipeline | StatsSource, intervalMs: number, logger: Logger): () => void {
  const oldestOf = 'oldestInFlight' in running ? () => running.oldestInFlight() : () => oldestOfPipeline(running);
  let previous = running.stats();
  let previousAt = performance.now();
  let quiet = false;
  const timer = setInterval(() => {
    const now = performance.now();
    const stats = running.stats();
    const seconds = (now - previousAt) / 1000;
    const moved =
      stats.received !== previous.received ||
      stats.written !== previous.written ||
      stats.acked !== previous.acked ||
      stats.nacked !== previous.nacked;
    if (!moved && stats.inFlight === 0) {
      if (!quiet)
        logger.info(
          { stats: statsLine(stats, previous, seconds).fields, idle: true },
          'stats: idle (no message since the last line); the next line comes with traffic',
        );
      quiet = true;
    } else {
      quiet = false;
      const line = statsLine(stats, previous, seconds, oldestOf());
      logger.info({ stats: line.fields }, line.text);
    }
    previous = stats;
    previousAt = now;
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
