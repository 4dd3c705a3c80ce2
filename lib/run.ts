// run(): subscribes a pipeline to its sinks and owns its life: start-up, SIGINT/SIGTERM, and the graceful drain,
// bounded as a whole by shutdownTimeout: stop intake, let in-flight messages settle, then stop the sinks writing
// (what they still queue is nacked, not written), nack what is left, and close sinks and sources in the time that
// remains. Sources are registered whenever they are subscribed (late, nested, re-subscribed), so every one of them
// is counted and drained.
import type { Observable, Observer, Subscription } from 'rxjs';
import type { Message } from './message';
import { type Sink, SinkRuntime } from './sink';
import { type SourceRuntime, withSourceRegistry, type SourceStats, type SourceRegistry, PIPELINE_REGISTRY } from './source';
import { CompositeSink, FanOutSink } from './fanOut';
import { parseDuration } from './config';
import { ConfigError, ShutdownError } from './errors';
import { rootLogger, type Logger } from './logging/logger';
import { numberInOrder, StageMetrics, type StageStats, withStageCollector } from './metrics';
import { startStatsLine } from './admin/statsLine';
import type { TracerProvider } from '@opentelemetry/api';
import { openTracing } from './tracing';

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

export interface RunOptions {
  /** How long the whole drain may take, closing included (ms or `30s`). Default 30 s. */
  shutdownTimeout?: number | string;
  /** Drain on SIGINT and SIGTERM (a second signal stops at once). Default true. */
  handleSignals?: boolean;
  /** The dead-letter sink the sources and sinks share: closed after the sinks, so their last failures reach it. */
  deadLetter?: Sink;
  /** Logs a stats line at info this often while the pipeline runs (ms or `10s`); 0 = never. Default 0 (the bin: 10 s). */
  statsInterval?: number | string;
  logger?: Logger;
  /**
   * Traces every message with this OpenTelemetry tracer provider (see docs/tracing.md); `null` traces nothing. Default:
   * what the OTEL_* variables ask for (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, ...), else nothing.
   */
  tracerProvider?: TracerProvider | null;
}

/** Counters of a pipeline since it started. Totals first, then every stage. */
export interface PipelineStats extends SourceStats {
  /** Messages received by the sources and not yet settled. */
  inFlight: number;
  /** Writes the sinks' services confirmed (each sink of a fan-out counts its own). */
  written: number;
  /** Messages the operators filtered out (acked). */
  dropped: number;
  /** Messages route() matched to no sink (acked, or dead-lettered when asked). */
  unrouted: number;
  /** Every stage in pipeline order: the sources, the operators, the sinks, the dead letter. */
  stages: StageStats[];
}

/** Empty stats, to add to. */
export function emptyStats(): PipelineStats {
  return {
    received: 0,
    acked: 0,
    nacked: 0,
    deadLettered: 0,
    timedOut: 0,
    givenUp: 0,
    inFlight: 0,
    maxInFlight: 0,
    written: 0,
    dropped: 0,
    unrouted: 0,
    stages: [],
  };
}

/** Where a pipeline is in its life, for /ready and the stats line. */
export type PipelineState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

/** What a running pipeline tells about one of its sources. */
export interface SourceView {
  /** The source's URI, secrets masked. */
  readonly name: string;
  readonly scheme: string;
  /** Source messages received and not yet settled. */
  readonly inFlight: number;
  /** Its credit window. */
  readonly maxInFlight: number;
  /** Connected (listening, subscribed). */
  readonly ready: boolean;
}

/** A pipeline that run()/start() subscribed. */
export interface RunningPipeline {
  /** Resolves once every source subscribed at start started (listening, subscribed); rejects on a start-up failure. */
  readonly started: Promise<void>;
  /**
   * Resolves when the pipeline ended and everything was closed. Rejects when it failed, when the drain ran past
   * shutdownTimeout (what was still being written was nacked and may have been written too), or when a second signal
   * stopped it at once: in-flight messages were nacked in each case, so a broker delivers them again.
   */
  readonly done: Promise<void>;
  /** Starts the graceful drain; resolves like `done`. */
  stop(): Promise<void>;
  /** Counters since start: totals over the sources and sinks, and per stage (`stages`). */
  stats(): PipelineStats;
  /** starting -> running -> draining (after stop() or a signal) -> stopped, or failed. */
  readonly state: PipelineState;
  /** Every source subscribed so far, including those subscribed late (through mergeMap, defer, ...). */
  readonly sources: readonly SourceView[];
}

