// WORKERS=N: every core. The bin's process becomes a primary that runs N workers with node:cluster, each running the
// whole pipeline: the HTTP source's workers share its port (the primary hands out connections), broker sources share
// the broker's group (queue group, durable consumer, consumer group, competing consumers), so the broker splits the
// work and no coordinator of ours is needed. The primary serves the one admin endpoint (readiness of every worker,
// metrics summed), logs the stats line and the exit summary for the group, forwards SIGTERM and restarts a worker that
// dies. A worker is the single-process bin (runPipeline) with its admin server and stats line off.
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { ConfigError } from '../lib/errors';
import { parseBoolean } from '../lib/config';
import { rootLogger, type Logger } from '../lib/logging/logger';
import { emptyStats, pipelineParts, type PipelineStats, type RunningPipeline } from '../lib/run';
import { metricsRegistry } from '../lib/metrics';
import { pipelineReadiness, type AdminServer, type ReadinessReport } from '../lib/admin/server';
import { startStatsLine } from '../lib/admin/statsLine';
import {
  aggregateMetricsText,
  countersOf,
  countsOfStats,
  foldSnapshots,
  groupReadiness,
  sumStats,
  type MetricsSnapshot,
  type WorkerReadiness,
} from '../lib/admin/cluster';
import { exponentialBackoff, equalJitter } from '../lib/backoff';
import { defaultClientId } from '../lib/connectors/mqtt/config';
import { ENV_VARIABLES } from './env';
import { USAGE_EXIT_CODE } from './dispatch';
import {
  checkLenientValues,
  loadDotEnv,
  loggerAndPipelineFromEnv,
  reportConfigError,
  runPipeline,
  splitUris,
  startAdmin,
  summaryText,
  type BinPipeline,
} from './cli';

/** Set in a worker's environment by its primary: the worker's number, 1..N. */
export const WORKER_ENV = 'WASM_PIPES_WORKER';

/** What WORKERS asked for. */
export interface WorkersSetting {
  count: number;
  /** WORKERS=auto: one per core, and 1 where the source cannot be shared. */
  auto: boolean;
}

/** Past this many workers per core, a typo is likelier than a plan (the cores are shared, not multiplied). */
const MAX_WORKERS_PER_CORE = 16;

/** Reads WORKERS: a whole number from 1, or `auto` for one per core (`cores`). */
export function parseWorkers(text: string | undefined, cores: number = os.availableParallelism()): WorkersSetting {
  const value = (text ?? '1').trim().toLowerCase();
  if (value === 'auto') return { count: Math.max(1, cores), auto: true };
  const max = Math.max(1, cores) * MAX_WORKERS_PER_CORE;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new ConfigError(
      `'${text}' is not a number of workers; use a whole number from 1 to ${max} (this machine has ${cores} cores), or auto for one per core`,
      {
        variable: 'WORKERS',
      },
    );
  }
  return { count: Number(value), auto: false };
}

/** Inputs that only one process can read: the file, this process's stdin, this process's memory. */
const IN_PROCESS_SCHEMES = new Set(['mem', 'stdin', 'file']);

function schemeOf(uri: string): string {
  const at = uri.indexOf('://');
  return at < 0 ? '' : uri.slice(0, at).trim().toLowerCase();
}

/** The part after `scheme://` and before `?`, and the query (first value of each parameter). */
function partsOf(uri: string): { head: string; params: URLSearchParams } {
  const rest = uri.slice(uri.indexOf('://') + 3);
  const queryAt = rest.indexOf('?');
  return { head: queryAt < 0 ? rest : rest.slice(0, queryAt), params: new URLSearchParams(queryAt < 0 ? '' : rest.slice(queryAt + 1)) };
}

function isCoreNats(params: URLSearchParams): boolean {
  const jetstream = params.get('jetstream');
  return !params.has('stream') && !params.has('consumer') && !(jetstream !== null && /^(true|1|yes|on)$/i.test(jetstream.trim()));
}

