// run(): subscribes a pipeline to its sinks and owns its life: start-up, SIGINT/SIGTERM, the graceful drain
// (stop intake, let in-flight messages settle up to shutdownTimeout, nack the rest, flush and close the sinks,
// close the sources).
import type { Observable, Subscription } from 'rxjs';
import type { Message } from './message';
import { Sink, SinkRuntime } from './sink';
import { SourceRuntime, withSourceRegistry, SourceStats } from './source';
import { FanOutSink } from './fanOut';
import { parseDuration } from './config';
import { rootLogger, Logger } from './logging/logger';
import { numberInOrder, StageMetrics, StageStats, withStageCollector } from './metrics';
import { startStatsLine } from './admin/statsLine';

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

export interface RunOptions {
  /** How long the drain waits for in-flight messages before nacking them (ms or `30s`). Default 30 s. */
  shutdownTimeout?: number | string;
  /** Drain on SIGINT and SIGTERM (a second signal stops at once). Default true. */
  handleSignals?: boolean;
  /** The dead-letter sink the sources and sinks share: closed after the sinks, so their last failures reach it. */
  deadLetter?: Sink;
  /** Logs a stats line at info this often while the pipeline runs (ms or `10s`); 0 = never. Default 0 (the bin: 10 s). */
  statsInterval?: number | string;
  logger?: Logger;
}

/** Counters of a pipeline since it started. Totals first, then every stage. */
export interface PipelineStats extends SourceStats {
  /** Messages received by the sources and not yet settled. */
  inFlight: number;
  /** Writes the sinks' services confirmed (each sink of a fan-out counts its own). */
  written: number;
  /** Messages the operators filtered out (acked). */
  dropped: number;
  /** Every stage in pipeline order: the sources, the operators, the sinks, the dead letter. */
  stages: StageStats[];
}

/** Where a pipeline is in its life, for /ready and the stats line. */
export type PipelineState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

/** A pipeline that run()/start() subscribed. */
export interface RunningPipeline {
  /** Resolves once every source started (listening, subscribed); rejects on a start-up failure. */
  readonly started: Promise<void>;
  /** Resolves when the pipeline ended and everything was closed; rejects when it failed. */
  readonly done: Promise<void>;
  /** Starts the graceful drain; resolves like `done`. */
  stop(): Promise<void>;
  /** Counters since start: totals over the sources and sinks, and per stage (`stages`). */
  stats(): PipelineStats;
  /** starting -> running -> draining (after stop() or a signal) -> stopped, or failed. */
  readonly state: PipelineState;
  readonly sources: readonly SourceRuntime[];
  readonly sink: Sink;
  readonly deadLetter?: Sink;
}

/** The SinkRuntimes behind a sink (a fan-out's sinks, in order). */
export function sinkRuntimes(sink: Sink): SinkRuntime[] {
  if (sink instanceof SinkRuntime) return [sink];
  if (sink instanceof FanOutSink) return sink.sinks.flatMap(sinkRuntimes);
  return [];
}