/** @internal what the admin server, the stats line and the bin see of a pipeline: its runtimes and sinks. */
export interface PipelineParts {
  readonly sources: readonly SourceRuntime[];
  readonly sink: Sink;
  readonly deadLetter?: Sink;
}

const parts = new WeakMap<RunningPipeline, PipelineParts>();

/** @internal the runtimes and sinks behind a pipeline that start() returned. */
export function pipelineParts(running: RunningPipeline): PipelineParts {
  const found = parts.get(running);
  if (found === undefined) throw new Error('not a pipeline that start() returned');
  return found;
}

/** The SinkRuntimes behind a sink (the sinks of a fan-out, a route or a fallback, in order). */
export function sinkRuntimes(sink: Sink): SinkRuntime[] {
  if (sink instanceof SinkRuntime) return [sink];
  if (sink instanceof CompositeSink) return sink.sinks.flatMap(sinkRuntimes);
  const inner = (sink as { readonly runtimes?: () => SinkRuntime[] }).runtimes;
  return typeof inner === 'function' ? inner.call(sink) : [];
}

/**
 * The counters of a sink tree, outermost first: those of route and fallback, and those of each sink (a sink opened per
 * message from a URI template counts as one, named by its template).
 */
function sinkStages(sink: Sink): StageMetrics[] {
  if (sink instanceof SinkRuntime) return [sink.metrics];
  if (sink instanceof CompositeSink) return [...(sink.metrics ? [sink.metrics] : []), ...sink.sinks.flatMap(sinkStages)];
  const own = (sink as { readonly metrics?: unknown }).metrics;
  return own instanceof StageMetrics ? [own] : [];
}