function mqttFilter(uri: string): { topic: string; share?: string } {
  const { head, params } = partsOf(uri);
  let topic = head.replace(/^\/\//, '');
  try {
    topic = decodeURIComponent(topic);
  } catch {
    // the connector reports a badly encoded topic
  }
  const share = params.get('share')?.trim();
  if (share) return { topic: `$share/${share}/${topic}`, share };
  const shared = /^\$share\/([^/]+)\//.exec(topic);
  return shared === null ? { topic } : { topic, share: shared[1] };
}

/**
 * Why `uri` cannot be read by several workers, with the fix; undefined when it can. Unknown schemes (connectors from
 * outside this package) are trusted to share like the brokers.
 */
function sharingProblem(uri: string, count: number): string | undefined {
  const scheme = schemeOf(uri);
  if (IN_PROCESS_SCHEMES.has(scheme)) {
    return `${scheme}:// is an input of one process (${uri}); ${count} workers cannot share it. Set WORKERS=1, or read from a broker or the HTTP source`;
  }
  const { head, params } = partsOf(uri);
  if (scheme === 'nats' && isCoreNats(params) && !params.get('queue')) {
    return (
      `${uri} is a core NATS subscription without a queue group: each of the ${count} workers would receive every message. ` +
      `Add a queue group so that they share them, for example nats://${head}?queue=relay`
    );
  }
  if ((scheme === 'mqtt' || scheme === 'mqtts') && mqttFilter(uri).share === undefined) {
    return (
      `${uri} is an MQTT subscription that is not shared: each of the ${count} workers would receive every message. ` +
      `Add a shared subscription group, for example ${scheme}://${head}?share=relay`
    );
  }
  return undefined;
}

/**
 * Decides how many workers to run for `sourceUris`: the setting, or 1 for WORKERS=auto when a source is read by one
 * process only. Throws a ConfigError (exit 2) when N > 1 was asked for a source the workers cannot share, or a
 * setting that would multiply by N what the user meant for the whole process.
 */
export function planWorkers(
  setting: WorkersSetting,
  sourceUris: readonly string[],
  env: NodeJS.ProcessEnv,
): { count: number; note?: string } {
  if (setting.count <= 1) return { count: 1 };
  const inProcess = sourceUris.find((uri) => IN_PROCESS_SCHEMES.has(schemeOf(uri)));
  if (setting.auto && inProcess !== undefined) {
    return { count: 1, note: `WORKERS=auto runs one process: ${schemeOf(inProcess)}:// is read by one process only` };
  }
  for (const uri of sourceUris) {
    const problem = sharingProblem(uri, setting.count);
    if (problem !== undefined) throw new ConfigError(problem, { variable: 'WORKERS' });
  }
  const shared = parseBoolean((env.RATE_LIMIT_SHARED ?? 'false').trim() || 'false', 'RATE_LIMIT_SHARED');
  if (env.RATE_LIMIT !== undefined && env.RATE_LIMIT.trim() !== '' && !shared) {
    throw new ConfigError(
      `RATE_LIMIT=${env.RATE_LIMIT.trim()} would hold for each of the ${setting.count} workers, ${setting.count} times the rate in all; ` +
        'share one rate with RATE_LIMIT_SHARED=true and CACHE_URI=redis://host:6379/0, or set WORKERS=1',
      { variable: 'WORKERS' },
    );
  }
  return { count: setting.count };
}

/** Sets `name=value` in a URI's query, keeping the rest of the text as written. */
function withParam(uri: string, name: string, value: string): string {
  const queryAt = uri.indexOf('?', uri.indexOf('://') + 3);
  const base = queryAt < 0 ? uri : uri.slice(0, queryAt);
  const params = new URLSearchParams(queryAt < 0 ? '' : uri.slice(queryAt + 1));
  params.set(name, value);
  return `${base}?${params.toString()}`;
}

/**
 * The source URI of worker `index`. Where a source names its member of the group (an MQTT session's client id, a Redis
 * consumer given with ?consumer=), workers 2..N get `-w<index>` appended, so that no two workers are the same member
 * and each keeps its name across restarts; worker 1 keeps the name a single process would use.
 */
export function sourceUriForWorker(uri: string, index: number): string {
  if (index <= 1) return uri;
  const scheme = schemeOf(uri);
  const { params } = partsOf(uri);
  if (scheme === 'mqtt' || scheme === 'mqtts') {
    const clientId = params.get('client_id')?.trim() || defaultClientId(mqttFilter(uri).topic);
    return withParam(uri, 'client_id', `${clientId}-w${index}`);
  }
  if (scheme === 'redis-stream' && params.get('consumer')?.trim()) {
    return withParam(uri, 'consumer', `${params.get('consumer')?.trim()}-w${index}`);
  }
  return uri;
}

function defaultOf(name: string): string | undefined {
  return ENV_VARIABLES.find((variable) => variable.name === name)?.default;
}

function sourceUrisOf(env: NodeJS.ProcessEnv): string[] {
  return splitUris(env.SOURCE_URI?.trim() || (defaultOf('SOURCE_URI') as string));
}

// ---- messages between the primary and its workers (the cluster's IPC channel, JSON) ----

/** What a worker tells about itself when asked. */
export interface WorkerStatus {
  stats: PipelineStats;
  readiness: ReadinessReport;
  oldest?: { ageMs?: number; lastSeenAfter: string };
  /** Its metrics, when asked for them. */
  metrics?: MetricsSnapshot;
}

type ToWorker = { wasmPipes: 'status'; id: number; metrics: boolean } | { wasmPipes: 'stop' };
type FromWorker =
  | { wasmPipes: 'started' }
  | { wasmPipes: 'status'; id: number; status: WorkerStatus }
  | { wasmPipes: 'final'; code: number; stats: PipelineStats; metrics: MetricsSnapshot };

function isMessage<T extends { wasmPipes: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as { wasmPipes?: unknown }).wasmPipes === 'string';
}