/** Subscribes `pipeline` to `sinks` (several = fan-out) and returns a handle; see run(). */
export function start(pipeline: Observable<Message>, sinks: Sink | readonly Sink[], options: RunOptions = {}): RunningPipeline {
  const logger = options.logger ?? rootLogger();
  const shutdownTimeout = parseDuration(options.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT_MS, 'shutdownTimeout');
  const statsInterval = parseDuration(options.statsInterval ?? 0, 'statsInterval');
  const sink: Sink = Array.isArray(sinks) ? (sinks.length === 1 ? sinks[0] : new FanOutSink(sinks)) : (sinks as Sink);
  const sources: SourceRuntime[] = [];
  let resolveDone!: () => void;
  let rejectDone!: (error: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  let finishing = false;
  let stopping: Promise<void> | undefined;
  let subscription: Subscription | undefined;
  let state: PipelineState = 'starting';
  let stopStatsLine: (() => void) | undefined;
  const stages: StageMetrics[] = [];

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping === undefined) {
      logger.info({ signal }, `received ${signal}: draining (send it again to stop at once)`);
      void stop();
    } else {
      logger.warn({ signal }, `received ${signal} again: nacking in-flight messages and stopping now`);
      for (const source of sources) source.nackAll(new Error(`stopped by ${signal}`));
    }
  };
  const handleSignals = options.handleSignals ?? true;
  if (handleSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  const finish = async (error?: unknown): Promise<void> => {
    if (finishing) return;
    finishing = true;
    if (state !== 'failed') state = 'draining';
    try {
      await sink.close();
    } catch (closeError) {
      logger.error({ err: closeError }, 'closing the sinks failed');
    }
    try {
      await options.deadLetter?.close();
    } catch (closeError) {
      logger.error({ err: closeError }, 'closing the dead letter failed');
    }
    subscription?.unsubscribe();
    await Promise.all(sources.map((source) => source.close()));
    if (handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    stopStatsLine?.();
    if (error === undefined) {
      state = 'stopped';
      resolveDone();
    } else {
      state = 'failed';
      rejectDone(error);
    }
  };

  subscription = withStageCollector({ register: (stage) => stages.push(stage) }, () =>
    withSourceRegistry({ register: (source) => sources.push(source) }, () =>
      pipeline.subscribe({
        next: (message) => sink.next(message),
        error: (error) => {
          logger.error({ err: error }, 'the pipeline failed');
          state = 'failed';
          void finish(error);
        },
        complete: () => void finish(),
      }),
    ),
  );
  if (finishing) subscription.unsubscribe();
  // operators subscribe from the last to the first: list the stages in pipeline order
  const subscribed = stages.splice(0);
  stages.push(...subscribed.filter((stage) => stage.role === 'source'), ...subscribed.filter((stage) => stage.role !== 'source').reverse());
  numberInOrder(stages);
  for (const runtime of sinkRuntimes(sink)) stages.push(runtime.metrics);
  for (const runtime of options.deadLetter ? sinkRuntimes(options.deadLetter) : []) {
    // the same runtime machinery, but its counters are the dead letter's
    runtime.metrics.role = 'dead_letter';
    stages.push(runtime.metrics);
  }

  for (const source of sources) {
    const alternative = source.driver.atMostOnce;
    if (alternative !== undefined && sink.mayFail !== false) {
      logger.warn(
        { source: source.name, sink: sink.name },
        `${source.name} is at most once: a message that ${sink.name} fails to write (after its retries and any dead letter), ` +
          `or that is in flight when the process dies, is lost. ${alternative}`,
      );
    }
  }

  // sinks that check their target at start-up (a broker out of reach, refused credentials, a missing exchange) fail
  // the start like a source that cannot start (the driver has logged why; the bin logs it again as the exit reason)
  const sinksStarted = Promise.all(
    [sink, ...(options.deadLetter ? [options.deadLetter] : [])].flatMap(sinkRuntimes).map((runtime) => runtime.start()),
  );
  sinksStarted.catch((error: unknown) => {
    if (finishing) return;
    state = 'failed';
    void finish(error);
  });
  const started = Promise.all([...sources.map((source) => source.started), sinksStarted]).then(() => undefined);
  started.catch(() => undefined);
  started.then(
    () => {
      if (state === 'starting') state = 'running';
      if (statsInterval > 0 && !finishing) stopStatsLine = startStatsLine(running, statsInterval, logger);
    },
    () => undefined,
  );

  function stop(): Promise<void> {
    if (stopping === undefined) {
      if (state === 'starting' || state === 'running') state = 'draining';
      stopping = (async () => {
        if (sources.length === 0) {
          subscription?.unsubscribe();
          await finish();
          return;
        }
        await Promise.all(sources.map((source) => source.drain(shutdownTimeout)));
      })();
    }
    return stopping.then(() => done);
  }

  const running: RunningPipeline = {
    started,
    done,
    stop,
    sources,
    sink,
    deadLetter: options.deadLetter,
    get state(): PipelineState {
      return state;
    },
    stats(): PipelineStats {
      const total: PipelineStats = {
        received: 0,
        acked: 0,
        nacked: 0,
        deadLettered: 0,
        timedOut: 0,
        inFlight: 0,
        maxInFlight: 0,
        written: 0,
        dropped: 0,
        stages: stages.map((stage) => stage.snapshot()),
      };
      for (const source of sources) {
        const stats = source.stats;
        total.received += stats.received;
        total.acked += stats.acked;
        total.nacked += stats.nacked;
        total.deadLettered += stats.deadLettered;
        total.timedOut += stats.timedOut;
        total.inFlight += source.inFlightCount;
        total.maxInFlight += source.maxInFlight;
      }
      for (const stage of stages) {
        if (stage.role === 'sink') {
          total.written += stage.acked;
          total.deadLettered += stage.deadLettered;
        } else if (stage.role === 'operator') {
          total.dropped += stage.dropped;
        }
      }
      return total;
    },
  };
  return running;
}

/**
 * Runs a pipeline until its sources end or the process is told to stop (SIGINT/SIGTERM: drain, then close).
 *
 * @example
 * await run(source('nats://events').pipe(mapMessages(upper)), [sink('kafka://audit'), sink('stdout://')]);
 */
export function run(pipeline: Observable<Message>, sinks: Sink | readonly Sink[], options: RunOptions = {}): Promise<void> {
  return start(pipeline, sinks, options).done;
}