/** Resolves after `ms`, or at once for ms <= 0; the timer does not keep the process alive. */
function sleep(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    if (ms <= 0) resolve();
    else {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Resolves true when `work` settles before `deadline` (a Date.now() value), false when the deadline comes first. */
async function within(work: Promise<unknown>, deadline: number): Promise<boolean> {
  const timeout = sleep(deadline - Date.now());
  const finished = await Promise.race([
    work.then(
      () => true,
      () => true,
    ),
    timeout.promise.then(() => false),
  ]);
  timeout.cancel();
  return finished;
}

/** How much of the shutdown timeout is kept for closing sinks and sources. */
function closeBudget(shutdownTimeout: number): number {
  return Math.min(5000, Math.max(Math.min(200, Math.floor(shutdownTimeout / 2)), Math.floor(shutdownTimeout / 10)));
}

/** Subscribes `pipeline` to `sinks` (several = fan-out) and returns a handle; see run(). */
export function start(pipeline: Observable<Message>, sinks: Sink | readonly Sink[], options: RunOptions = {}): RunningPipeline {
  const logger = options.logger ?? rootLogger();
  const shutdownTimeout = parseDuration(options.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT_MS, 'shutdownTimeout');
  const statsInterval = parseDuration(options.statsInterval ?? 0, 'statsInterval');
  const sinkList: readonly Sink[] = Array.isArray(sinks) ? sinks : [sinks as Sink];
  if (sinkList.length === 0) {
    // with nowhere to write, every message would be acked unwritten
    throw new ConfigError('a pipeline needs at least one sink, for example start(source(uri), sink("stdout://"))', { variable: 'sinks' });
  }
  const sink: Sink = sinkList.length === 1 ? sinkList[0] : new FanOutSink(sinkList);
  const tracing = openTracing(options.tracerProvider);
  const sources: SourceRuntime[] = [];
  let resolveDone!: () => void;
  let rejectDone!: (error: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => undefined); // reported to whoever awaits it
  let finishing = false;
  let ended = false;
  let stopping: Promise<void> | undefined;
  /** When the drain must be over (Date.now()), once stop() began. */
  let deadline = Number.POSITIVE_INFINITY;
  /** Why the stop was not clean (drain past the timeout, forced by a second signal); rejects `done`. */
  let unclean: Error | undefined;
  let subscription: Subscription | undefined;
  let subscribedAll = false;
  let state: PipelineState = 'starting';
  let stopStatsLine: (() => void) | undefined;
  const stages: StageMetrics[] = [];

  const allSinkRuntimes = (): SinkRuntime[] => [...sinkRuntimes(sink), ...(options.deadLetter ? sinkRuntimes(options.deadLetter) : [])];

  const registry: SourceRegistry = {
    register(source) {
      sources.push(source);
      if (tracing !== undefined) source.tracing = tracing.source;
      if (subscribedAll && !stages.includes(source.stats)) {
        // a source subscribed late (mergeMap, defer, a timer): its stage goes after the other sources
        let last = -1;
        for (let i = 0; i < stages.length; i++) if (stages[i].role === 'source') last = i;
        stages.splice(last + 1, 0, source.stats);
      }
      // once the drain began, a new source does not start: it completes at once
      return stopping === undefined;
    },
  };

  /** Stops at once: nacks every in-flight message, stops the sinks writing, and rejects `done` without waiting. */
  const force = (reason: string): void => {
    unclean ??= new ShutdownError(`${reason}: in-flight messages were nacked without waiting for the drain`);
    for (const runtime of allSinkRuntimes()) void runtime.stopWriting(unclean);
    for (const source of sources) source.nackAll(unclean);
    if (!ended) {
      ended = true;
      state = 'failed';
      rejectDone(unclean);
    }
    void finish();
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping === undefined) {
      logger.info({ signal }, `received ${signal}: draining (send it again to stop at once)`);
      stop().catch(() => undefined); // the outcome is `done`'s, for whoever awaits it
    } else {
      logger.warn({ signal }, `received ${signal} again: nacking in-flight messages and stopping now`);
      force(`stopped by a second ${signal}`);
    }
  };
  const handleSignals = options.handleSignals ?? true;
  if (handleSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  /** Closes `what` before the close deadline; past it, records the overrun and goes on. */
  const closeWithin = async (what: string, close: () => Promise<void>, closeDeadline: number): Promise<void> => {
    const closing = close().catch((error) => logger.error({ err: error }, `closing ${what} failed`));
    if (!(await within(closing, closeDeadline))) {
      logger.warn({ what }, `${what} did not close within SHUTDOWN_TIMEOUT; stopping without waiting for it`);
      unclean ??= new ShutdownError(`${what} did not close within the shutdown timeout (${shutdownTimeout} ms)`);
    }
  };

  const finish = async (error?: unknown): Promise<void> => {
    if (finishing) return;
    finishing = true;
    if (state !== 'failed') state = 'draining';
    // closing is part of the drain: bounded by the stop's deadline, or by shutdownTimeout when the input ended
    const closeDeadline = Number.isFinite(deadline) ? Math.max(deadline, Date.now() + 50) : Date.now() + shutdownTimeout;
    await closeWithin(`sink ${sink.name}`, () => sink.close(), closeDeadline);
    if (options.deadLetter !== undefined) {
      const deadLetter = options.deadLetter;
      await closeWithin(`dead letter ${deadLetter.name}`, () => deadLetter.close(), closeDeadline);
    }
    subscription?.unsubscribe();
    await closeWithin('the sources', () => Promise.all(sources.map((source) => source.close())).then(() => undefined), closeDeadline);
    // the spans of the last messages are exported before `done` resolves; a collector out of reach costs spans, not the stop
    if (tracing !== undefined && !(await within(tracing.close(), closeDeadline)))
      logger.warn('the last spans were not exported within SHUTDOWN_TIMEOUT');
    if (handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    stopStatsLine?.();
    if (ended) return;
    ended = true;
    if (error === undefined && unclean === undefined) {
      state = 'stopped';
      resolveDone();
    } else {
      state = 'failed';
      rejectDone(error ?? unclean);
    }
  };

  const collector = {
    register(stage: StageMetrics): void {
      if (!subscribedAll) {
        stages.push(stage);
        return;
      }
      // an operator that opened its stage late (a wasm stage once its module loaded): before the sinks
      const firstSink = stages.findIndex((known) => known.role === 'sink' || known.role === 'dead_letter');
      stages.splice(firstSink < 0 ? stages.length : firstSink, 0, stage);
    },
  };
  subscription = withStageCollector(collector, () =>
    withSourceRegistry(registry, () =>
      pipeline.subscribe({
        next: (message: Message) => sink.next(message),
        error: (error: unknown) => {
          logger.error({ err: error }, 'the pipeline failed');
          state = 'failed';
          void finish(error);
        },
        complete: () => void finish(),
        // how a source subscribed later (inside mergeMap, defer, ...) finds this pipeline: see registryOf()
        [PIPELINE_REGISTRY]: registry,
      } as Partial<Observer<Message>>),
    ),
  );
  subscribedAll = true;
  if (finishing) subscription.unsubscribe();
  // operators subscribe from the last to the first: list the stages in pipeline order
  const subscribed = stages.splice(0);
  stages.push(...subscribed.filter((stage) => stage.role === 'source'), ...subscribed.filter((stage) => stage.role !== 'source').reverse());
  numberInOrder(stages);
  stages.push(...sinkStages(sink));
  for (const stage of options.deadLetter ? sinkStages(options.deadLetter) : []) {
    // the same runtime machinery, but its counters are the dead letter's
    if (stage.role === 'sink') stage.role = 'dead_letter';
    stages.push(stage);
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

  /** Resolves true once no source has a message in flight, false at `until`. */
  const allIdle = (until: number): Promise<boolean> =>
    within(Promise.all(sources.map((source) => source.whenIdle())), until).then(() =>
      sources.every((source) => source.inFlightCount === 0),
    );

  const drain = async (): Promise<void> => {
    const began = Date.now();
    deadline = began + shutdownTimeout;
    const nackAt = deadline - closeBudget(shutdownTimeout);
    const gateAt = began + Math.floor((nackAt - began) * 0.8);
    await within(Promise.all(sources.map((source) => source.stopIntake())), gateAt);
    const inFlight = sources.reduce((sum, source) => sum + source.inFlightCount, 0);
    if (inFlight > 0) logger.info({ inFlight, timeoutMs: shutdownTimeout }, 'draining: waiting for in-flight messages to settle');
    if (!(await allIdle(gateAt))) {
      // most of the time is gone: write nothing more, so that what is nacked now is not also written
      const gate = new ShutdownError('shutdown: not written before the shutdown timeout, nacked so that the source delivers it again');
      const runtimes = allSinkRuntimes();
      const queued = runtimes.reduce((sum, runtime) => sum + runtime.queuedCount, 0);
      logger.warn({ queued }, `shutdown timeout nearly reached: the sinks stop writing; ${queued} queued message(s) are nacked unwritten`);
      await within(Promise.all(runtimes.map((runtime) => runtime.stopWriting(gate))), nackAt);
      if (!(await allIdle(nackAt))) {
        const left = sources.reduce((sum, source) => sum + source.inFlightCount, 0);
        const writing = runtimes.reduce((sum, runtime) => sum + runtime.writingCount, 0);
        logger.warn(
          { inFlight: left, writing },
          `shutdown timeout reached: nacking ${left} message(s) still in flight so that the source redelivers them` +
            (writing > 0 ? `; ${writing} of them were being written, and may have reached their sink too` : ''),
        );
        // a message nacked in the middle of its write may also have been written: the stop was not clean
        if (writing > 0)
          unclean ??= new ShutdownError(
            `${writing} message(s) were still being written when the shutdown timeout (${shutdownTimeout} ms) ran out`,
          );
        for (const source of sources) source.nackAll(new ShutdownError('shutdown before the message was settled'));
      }
    }
    for (const source of sources) source.endDrain();
    // a pipeline that does not complete when its sources do (an interval feeding mergeMap) is ended here
    await new Promise((resolve) => setImmediate(resolve));
    if (!finishing) {
      subscription?.unsubscribe();
      await finish();
    }
  };

  function stop(): Promise<void> {
    if (stopping === undefined) {
      if (state === 'starting' || state === 'running') state = 'draining';
      stopping = drain();
    }
    return stopping.then(() => done);
  }

  const running: RunningPipeline = {
    started,
    done,
    stop,
    sources,
    get state(): PipelineState {
      return state;
    },
    stats(): PipelineStats {
      const total = emptyStats();
      total.stages = stages.map((stage) => stage.snapshot());
      for (const source of sources) {
        const stats = source.stats;
        total.received += stats.received;
        total.acked += stats.acked;
        total.nacked += stats.nacked;
        total.timedOut += stats.timedOut;
        total.givenUp += stats.givenUp;
        total.inFlight += source.inFlightCount;
        if (!source.closed) total.maxInFlight += source.maxInFlight;
      }
      for (const stage of stages) {
        // every stage that sent a message to the dead letter counts it once: sources, operators and sinks
        if (stage.role !== 'dead_letter') total.deadLettered += stage.deadLettered;
        if (stage.role === 'sink') total.written += stage.acked;
        else if (stage.role === 'operator') {
          total.dropped += stage.dropped;
          total.unrouted += stage.unrouted;
        }
      }
      return total;
    },
  };
  parts.set(running, { sources, sink, deadLetter: options.deadLetter });
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