/** Runs the bin as WORKERS says: a primary, one of its workers, or (WORKERS=1) the single process. */
export async function runFromEnv(): Promise<number> {
  const index = Number(process.env[WORKER_ENV]);
  if (cluster.isWorker && Number.isInteger(index) && index >= 1) return runWorker(index);
  let plan: { count: number; note?: string };
  try {
    loadDotEnv();
    checkLenientValues(process.env);
    plan = planWorkers(parseWorkers(process.env.WORKERS), sourceUrisOf(process.env), process.env);
  } catch (error) {
    if (reportConfigError(error)) return USAGE_EXIT_CODE;
    throw error;
  }
  if (plan.count <= 1) {
    const code = runPipeline();
    if (plan.note !== undefined) rootLogger().info(plan.note);
    return code;
  }
  return runPrimary(plan.count);
}

// ---- the worker ----

function sendToPrimary(message: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) {
      resolve();
      return;
    }
    process.send(message, undefined, {}, () => resolve());
  });
}

async function runWorker(index: number): Promise<number> {
  let running: RunningPipeline | undefined;
  let built: BinPipeline | undefined;
  let stopAsked = false;
  const stop = (): void => {
    stopAsked = true;
    running?.stop().catch(() => undefined); // the outcome is reported by runPipeline
  };
  const status = (withMetrics: boolean): Promise<WorkerStatus> => statusOf(running, built, withMetrics);
  const onMessage = (message: unknown): void => {
    if (!isMessage<ToWorker>(message)) return;
    if (message.wasmPipes === 'stop') stop();
    else if (message.wasmPipes === 'status') {
      status(message.metrics).then(
        (answer) => sendToPrimary({ wasmPipes: 'status', id: message.id, status: answer }),
        (error: unknown) => rootLogger().warn({ err: error }, 'could not tell the primary how this worker is'),
      );
    }
  };
  process.on('message', onMessage);
  // the primary is gone (killed): nobody serves the admin endpoints or restarts workers any more, so stop cleanly
  process.on('disconnect', stop);
  try {
    return await runPipeline({
      bindings: { worker: index },
      attached(pipeline, pipelineBuilt) {
        running = pipeline;
        built = pipelineBuilt;
        if (stopAsked) stop();
      },
      started: () => void sendToPrimary({ wasmPipes: 'started' }),
      async exiting(pipeline, code) {
        await sendToPrimary({ wasmPipes: 'final', code, stats: pipeline.stats(), metrics: await metricsRegistry().getMetricsAsJSON() });
      },
    });
  } finally {
    process.off('message', onMessage);
    process.off('disconnect', stop);
  }
}

async function statusOf(running: RunningPipeline | undefined, built: BinPipeline | undefined, withMetrics: boolean): Promise<WorkerStatus> {
  const metrics = withMetrics ? ((await metricsRegistry().getMetricsAsJSON()) as MetricsSnapshot) : undefined;
  if (running === undefined) {
    return {
      stats: emptyStats(),
      readiness: { ready: false, state: 'starting', notReady: [], checks: [] },
      ...(metrics ? { metrics } : {}),
    };
  }
  let oldest: WorkerStatus['oldest'];
  for (const source of pipelineParts(running).sources) {
    const candidate = source.oldestInFlight();
    if (candidate !== undefined && (oldest === undefined || (candidate.ageMs ?? 0) > (oldest.ageMs ?? 0))) oldest = candidate;
  }
  return {
    stats: running.stats(),
    readiness: pipelineReadiness(running, { cache: built?.cache }),
    ...(oldest ? { oldest } : {}),
    ...(metrics ? { metrics } : {}),
  };
}

// ---- the primary ----

/** How often the primary asks each worker how it is (for the stats line, and the counts a killed worker leaves). */
const POLL_MS = 1000;
/** How long an answer may take before the worker counts as not answering. */
const ANSWER_TIMEOUT_MS = 2000;
/** Beyond SHUTDOWN_TIMEOUT, what the workers get to exit and send their last counts before they are killed. */
export const SHUTDOWN_MARGIN_MS = 5000;
/** The first restart of a dead worker waits this long, doubling per quick death up to RESTART_MAX_MS. */
const RESTART_BASE_MS = 1000;
const RESTART_MAX_MS = 30_000;
/** A worker that ran this long before dying restarts after RESTART_BASE_MS again. */
const HEALTHY_RUN_MS = 30_000;

interface Slot {
  index: number;
  worker?: Worker;
  pid?: number;
  /** This incarnation sent 'started'. */
  started: boolean;
  forkedAt: number;
  /** Quick deaths in a row, for the backoff. */
  deaths: number;
  restartTimer?: NodeJS.Timeout;
  restartAt?: number;
  /** The last status of this incarnation. */
  last?: WorkerStatus;
  /** Its last word before exiting. */
  final?: { code: number; stats: PipelineStats; metrics: MetricsSnapshot };
  /** No worker will run in this slot again (the group is stopping, or its pipeline ended). */
  done: boolean;
  /** The exit code of its last incarnation. */
  exitCode?: number;
}

type Phase = 'starting' | 'running' | 'draining' | 'stopped';

async function runPrimary(count: number): Promise<number> {
  let logger: Logger;
  let built: BinPipeline;
  try {
    // built here only to check the whole configuration (and the modules) once, before any worker starts: a mistake is
    // one exit 2, not N workers failing. Nothing is connected or subscribed.
    ({ logger, built } = await loggerAndPipelineFromEnv());
  } catch (error) {
    if (reportConfigError(error)) return USAGE_EXIT_CODE;
    throw error;
  }
  // the primary's lines have no `worker` field; those about one worker name it
  const primary = logger;
  await built.cache.close().catch(() => undefined);
  const sourceUris = sourceUrisOf(process.env);
  primary.info({ pipeline: built.summary, workers: count }, `pipeline: ${built.description}, in ${count} workers`);
  if (/^memory:/.test(built.cache.name)) {
    // not an error: a module may use the cache as a per-process memo
    primary.info(`each worker has its own ${built.cache.name} cache; set CACHE_URI to redis:// or nats-kv:// for one the workers share`);
  }

  const slots: Slot[] = Array.from({ length: count }, (_, i) => ({ index: i + 1, started: false, forkedAt: 0, deaths: 0, done: false }));
  let phase: Phase = 'starting';
  let retiredStats: PipelineStats[] = [];
  let retiredMetrics: MetricsSnapshot = [];
  /** Folding the counters of a dead worker in is asynchronous: scrapes wait for it, so that no count is missing. */
  let retiring: Promise<void> = Promise.resolve();
  let restarts = 0;
  let startupFailure: number | undefined;
  let forced = false;
  let requestId = 0;
  const pending = new Map<number, { resolve: (status: WorkerStatus | undefined) => void; timer: NodeJS.Timeout }>();
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => (resolveFinished = resolve));

  const ask = (slot: Slot, metrics: boolean): Promise<WorkerStatus | undefined> => {
    const worker = slot.worker;
    if (worker === undefined || !worker.isConnected()) return Promise.resolve(undefined);
    const id = ++requestId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(undefined);
      }, ANSWER_TIMEOUT_MS);
      timer.unref();
      pending.set(id, { resolve, timer });
      const unanswered = (): void => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(undefined);
      };
      try {
        // a worker exiting right now closes the channel under the send: EPIPE comes back here, not as an 'error' event
        worker.send({ wasmPipes: 'status', id, metrics } satisfies ToWorker, undefined, {}, (error) => {
          if (error) unanswered();
        });
      } catch {
        unanswered();
      }
    });
  };

  const refresh = async (metrics: boolean): Promise<void> => {
    await Promise.all(
      slots.map(async (slot) => {
        const worker = slot.worker;
        const status = await ask(slot, metrics);
        // an answer of an incarnation that has since died must not be counted as the new one's
        if (status !== undefined && slot.worker === worker) slot.last = status;
      }),
    );
  };

  const liveStats = (): PipelineStats[] => slots.flatMap((slot) => (slot.worker !== undefined && slot.last ? [slot.last.stats] : []));
  const groupStats = (): PipelineStats => sumStats(liveStats(), retiredStats);

  const fork = (slot: Slot): void => {
    slot.restartTimer = undefined;
    slot.restartAt = undefined;
    slot.started = false;
    slot.last = undefined;
    slot.final = undefined;
    slot.forkedAt = Date.now();
    const env: Record<string, string> = {
      [WORKER_ENV]: String(slot.index),
      SOURCE_URI: sourceUris.map((uri) => sourceUriForWorker(uri, slot.index)).join(','),
      // the primary serves the admin endpoints and logs the stats line for the group
      ADMIN_PORT: '0',
      STATS_INTERVAL: '0',
    };
    const worker = cluster.fork(env);
    slot.worker = worker;
    slot.pid = worker.process.pid;
    worker.on('message', (message: unknown) => {
      if (!isMessage<FromWorker>(message)) return;
      if (message.wasmPipes === 'status') {
        const request = pending.get(message.id);
        if (request !== undefined) {
          pending.delete(message.id);
          clearTimeout(request.timer);
          request.resolve(message.status);
        }
      } else if (message.wasmPipes === 'started') {
        slot.started = true;
        if (phase === 'starting') {
          primary.info({ worker: slot.index, workerPid: worker.process.pid }, `worker ${slot.index} started (pid ${worker.process.pid})`);
          if (slots.every((each) => each.started)) {
            phase = 'running';
            primary.info({ workers: count }, 'wasm-pipes started');
          }
        } else {
          primary.info(
            { worker: slot.index, workerPid: worker.process.pid, restarts: slot.deaths },
            `worker ${slot.index} restarted (pid ${worker.process.pid})`,
          );
        }
        // a worker started while the group stops stops at once
        if (phase === 'draining') worker.send({ wasmPipes: 'stop' } satisfies ToWorker);
      } else if (message.wasmPipes === 'final') {
        slot.final = { code: message.code, stats: message.stats, metrics: message.metrics };
      }
    });
    // a failed send to a worker that is exiting (EPIPE) is that worker's exit, reported by 'exit': never a crash here
    worker.on('error', (error: Error) => primary.debug({ err: error, worker: slot.index }, 'the channel to a worker failed'));
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => onExit(slot, worker, code, signal));
  };

  const retire = (slot: Slot): void => {
    // its last word if it had time to say it, else its last answer (a killed worker loses what it counted since)
    const stats = slot.final?.stats ?? slot.last?.stats;
    const metrics = slot.final?.metrics ?? slot.last?.metrics;
    if (stats !== undefined) retiredStats = [sumStats([], [...retiredStats, countsOfStats(stats)])];
    if (metrics !== undefined) {
      retiring = retiring.then(async () => {
        retiredMetrics = await foldSnapshots([retiredMetrics, countersOf(metrics)]);
      });
    }
    slot.last = undefined;
  };

  const finishIfDone = (): void => {
    if (slots.every((slot) => slot.done && slot.worker === undefined)) resolveFinished();
  };

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: NodeJS.Signals | null): void => {
    if (slot.worker !== worker) return;
    retire(slot);
    slot.worker = undefined;
    slot.exitCode = code ?? 1;
    const how = signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
    if (phase === 'starting' && !slot.started) {
      // the single process would have stopped here too: the worker logged why
      if (startupFailure === undefined) {
        startupFailure = code === USAGE_EXIT_CODE ? USAGE_EXIT_CODE : 1;
        primary.error(
          { worker: slot.index, workerPid: worker.process.pid, code, signal },
          `worker ${slot.index} ${how} before it started; stopping the other workers`,
        );
        stopAll();
      }
      slot.done = true;
      finishIfDone();
      return;
    }
    if (phase === 'draining' || phase === 'stopped' || slot.done) {
      slot.done = true;
      finishIfDone();
      return;
    }
    if (code === 0 && signal === null && slot.final !== undefined) {
      // its pipeline ended by itself (the input ended): nothing to restart
      primary.info({ worker: slot.index, workerPid: worker.process.pid }, `worker ${slot.index} finished`);
      slot.done = true;
      finishIfDone();
      return;
    }
    const ranFor = Date.now() - slot.forkedAt;
    slot.deaths = ranFor >= HEALTHY_RUN_MS ? 1 : slot.deaths + 1;
    const delay = Math.round(equalJitter(exponentialBackoff(RESTART_BASE_MS, slot.deaths, RESTART_MAX_MS)));
    restarts++;
    primary.warn(
      { worker: slot.index, workerPid: worker.process.pid, code, signal, restartInMs: delay, deaths: slot.deaths },
      `worker ${slot.index} (pid ${worker.process.pid}) ${how}; restarting it in ${delay} ms. What it held unsettled is redelivered as its source allows`,
    );
    slot.restartAt = Date.now() + delay;
    slot.restartTimer = setTimeout(() => fork(slot), delay);
  };

  const stopAll = (): void => {
    for (const slot of slots) {
      if (slot.restartTimer !== undefined) {
        clearTimeout(slot.restartTimer);
        slot.restartTimer = undefined;
      }
      if (slot.worker === undefined) {
        // waiting to be restarted: its death was logged then; not restarting it now is no failure of the stop
        if (slot.restartAt !== undefined) slot.exitCode = undefined;
        slot.done = true;
        continue;
      }
      try {
        slot.worker.send({ wasmPipes: 'stop' } satisfies ToWorker);
      } catch {
        // the channel is closing: the worker drains on 'disconnect'
      }
    }
    if (phase !== 'stopped') phase = 'draining';
    // bounded: SHUTDOWN_TIMEOUT is each worker's own drain, the margin lets it exit and report
    const deadline = setTimeout(() => {
      const left = slots.filter((slot) => slot.worker !== undefined);
      if (left.length === 0) return;
      forced = true;
      primary.error(
        { workers: left.map((slot) => slot.index), timeoutMs: built.shutdownTimeout + SHUTDOWN_MARGIN_MS },
        `${left.length} worker(s) did not stop within SHUTDOWN_TIMEOUT plus ${SHUTDOWN_MARGIN_MS} ms; killing them (their unsettled messages are redelivered as their source allows)`,
      );
      for (const slot of left) slot.worker?.process.kill('SIGKILL');
    }, built.shutdownTimeout + SHUTDOWN_MARGIN_MS);
    deadline.unref();
    finishIfDone();
  };

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      primary.info({ signal, workers: count }, `received ${signal}: draining ${count} workers (send it again to stop at once)`);
      stopAll();
    } else {
      // the workers' own second signal: they nack what they hold and stop now
      primary.warn({ signal }, `received ${signal} again: the workers nack their in-flight messages and stop now`);
      for (const slot of slots) if (slot.worker?.process.pid !== undefined) slot.worker.process.kill('SIGTERM');
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  let admin: AdminServer | undefined;
  const readiness = async (): Promise<ReadinessReport> => {
    const answers = await Promise.all(slots.map((slot) => ask(slot, false)));
    const workers: WorkerReadiness[] = slots.map((slot, i) => {
      const answer = answers[i];
      if (answer !== undefined) return { worker: slot.index, pid: slot.pid, report: answer.readiness };
      const reason =
        slot.restartAt !== undefined
          ? `restarting in ${Math.max(0, slot.restartAt - Date.now())} ms`
          : slot.worker === undefined
            ? 'stopped'
            : slot.started
              ? 'not answering'
              : 'starting';
      return { worker: slot.index, pid: slot.pid, reason };
    });
    const state = phase === 'stopped' ? 'stopped' : phase;
    return groupReadiness(state, workers);
  };
  const metrics = async (): Promise<string> => {
    await refresh(true);
    await retiring;
    const live = slots.flatMap((slot) => (slot.worker !== undefined && slot.last?.metrics ? [slot.last.metrics] : []));
    return aggregateMetricsText([...live, ...(retiredMetrics.length > 0 ? [retiredMetrics] : [])]);
  };

  try {
    if (built.admin !== undefined) admin = await startAdmin(built.admin, readiness, primary, metrics);
  } catch (error) {
    primary.fatal({ err: error }, `could not start: ${(error as Error).message}`);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    return reportConfigError(error) ? USAGE_EXIT_CODE : 1;
  }

  for (const slot of slots) fork(slot);
  const poller = setInterval(() => {
    if (phase === 'running' || phase === 'draining') void refresh(admin !== undefined);
  }, POLL_MS);
  poller.unref();
  let stopStats: (() => void) | undefined;
  if (built.statsInterval > 0) {
    stopStats = startStatsLine(
      {
        stats: groupStats,
        oldestInFlight: () => {
          let oldest: WorkerStatus['oldest'];
          for (const slot of slots) {
            const candidate = slot.worker !== undefined ? slot.last?.oldest : undefined;
            if (candidate !== undefined && (oldest === undefined || (candidate.ageMs ?? 0) > (oldest.ageMs ?? 0))) oldest = candidate;
          }
          return oldest;
        },
      },
      built.statsInterval,
      primary,
    );
  }

  await finished;
  phase = 'stopped';
  clearInterval(poller);
  stopStats?.();
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  await retiring;
  await admin?.close();
  if (startupFailure !== undefined) return startupFailure;

  const total = sumStats([], retiredStats);
  const text = summaryText(total, total.givenUp);
  const failed = slots.filter((slot) => slot.exitCode !== undefined && slot.exitCode !== 0);
  const fields = { stats: total, workers: count, restarts };
  if (forced || failed.length > 0) {
    primary.error(
      { ...fields, failed: failed.map((slot) => ({ worker: slot.index, code: slot.exitCode })) },
      `wasm-pipes stopped: ${text}; ${failed.length} worker(s) did not stop cleanly (see their lines above)`,
    );
    return 1;
  }
  primary.info(fields, `wasm-pipes stopped: ${text}` + (restarts > 0 ? `; ${restarts} worker restart(s)` : ''));
  return 0;
}
